// Fused scaled-dot-product attention, forward and backward (FlashAttention-2 style).
//
//   S[b,h,i,j] = scale * q[b,h,i,:] . k[b,h,j,:] + bias[h,i,j]     (bias optional)
//   P = softmax_j(S) over the keys row i may see, O = P v, LSE[b,h,i] = log sum_j exp(S[b,h,i,j])
//
// Layout: q [B,H,Lq,Dh], k and v [B,H,Lk,Dh], or heads-last q [B,Lq,H,Dh], k and v [B,Lk,H,Dh]
// (what the q/k/v projections produce, so a model needs no permute to split and merge heads);
// contiguous either way, read as vec4 (the op pads Dh to a multiple of 4). The two layouts differ
// only in the head and row strides, which the op passes as uniforms; out, dout and dq follow q's
// layout, dk and dv follow k's. The per-row statistics (lse, aux) are always [B,H,Lq]. bias is [Bb,H,Lq,Lk] with Bb = 1 (shared by every batch: stride 0) or B.
// keep [B,Lk] is read as raw words: a key is attended where its word is nonzero ignoring the sign
// bit, so f32, i32 and u32 masks all work (1 = attend, 0 = padding). Causal: query i sees keys
// j <= i + (Lk - Lq), so a decode step (Lq = 1) sees the whole KV cache. A row that sees no key
// gets O = 0, LSE = LOWEST and zero gradients; masked keys are switched off with selects, never
// given -inf, so no infinity enters the arithmetic.
//
// Tiling. One invocation owns one row (a query, or a key in backward_kv) and keeps the Dh-wide
// vectors it needs in private vec4 arrays: registers on a GPU; on lavapipe, SIMD lanes spilling
// to the stack, still far cheaper there than workgroup memory and barriers. Keys (or queries)
// are taken 4 at a time: each private vec4 loaded serves 4 dot products, and the online softmax
// rescales its accumulator once per 4 keys. A workgroup holds WG consecutive rows of one (batch,
// head), so the other operand's rows, indexed by the loop counter, have the same address in
// every lane: a broadcast load on lavapipe, one cached line on a GPU. Loop bounds are computed
// per workgroup (from its last row's causal limit), so control flow stays uniform and masks
// only switch lanes off near the diagonal; lanes past the last row return at once.
// Nothing is specialized with override constants: the head size, the options (flags) and the
// sizes are uniforms, so the file compiles to one pipeline per entry point. On lavapipe each
// pipeline costs a noticeable LLVM compile on first use, every option combination would cost
// that again, and a constant head size made it unroll the loops over the private arrays, which
// compiled far longer and ran slower (BENCHMARKS.md). The arrays are sized for Dh <= 64.
//
// Entry points (each binds at most 8 storage buffers, WebGPU's guaranteed limit):
//   forward:        rows = queries. Streams over the keys with an online softmax (running max m
//                   and sum l, rescaling the accumulator when m grows); writes O and LSE. The
//                   [Lq,Lk] score matrix is never stored.
//   forward_split,  the decode path, for few query rows (Lq = 1 against a KV cache): one
//   combine:        invocation per row would leave B*H*Lq lanes for all the work, so each
//                   invocation streams one chunk of split_keys keys of one row, writing its
//                   partial (m, l, unnormalized accumulator); combine merges a row's chunks.
//   backward_prep:  D = dO . O per query row, stored with the LSE as aux (lse, D) words, and a
//                   0/1 copy of the key mask after them (so the next two kernels stay within 8
//                   bindings).
//   backward_q:     rows = queries. P = exp(S - LSE), dP = dO . v_j, dS = P (dP - D),
//                   dq = scale * sum_j dS k_j. When the bias needs a gradient, dS goes to dbias:
//                   an invocation owns row (h, i) of its bias slot and walks the batch_per_group
//                   batches sharing it, adding into its own row, so the sum over a broadcast
//                   batch needs no atomics and is deterministic.
//   backward_kv:    rows = keys. Walks the queries: dv += P dO_i, dk += scale * dS q_i.
// Every output element is written by exactly one invocation: no float atomics anywhere.

