// Fills a buffer with one 32-bit pattern: constants (zeros, ones, full) and the NaN "poison"
// tests put into every new tensor. Bits rather than a float so one kernel serves f32, i32, u32.
// One element per invocation; the host spills large counts into y (see grid()).

struct Params {
  n: u32,
  bits: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> p: Params;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.n) { out[i] = p.bits; }
}
