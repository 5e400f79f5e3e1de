// The row-wise half of materialized attention (engine/ops/attention/materialized.ts): the
// products q kᵀ, P v and their gradients run on the matmul kernels, and these two entry points
// turn a score row into probabilities and a probability gradient row into a score gradient, in
// place.
//
//   forward:  s[b,h,i,:] holds q_i · k_j; becomes P_ij = softmax_j(scale · s_ij + bias[h,i,j])
//             over the keys row i may see, 0 for the others (a row that sees none is all 0).
//   backward: ds[b,h,i,:] holds dP_ij = dO_i · v_j; becomes dS_ij = P_ij (dP_ij - D_i) with
//             D_i = sum_j P_ij dP_ij (= dO_i · O_i), the gradient of the pre-softmax scores
//             (and of the bias; the caller applies `scale` for q and k).
//
// Layout: s, p and ds are [B, H, Lq, Lk], contiguous. bias is [Bb, H, Lq, Lk] with batch stride
// bias_batch_stride (0 when every batch shares it). keep [B, Lk] is read as raw words: nonzero
// ignoring the sign bit = attend, so f32, i32 and u32 masks all work. Causal: row i sees keys
// j <= i + causal_offset.
//
// Tiling: one invocation per row, no workgroup memory and no barriers (the rows are short, a
// few hundred at most, and a software adapter is the target: see engine/policy.ts).

struct Params {
  rows: u32,              // B * H * Lq
  heads: u32,
  lq: u32,
  lk: u32,
  scale: f32,
  causal_offset: i32,
  bias_batch_stride: u32,
  flags: u32,             // BIAS | MASK | CAUSAL
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> s: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> keep: array<u32>;
@group(0) @binding(4) var<storage, read> probs: array<f32>;
@group(0) @binding(5) var<storage, read_write> ds: array<f32>;

const WG: u32 = 64u;
const BIAS: u32 = 1u;
const MASK: u32 = 2u;
const CAUSAL: u32 = 4u;
const LOWEST: f32 = -3.4028234663852886e38;

fn row_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

/** The pre-softmax score of key j of the row starting at `base` (its bias row at `bias_base`). */
fn score(base: u32, bias_base: u32, j: u32) -> f32 {
  var x = p.scale * s[base + j];
  if ((p.flags & BIAS) != 0u) { x += bias[bias_base + j]; }
  return x;
}

/** Whether batch b's key padding mask keeps key j. */
fn kept(b: u32, j: u32) -> bool {
  return (p.flags & MASK) == 0u || (keep[b * p.lk + j] & 0x7fffffffu) != 0u;
}

/** Keys row i may see: all of them, or with CAUSAL those up to i + causal_offset. */
fn visible(i: u32) -> u32 {
  if ((p.flags & CAUSAL) == 0u) { return p.lk; }
  return u32(clamp(i32(i) + p.causal_offset + 1, 0, i32(p.lk)));
}

// Two passes over the row: the first finds the maximum and the sum of exponentials together
// (rescaling the sum when the maximum grows, as an online softmax does), the second writes the
// probabilities. Keys past the causal limit are neither read nor computed, only zeroed.
@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = row_index(gid, nwg);
  if (row >= p.rows) { return; }
  let i = row % p.lq;
  let h = (row / p.lq) % p.heads;
  let b = row / (p.lq * p.heads);
  let base = row * p.lk;
  let bias_base = b * p.bias_batch_stride + (h * p.lq + i) * p.lk;
  let n = visible(i);

  var m = LOWEST;
  var sum = 0.0;
  for (var j = 0u; j < n; j++) {
    if (!kept(b, j)) { continue; }
    let x = score(base, bias_base, j);
    if (x > m) {
      sum *= exp(m - x);
      m = x;
    }
    sum += exp(x - m);
  }
  let inv = select(0.0, 1.0 / sum, sum > 0.0);
  for (var j = 0u; j < n; j++) {
    var e = 0.0;
    if (kept(b, j)) { e = exp(score(base, bias_base, j) - m) * inv; }
    s[base + j] = e;
  }
  for (var j = n; j < p.lk; j++) { s[base + j] = 0.0; }
}

// Probabilities past the causal limit are 0, so those keys add nothing to D and get dS = 0
// without reading dP there (which the caller may leave unwritten).
@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = row_index(gid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.lk;
  let n = visible(row % p.lq);
  var d = 0.0;
  for (var j = 0u; j < n; j++) { d += probs[base + j] * ds[base + j]; }
  for (var j = 0u; j < n; j++) { ds[base + j] = probs[base + j] * (ds[base + j] - d); }
  for (var j = n; j < p.lk; j++) { ds[base + j] = 0.0; }
}