struct Params {
  batch: u32,
  heads: u32,
  lq: u32,
  lk: u32,
  dh4: u32,               // head size / 4
  batch_per_group: u32,   // batches one backward_q invocation walks (B when dbias sums a shared bias)
  scale: f32,
  causal_offset: i32,     // lk - lq
  bias_batch_stride: u32, // heads * lq * lk, or 0 when every batch shares one bias
  splits: u32,            // key chunks per row in forward_split
  split_keys: u32,        // keys per chunk, a multiple of 4
  flags: u32,             // BIAS | MASK | CAUSAL | DBIAS
  q_head_stride: u32,     // vec4 strides of q, out, dout, dq between heads and between rows
  q_row_stride: u32,
  k_head_stride: u32,     // the same for k, v, dk, dv
  k_row_stride: u32,
  k_batch_stride: u32,    // vec4s between batches of k and v: H * Lk * Dh / 4, more for a KV cache
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> keep: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> lse: array<f32>;
@group(0) @binding(8) var<storage, read_write> part_acc: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> part_ml: array<vec2<f32>>;
@group(0) @binding(10) var<storage, read> part_acc_in: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read> part_ml_in: array<vec2<f32>>;
@group(0) @binding(12) var<storage, read> o: array<vec4<f32>>;
@group(0) @binding(13) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(14) var<storage, read> lse_in: array<f32>;
@group(0) @binding(15) var<storage, read_write> aux: array<u32>;
@group(0) @binding(16) var<storage, read> aux_in: array<u32>;
@group(0) @binding(17) var<storage, read_write> dq: array<vec4<f32>>;
@group(0) @binding(18) var<storage, read_write> dk: array<vec4<f32>>;
@group(0) @binding(19) var<storage, read_write> dv: array<vec4<f32>>;
@group(0) @binding(20) var<storage, read_write> dbias: array<f32>;

const WG: u32 = 64u;
const BIAS: u32 = 1u;     // a bias is given
const MASK: u32 = 2u;     // a key padding mask is given
const CAUSAL: u32 = 4u;
const DBIAS: u32 = 8u;    // backward_q writes the bias gradient

const MAX_DH4: u32 = 16u;
const LOWEST: f32 = -3.4028234663852886e38;
const STEP = vec4<u32>(0u, 1u, 2u, 3u);

alias Row = array<vec4<f32>, MAX_DH4>;

fn has(flag: u32) -> bool {
  return (p.flags & flag) != 0u;
}

// ---- masks, bias, addressing ------------------------------------------------------------------

fn nonzero(word: u32) -> bool {
  return (word & 0x7fffffffu) != 0u;
}

// The caller's mask for keys j..j+3 (indices clamped; the range check is in `attends`).
fn kept_fwd(b: u32, j: u32) -> vec4<bool> {
  if (!has(MASK)) { return vec4<bool>(true); }
  let js = b * p.lk + min(vec4<u32>(j) + STEP, vec4<u32>(p.lk - 1u));
  return vec4<bool>(nonzero(keep[js.x]), nonzero(keep[js.y]), nonzero(keep[js.z]), nonzero(keep[js.w]));
}

// The backward's copy of the mask, after the (lse, D) words in aux.
fn kept_bwd(b: u32, j: u32) -> bool {
  return !has(MASK) || aux_in[2u * p.batch * p.heads * p.lq + b * p.lk + min(j, p.lk - 1u)] != 0u;
}

fn kept_bwd4(b: u32, j: u32) -> vec4<bool> {
  return vec4<bool>(kept_bwd(b, j), kept_bwd(b, j + 1u), kept_bwd(b, j + 2u), kept_bwd(b, j + 3u));
}

// Which of the keys j..j+3 query i attends to: below `limit`, kept, not in i's future.
fn attends(i: u32, j: u32, limit: u32, kept: vec4<bool>) -> vec4<bool> {
  let js = vec4<u32>(j) + STEP;
  var ok = (js < vec4<u32>(limit)) & kept;
  if (has(CAUSAL)) { ok &= vec4<i32>(js) <= vec4<i32>(i32(i) + p.causal_offset); }
  return ok;
}

// Which of the queries i..i+3 attend to the kept key j.
fn attended(i: u32, j: u32) -> vec4<bool> {
  let qs = vec4<u32>(i) + STEP;
  var ok = qs < vec4<u32>(p.lq);
  if (has(CAUSAL)) { ok &= vec4<i32>(vec4<u32>(j)) <= vec4<i32>(qs) + vec4<i32>(p.causal_offset); }
  return ok;
}

// One past the last key that query row i may see (0 when it sees none).
fn key_end(i: u32) -> u32 {
  if (!has(CAUSAL)) { return p.lk; }
  return u32(clamp(i32(i) + p.causal_offset + 1, 0, i32(p.lk)));
}

// The first query row that may see key j.
fn query_start(j: u32) -> u32 {
  if (!has(CAUSAL)) { return 0u; }
  return u32(clamp(i32(j) - p.causal_offset, 0, i32(p.lq)));
}

fn bias_at(b: u32, h: u32, i: u32, j: u32) -> f32 {
  return bias[b * p.bias_batch_stride + (h * p.lq + min(i, p.lq - 1u)) * p.lk + min(j, p.lk - 1u)];
}

// Bias of query i against keys j..j+3.
fn bias_row4(b: u32, h: u32, i: u32, j: u32) -> vec4<f32> {
  if (!has(BIAS)) { return vec4<f32>(0.0); }
  return vec4<f32>(bias_at(b, h, i, j), bias_at(b, h, i, j + 1u), bias_at(b, h, i, j + 2u), bias_at(b, h, i, j + 3u));
}

// Bias of queries i..i+3 against key j.
fn bias_col4(b: u32, h: u32, i: u32, j: u32) -> vec4<f32> {
  if (!has(BIAS)) { return vec4<f32>(0.0); }
  return vec4<f32>(bias_at(b, h, i, j), bias_at(b, h, i + 1u, j), bias_at(b, h, i + 2u, j), bias_at(b, h, i + 3u, j));
}

// Rows r..r+3 of (batch, head) bh in [B,H,n] order, the order of the per-row statistics; rows
// past n repeat row n-1 (their results are masked off) so that no read leaves the tensor.
fn rows4(bh: u32, r: u32, n: u32) -> vec4<u32> {
  return vec4<u32>(bh * n) + min(vec4<u32>(r) + STEP, vec4<u32>(n - 1u));
}

// First vec4 of query row i of (b, h) in q, out, dout and dq.
fn q_at(b: u32, h: u32, i: u32) -> u32 {
  return b * p.heads * p.lq * p.dh4 + h * p.q_head_stride + i * p.q_row_stride;
}

// First vec4 of key row j of (b, h) in k, v, dk and dv.
fn k_at(b: u32, h: u32, j: u32) -> u32 {
  return b * p.k_batch_stride + h * p.k_head_stride + j * p.k_row_stride;
}

// First vec4s of query rows i..i+3 (clamped like rows4).
fn q_at4(b: u32, h: u32, i: u32) -> vec4<u32> {
  return vec4<u32>(q_at(b, h, 0u)) + min(vec4<u32>(i) + STEP, vec4<u32>(p.lq - 1u)) * p.q_row_stride;
}

// First vec4s of key rows j..j+3 (clamped like rows4).
fn k_at4(b: u32, h: u32, j: u32) -> vec4<u32> {
  return vec4<u32>(k_at(b, h, 0u)) + min(vec4<u32>(j) + STEP, vec4<u32>(p.lk - 1u)) * p.k_row_stride;
}

// (b, h, i) of statistics row `row` ([B,H,Lq] order).
fn unflatten(row: u32) -> vec3<u32> {
  return vec3<u32>(row / (p.lq * p.heads), (row / p.lq) % p.heads, row % p.lq);
}

fn dot4(a: vec4<f32>, x: vec4<f32>, y: vec4<f32>, z: vec4<f32>, w: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(dot(a, x), dot(a, y), dot(a, z), dot(a, w));
}

fn hsum(x: vec4<f32>) -> f32 {
  return x.x + x.y + x.z + x.w;
}

// ---- forward ----------------------------------------------------------------------------------

// Folds keys [j0, j1) of query row i (j0 a multiple of 4) into the unnormalized accumulator
// with an online softmax, starting from an empty state; returns (m, l). `qi` is pre-scaled.
fn stream_keys(b: u32, h: u32, i: u32, j0: u32, j1: u32, qi: ptr<function, Row>, acc: ptr<function, Row>) -> vec2<f32> {
  var m = LOWEST;
  var l = 0.0;
  for (var c = 0u; c < p.dh4; c++) { (*acc)[c] = vec4<f32>(0.0); }
  for (var j = j0; j < j1; j += 4u) {
    let ok = attends(i, j, j1, kept_fwd(b, j));
    if (!any(ok)) { continue; }
    let kr = k_at4(b, h, j);
    var s = bias_row4(b, h, i, j);
    for (var c = 0u; c < p.dh4; c++) {
      s += dot4((*qi)[c], k[kr.x + c], k[kr.y + c], k[kr.z + c], k[kr.w + c]);
    }
    let sm = select(vec4<f32>(LOWEST), s, ok);
    let m_new = max(m, max(max(sm.x, sm.y), max(sm.z, sm.w)));
    let pj = select(vec4<f32>(0.0), exp(sm - m_new), ok);
    let rescale = exp(m - m_new);
    l = l * rescale + hsum(pj);
    for (var c = 0u; c < p.dh4; c++) {
      (*acc)[c] = (*acc)[c] * rescale + pj.x * v[kr.x + c] + pj.y * v[kr.y + c] + pj.z * v[kr.z + c] + pj.w * v[kr.w + c];
    }
    m = m_new;
  }
  return vec2<f32>(m, l);
}

fn load_scaled_q(at: u32, qi: ptr<function, Row>) {
  for (var c = 0u; c < p.dh4; c++) { (*qi)[c] = q[at + c] * p.scale; }
}

// Writes the output row starting at vec4 `at` and the log-sum-exp of statistics row `row`.
fn write_row(at: u32, row: u32, acc: ptr<function, Row>, m: f32, l: f32) {
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var c = 0u; c < p.dh4; c++) { out[at + c] = (*acc)[c] * inv; }
  lse[row] = select(LOWEST, m + log(l), l > 0.0);
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let b = wid.z;
  let first = wid.x * WG;
  let i = first + lid;
  if (i >= p.lq) { return; }
  var qi: Row;
  var acc: Row;
  load_scaled_q(q_at(b, h, i), &qi);
  let ml = stream_keys(b, h, i, 0u, key_end(min(first + WG, p.lq) - 1u), &qi, &acc);
  write_row(q_at(b, h, i), (b * p.heads + h) * p.lq + i, &acc, ml.x, ml.y);
}

