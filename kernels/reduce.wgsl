// Sum or max over one axis group of a contiguous tensor.
//
// The input is viewed as [outer, r, inner]: `r` is the (product of the) reduced axis, `outer`
// and `inner` the axes before and after it. Each invocation produces one output element and
// walks `chunk` consecutive values of the reduced axis; when r is long and there are few outputs
// the host splits r into chunks (output [outer, ceil(r/chunk), inner]) and reduces again, so the
// work spreads over many invocations and no single float sum runs over a very long row.
// Neighbouring invocations own neighbouring `inner` positions, so with inner > 1 their loads
// are adjacent in memory.
// With ACCUMULATE (sums, last pass only) each output also adds the element of `addend` at its
// index: a gradient summed over a batch lands on the gradient its tensor already has from other
// consumers without a separate add.

struct Params {
  outer: u32,
  r: u32,
  inner: u32,
  chunk: u32,
  chunks: u32,
  scale: f32,   // multiplies a sum (1/r for a mean)
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> addend: array<f32>;

override OP: u32 = 0u;   // 0 = sum, 1 = max
override WG: u32 = 64u;
override ACCUMULATE: bool = false;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * WG;
  if (idx >= p.outer * p.chunks * p.inner) { return; }
  let o = idx / (p.chunks * p.inner);
  let rem = idx % (p.chunks * p.inner);
  let c = rem / p.inner;
  let i = rem % p.inner;
  let start = c * p.chunk;
  let end = min(p.r, start + p.chunk);
  var acc = select(0.0, -3.4028234663852886e38, OP == 1u);
  for (var k = start; k < end; k++) {
    let v = x[(o * p.r + k) * p.inner + i];
    if (OP == 1u) { acc = max(acc, v); } else { acc += v; }
  }
  if (OP == 0u) { acc *= p.scale; }
  if (ACCUMULATE) { acc += addend[idx]; }
  out[idx] = acc;
}
