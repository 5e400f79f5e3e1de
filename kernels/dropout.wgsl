// Dropout: out[i] = x[i] / (1 - p) if element i is kept, else 0.
//
// Whether element i is kept depends only on (seed, i) through an integer hash (PCG's output
// function applied twice), not on a stored mask: the backward recomputes the same decisions from
// the same seed, so nothing of size x has to be kept between forward and backward, and a seed
// reproduces a run exactly on every adapter. One element per invocation.

struct Params {
  n: u32,
  seed: u32,
  threshold: u32,   // keep when hash >= threshold, i.e. with probability 1 - p
  scale: f32,       // 1 / (1 - p)
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const WG: u32 = 256u;

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let h = pcg(pcg(i) ^ p.seed);
  out[i] = select(0.0, x[i] * p.scale, h >= p.threshold);
}