@compute @workgroup_size(WG)
fn forward_split(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * WG;   // (row, split), split fastest
  if (idx >= p.batch * p.heads * p.lq * p.splits) { return; }
  let bhi = unflatten(idx / p.splits);
  let j0 = (idx % p.splits) * p.split_keys;
  var qi: Row;
  var acc: Row;
  load_scaled_q(q_at(bhi.x, bhi.y, bhi.z), &qi);
  part_ml[idx] = stream_keys(bhi.x, bhi.y, bhi.z, j0, min(j0 + p.split_keys, key_end(bhi.z)), &qi, &acc);
  for (var c = 0u; c < p.dh4; c++) { part_acc[idx * p.dh4 + c] = acc[c]; }
}

@compute @workgroup_size(WG)
fn combine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= p.batch * p.heads * p.lq) { return; }
  let first = row * p.splits;
  var m = LOWEST;
  for (var s = 0u; s < p.splits; s++) {
    let part = part_ml_in[first + s];
    if (part.y > 0.0) { m = max(m, part.x); }
  }
  var l = 0.0;
  var acc: Row;
  for (var c = 0u; c < p.dh4; c++) { acc[c] = vec4<f32>(0.0); }
  for (var s = 0u; s < p.splits; s++) {
    let part = part_ml_in[first + s];
    if (part.y == 0.0) { continue; }
    let w = exp(part.x - m);
    l += w * part.y;
    for (var c = 0u; c < p.dh4; c++) { acc[c] += w * part_acc_in[(first + s) * p.dh4 + c]; }
  }
  let bhi = unflatten(row);
  write_row(q_at(bhi.x, bhi.y, bhi.z), row, &acc, m, l);
}

