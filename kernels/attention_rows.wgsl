// The row-wise half of materialized attention (engine/ops/attention.ts): the products q kᵀ,
// P v and their gradients run on the matmul kernels, and these two entry points turn a score
// row into probabilities and a probability gradient row into a score gradient, in place.
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
// few hundred at most, and a software adapter is the target: see engine/policy.ts). Masked keys
// are stored as LOWEST between the passes, so the later passes need no mask and exp gives 0.

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

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = row_index(gid, nwg);
  if (row >= p.rows) { return; }
  let i = row % p.lq;
  let h = (row / p.lq) % p.heads;
  let b = row / (p.lq * p.heads);
  let base = row * p.lk;
  let bias_base = b * p.bias_batch_stride + (h * p.lq + i) * p.lk;
  var visible = p.lk;
  if ((p.flags & CAUSAL) != 0u) { visible = u32(clamp(i32(i) + p.causal_offset + 1, 0, i32(p.lk))); }

  var m = LOWEST;
  for (var j = 0u; j < p.lk; j++) {
    var x = LOWEST;
    let masked = (p.flags & MASK) != 0u && (keep[b * p.lk + j] & 0x7fffffffu) == 0u;
    if (j < visible && !masked) {
      x = p.scale * s[base + j];
      if ((p.flags & BIAS) != 0u) { x += bias[bias_base + j]; }
      m = max(m, x);
    }
    s[base + j] = x;
  }
  if (m == LOWEST) {
    for (var j = 0u; j < p.lk; j++) { s[base + j] = 0.0; }
    return;
  }
  var sum = 0.0;
  for (var j = 0u; j < p.lk; j++) {
    let e = exp(s[base + j] - m);
    s[base + j] = e;
    sum += e;
  }
  let inv = 1.0 / sum;
  for (var j = 0u; j < p.lk; j++) { s[base + j] *= inv; }
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = row_index(gid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.lk;
  var d = 0.0;
  for (var j = 0u; j < p.lk; j++) { d += probs[base + j] * ds[base + j]; }
  for (var j = 0u; j < p.lk; j++) { ds[base + j] = probs[base + j] * (ds[base + j] - d); }
}