// ---- backward ---------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn backward_prep(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * WG;
  let rows = p.batch * p.heads * p.lq;
  if (idx < rows) {
    let bhi = unflatten(idx);
    let at = q_at(bhi.x, bhi.y, bhi.z);
    var d = vec4<f32>(0.0);
    for (var c = 0u; c < p.dh4; c++) { d += dout[at + c] * o[at + c]; }
    aux[2u * idx] = bitcast<u32>(lse_in[idx]);
    aux[2u * idx + 1u] = bitcast<u32>(hsum(d));
  }
  if (has(MASK) && idx < p.batch * p.lk) {
    aux[2u * rows + idx] = select(0u, 1u, nonzero(keep[idx]));
  }
}

@compute @workgroup_size(WG)
fn backward_q(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let group = wid.z;   // the bias slot (or the batch, when dbias is not summed)
  let first = wid.x * WG;
  let i = first + lid;
  if (i >= p.lq) { return; }
  let end = key_end(min(first + WG, p.lq) - 1u);
  // With a dbias to fill, every (i, j) is visited so that masked entries get their zero.
  let jend = select(end, p.lk, has(DBIAS));
  let dbias_row = ((group * p.heads + h) * p.lq + i) * p.lk;
  var qi: Row;
  var gi: Row;
  var acc: Row;
  for (var t = 0u; t < p.batch_per_group; t++) {
    let b = group * p.batch_per_group + t;
    let row = (b * p.heads + h) * p.lq + i;
    let at = q_at(b, h, i);
    load_scaled_q(at, &qi);
    for (var c = 0u; c < p.dh4; c++) {
      gi[c] = dout[at + c];
      acc[c] = vec4<f32>(0.0);
    }
    let lse_i = bitcast<f32>(aux_in[2u * row]);
    let d_i = bitcast<f32>(aux_in[2u * row + 1u]);
    for (var j = 0u; j < jend; j += 4u) {
      let ok = attends(i, j, end, kept_bwd4(b, j));
      var ds = vec4<f32>(0.0);
      if (any(ok)) {
        let kr = k_at4(b, h, j);
        var s = bias_row4(b, h, i, j) - lse_i;
        var dp = vec4<f32>(-d_i);
        for (var c = 0u; c < p.dh4; c++) {
          s += dot4(qi[c], k[kr.x + c], k[kr.y + c], k[kr.z + c], k[kr.w + c]);
          dp += dot4(gi[c], v[kr.x + c], v[kr.y + c], v[kr.z + c], v[kr.w + c]);
        }
        // s <= 0 wherever ok; the min keeps masked lanes' garbage from overflowing.
        ds = select(vec4<f32>(0.0), exp(min(s, vec4<f32>(0.0))) * dp, ok);
        for (var c = 0u; c < p.dh4; c++) {
          acc[c] += ds.x * k[kr.x + c] + ds.y * k[kr.y + c] + ds.z * k[kr.z + c] + ds.w * k[kr.w + c];
        }
      }
      if (has(DBIAS)) {
        for (var u = 0u; u < min(4u, p.lk - j); u++) {
          let at = dbias_row + j + u;
          dbias[at] = select(dbias[at], 0.0, t == 0u) + ds[u];
        }
      }
    }
    for (var c = 0u; c < p.dh4; c++) { dq[at + c] = acc[c] * p.scale; }
  }
}

@compute @workgroup_size(WG)
fn backward_kv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let b = wid.z;
  let first = wid.x * WG;
  let j = first + lid;
  if (j >= p.lk) { return; }
  let row = k_at(b, h, j);
  let kept = kept_bwd(b, j);
  var kj: Row;
  var vj: Row;
  var gk: Row;
  var gv: Row;
  for (var c = 0u; c < p.dh4; c++) {
    kj[c] = k[row + c] * p.scale;
    vj[c] = v[row + c];
    gk[c] = vec4<f32>(0.0);
    gv[c] = vec4<f32>(0.0);
  }
  for (var i = query_start(first); i < p.lq; i += 4u) {
    let ok = attended(i, j) & vec4<bool>(kept);
    if (!any(ok)) { continue; }
    let rows = rows4(b * p.heads + h, i, p.lq);
    let qr = q_at4(b, h, i);
    let lse_i = bitcast<vec4<f32>>(vec4<u32>(aux_in[2u * rows.x], aux_in[2u * rows.y], aux_in[2u * rows.z], aux_in[2u * rows.w]));
    let d_i = bitcast<vec4<f32>>(vec4<u32>(aux_in[2u * rows.x + 1u], aux_in[2u * rows.y + 1u], aux_in[2u * rows.z + 1u], aux_in[2u * rows.w + 1u]));
    var s = bias_col4(b, h, i, j) - lse_i;
    var dp = -d_i;
    for (var c = 0u; c < p.dh4; c++) {
      s += dot4(kj[c], q[qr.x + c], q[qr.y + c], q[qr.z + c], q[qr.w + c]);
      dp += dot4(vj[c], dout[qr.x + c], dout[qr.y + c], dout[qr.z + c], dout[qr.w + c]);
    }
    let pij = select(vec4<f32>(0.0), exp(min(s, vec4<f32>(0.0))), ok);
    let ds = pij * dp;
    for (var c = 0u; c < p.dh4; c++) {
      gv[c] += pij.x * dout[qr.x + c] + pij.y * dout[qr.y + c] + pij.z * dout[qr.z + c] + pij.w * dout[qr.w + c];
      gk[c] += ds.x * q[qr.x + c] + ds.y * q[qr.y + c] + ds.z * q[qr.z + c] + ds.w * q[qr.w + c];
    }
  }
  for (var c = 0u; c < p.dh4; c++) {
    dk[row + c] = gk[c] * p.scale;
    dv[row + c] = gv[c];
  }
}
