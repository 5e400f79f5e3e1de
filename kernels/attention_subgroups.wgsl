// Fused attention for software adapters with subgroups (lavapipe through Dawn): the same math as
// kernels/attention.wgsl (forward with an online softmax, FlashAttention-2-style backward that
// recomputes P from the saved log-sum-exp), with the other side's rows loaded once per subgroup
// instead of once per lane.
//
//   S[b,h,i,j] = scale * q_i . k_j + bias[h,i,j]    P = softmax_j(S) over the keys i may see
//   O = P v,  LSE_i = log sum_j exp(S_ij),  D_i = dO_i . O_i,  dS = P (dP - D) with dP = dO vᵀ
//   dq = scale dS k,  dk = scale dSᵀ q,  dv = Pᵀ dO,  dbias = dS (per batch; the op sums a shared
//   bias's over the batch)
//
// Why a separate kernel. attention.wgsl gives each invocation one row and walks the other rows
// with the loop counter, so every lane of a SIMD register loads the same k_j: on lavapipe each
// of those loads is a loop over the 8 lanes (Mesa 25.0 shares a load only when its address is a
// constant; kernels/matmul_subgroups.wgsl has the details), 8 loads of one value. Here a step
// takes 8 rows of the other side at once: lane s of each group of 8 loads row j + s (its own
// address, nothing loaded twice) and subgroupBroadcast hands each row to all 8 lanes, a register
// extract. Per 8 keys and Dh = 16 that is 256 scalar loads instead of 2,048. Against the
// materialized path (scores stored, products on the matmul kernels) it also never stores or
// reads the [Lq, Lk] scores, and it is 3 dispatches per attention instead of 8. `enable
// subgroups` makes the file uncompilable where the feature is missing, so it cannot live in
// attention.wgsl.
//
// Layout: each of q, k, v is read at a vec4 offset with vec4 strides between batches, heads and
// rows, so [B,H,L,Dh], heads-last [B,L,H,Dh] and the column blocks of a packed [B,L,3,H,Dh]
// projection are all read in place; Dh is a multiple of 4 (the op pads). out and dout have
// strides of their own; dq is written with q's strides at dq_offset, dk and dv with k's at
// dk_offset and dv_offset of one buffer (the packed gradient holds both, and one dispatch may not
// bind a buffer writable twice). lse and d are [B,H,Lq], dbias [B,H,Lq,Lk], or [H,Lq,Lk] summed
// over the batch with DBIAS_SUM. bias is [Bb,H,Lq,Lk] (batch stride 0 when shared). keep [B,Lk]
// is read as raw words: nonzero ignoring the sign bit = attend. Causal: query i sees keys
// j <= i + causal_offset.
//
// Tiling: one subgroup of 8 consecutive rows of one (batch, head) per workgroup, one row per
// lane. The head size is a pipeline constant (DH4), so the loops over a row unroll and the
// Dh-wide private rows are registers; with the size a uniform they were stack arrays indexed at
// run time, and the whole kernel measured clearly slower. Loop bounds come from the workgroup (its
// last row's causal limit), so control flow stays uniform, as subgroupBroadcast needs; rows past
// the end are clamped for loading and not written. Masks are selects: no infinity enters the
// arithmetic, and a row that sees no key gets O = 0, LSE = LOWEST and zero gradients. Measured
// against materialized (BENCHMARKS.md): faster at Dh = 16 for every length tried, slower at 32,
// where a lane's six rows no longer fit the registers; the op chooses accordingly. Neither
// blocking several rows per lane (slower) nor 16-lane workgroups helped.
//
// kept, key_end, query_start and bias_at say what attention.wgsl's functions of those names say
// (WGSL has no includes); the tests run both files on the same cases.
//
// Entry points: forward (rows = queries): O and LSE. backward_q (rows = queries): D, dq and,
// with DBIAS, dS into dbias. backward_kv (rows = keys, after backward_q for its D): dk and dv.
// Every output element is written by exactly one invocation.

enable subgroups;

struct Params {
  heads: u32,
  lq: u32,
  lk: u32,
  scale: f32,
  causal_offset: i32,     // lk - lq
  bias_batch_stride: u32, // heads * lq * lk, or 0 when every batch shares one bias
  flags: u32,             // BIAS | MASK | CAUSAL | DBIAS
  q_offset: u32,          // vec4s before the first row of q, k, v, dq, dk, dv in their buffers
  k_offset: u32,
  v_offset: u32,
  dq_offset: u32,
  dk_offset: u32,
  dv_offset: u32,
  q_batch_stride: u32,    // vec4s between batches, heads and rows of q (and dq)
  q_head_stride: u32,
  q_row_stride: u32,
  k_batch_stride: u32,    // the same for k and v (and dk, dv)
  k_head_stride: u32,
  k_row_stride: u32,
  o_batch_stride: u32,    // the same for out and dout
  o_head_stride: u32,
  o_row_stride: u32,
  batch: u32,             // batches backward_q walks with DBIAS_SUM
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> keep: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> lse: array<f32>;
@group(0) @binding(8) var<storage, read> o: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read> lse_in: array<f32>;
@group(0) @binding(11) var<storage, read_write> d: array<f32>;
@group(0) @binding(12) var<storage, read> d_in: array<f32>;
@group(0) @binding(13) var<storage, read_write> dq: array<vec4<f32>>;
@group(0) @binding(14) var<storage, read_write> dkv: array<vec4<f32>>;
@group(0) @binding(15) var<storage, read_write> dbias: array<f32>;
@group(0) @binding(16) var<storage, read> dbias_in: array<f32>;   // DBIAS_ACC: added to the sum

const WG: u32 = 8u;       // one subgroup of 8 lanes: rows are shared within it
override DH4: u32 = 4u;  // head size / 4, at most MAX_DH4
const BIAS: u32 = 1u;
const MASK: u32 = 2u;
const CAUSAL: u32 = 4u;
const DBIAS: u32 = 8u;
const DBIAS_SUM: u32 = 16u;   // the bias is shared by the batch: dbias is its sum [H, Lq, Lk]
const DBIAS_ACC: u32 = 32u;   // ... plus dbias_in

const MAX_DH4: u32 = 16u;
const MAX_SUM_KEYS8: u32 = 32u;   // DBIAS_SUM: keys / 8 a lane's running sum of dS holds
const LOWEST: f32 = -3.4028234663852886e38;
const STEP = vec4<u32>(0u, 1u, 2u, 3u);

alias Row = array<vec4<f32>, MAX_DH4>;
alias Rows8 = array<vec4<f32>, 8>;

// Eight values per row, one per shared row of the step: two vec4s, so the softmax arithmetic
// stays vector-wide.
struct Eight {
  lo: vec4<f32>,
  hi: vec4<f32>,
}

struct Mask8 {
  lo: vec4<bool>,
  hi: vec4<bool>,
}

fn has(flag: u32) -> bool {
  return (p.flags & flag) != 0u;
}

// ---- sharing across the subgroup ----------------------------------------------------------------

// Lane t's x, for t = 0..7, in every lane.
fn share(x: vec4<f32>) -> Rows8 {
  return Rows8(
    subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u),
    subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u),
  );
}

fn share1(x: f32) -> Eight {
  return Eight(
    vec4(subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u)),
    vec4(subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u)),
  );
}

// a · r[t] for t = 0..7.
fn dots(a: vec4<f32>, r: Rows8) -> Eight {
  return Eight(
    vec4(dot(a, r[0]), dot(a, r[1]), dot(a, r[2]), dot(a, r[3])),
    vec4(dot(a, r[4]), dot(a, r[5]), dot(a, r[6]), dot(a, r[7])),
  );
}

// sum over t of w[t] r[t].
fn weighted(w: Eight, r: Rows8) -> vec4<f32> {
  return w.lo.x * r[0] + w.lo.y * r[1] + w.lo.z * r[2] + w.lo.w * r[3]
       + w.hi.x * r[4] + w.hi.y * r[5] + w.hi.z * r[6] + w.hi.w * r[7];
}

fn plus(a: Eight, b: Eight) -> Eight {
  return Eight(a.lo + b.lo, a.hi + b.hi);
}

fn hsum(x: vec4<f32>) -> f32 {
  return x.x + x.y + x.z + x.w;
}

fn hmax(x: vec4<f32>) -> f32 {
  return max(max(x.x, x.y), max(x.z, x.w));
}

// ---- masks, bias, addressing ------------------------------------------------------------------

// Whether key j (< lk) of batch b may be attended, by the caller's padding mask.
fn kept(b: u32, j: u32) -> bool {
  return !has(MASK) || (keep[b * p.lk + j] & 0x7fffffffu) != 0u;
}

// Which of the pairs (query i0 + t, key j0 + u) for t, u stepping 0..7 together with the
// shared side are live: exactly one of `i_step`, `j_step` is 1, the other 0.
fn live8(i0: u32, j0: u32, i_step: u32, j_step: u32, limit_i: u32, limit_j: u32, shared_kept: Eight) -> Mask8 {
  let t_lo = STEP;
  let t_hi = STEP + 4u;
  let is_lo = vec4<i32>(vec4(i0) + t_lo * i_step);
  let is_hi = vec4<i32>(vec4(i0) + t_hi * i_step);
  let js_lo = vec4<i32>(vec4(j0) + t_lo * j_step);
  let js_hi = vec4<i32>(vec4(j0) + t_hi * j_step);
  var lo = (is_lo < vec4(i32(limit_i))) & (js_lo < vec4(i32(limit_j))) & (shared_kept.lo > vec4(0.5));
  var hi = (is_hi < vec4(i32(limit_i))) & (js_hi < vec4(i32(limit_j))) & (shared_kept.hi > vec4(0.5));
  if (has(CAUSAL)) {
    lo &= js_lo <= is_lo + p.causal_offset;
    hi &= js_hi <= is_hi + p.causal_offset;
  }
  return Mask8(lo, hi);
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

// Bias of the pairs (i0 + t i_step, j0 + t j_step), t = 0..7 (0 without a bias).
fn bias8(b: u32, h: u32, i0: u32, j0: u32, i_step: u32, j_step: u32) -> Eight {
  var r = Eight(vec4(0.0), vec4(0.0));
  if (has(BIAS)) {
    for (var t = 0u; t < 4u; t++) {
      r.lo[t] = bias_at(b, h, i0 + t * i_step, j0 + t * j_step);
      r.hi[t] = bias_at(b, h, i0 + (t + 4u) * i_step, j0 + (t + 4u) * j_step);
    }
  }
  return r;
}

// First vec4 of row i of (b, h) in q-like (q, dq), k-like (k, v, dk, dv) and out-like (out, dout)
// tensors, before the tensor's own offset.
fn q_at(b: u32, h: u32, i: u32) -> u32 {
  return b * p.q_batch_stride + h * p.q_head_stride + i * p.q_row_stride;
}
fn k_at(b: u32, h: u32, j: u32) -> u32 {
  return b * p.k_batch_stride + h * p.k_head_stride + j * p.k_row_stride;
}
fn o_at(b: u32, h: u32, i: u32) -> u32 {
  return b * p.o_batch_stride + h * p.o_head_stride + i * p.o_row_stride;
}



// Key row j of (b, h) from k and v.
fn load_key(b: u32, h: u32, j: u32, kj: ptr<function, Row>, vj: ptr<function, Row>) {
  for (var c = 0u; c < DH4; c++) {
    (*kj)[c] = k[p.k_offset + k_at(b, h, j) + c];
    (*vj)[c] = v[p.v_offset + k_at(b, h, j) + c];
  }
}

// ---- forward ----------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let h = wid.y;
  let b = wid.z;
  let first = wid.x * WG;
  let i = min(first + lid, p.lq - 1u);
  let end = key_end(min(first + WG, p.lq) - 1u);
  var qi: Row;
  var acc: Row;
  var kj: Row;
  var vj: Row;
  for (var c = 0u; c < DH4; c++) {
    qi[c] = q[p.q_offset + q_at(b, h, i) + c] * p.scale;
    acc[c] = vec4(0.0);
  }
  var m = LOWEST;
  var l = 0.0;
  for (var j0 = 0u; j0 < end; j0 += 8u) {
    // This lane's key of the step.
    let j = min(j0 + (lane & 7u), p.lk - 1u);
    load_key(b, h, j, &kj, &vj);
    var s = bias8(b, h, i, j0, 0u, 1u);
    for (var c = 0u; c < DH4; c++) { s = plus(s, dots(qi[c], share(kj[c]))); }
    let ok = live8(i, j0, 0u, 1u, p.lq, end, share1(select(0.0, 1.0, kept(b, j))));
    let sm = Eight(select(vec4(LOWEST), s.lo, ok.lo), select(vec4(LOWEST), s.hi, ok.hi));
    let m_new = max(m, max(hmax(sm.lo), hmax(sm.hi)));
    let w = Eight(select(vec4(0.0), exp(sm.lo - m_new), ok.lo), select(vec4(0.0), exp(sm.hi - m_new), ok.hi));
    let rescale = exp(m - m_new);
    l = l * rescale + hsum(w.lo) + hsum(w.hi);
    for (var c = 0u; c < DH4; c++) { acc[c] = acc[c] * rescale + weighted(w, share(vj[c])); }
    m = m_new;
  }
  if (first + lid < p.lq) {
    let inv = select(0.0, 1.0 / l, l > 0.0);
    for (var c = 0u; c < DH4; c++) { out[o_at(b, h, i) + c] = acc[c] * inv; }
    lse[(b * p.heads + h) * p.lq + i] = select(LOWEST, m + log(l), l > 0.0);
  }
}

// ---- backward ---------------------------------------------------------------------------------

fn running_dbias(at: u32) -> f32 {
  if (has(DBIAS_ACC)) { return dbias_in[at]; }
  return 0.0;
}

// With DBIAS_SUM (a bias shared by the batch, at most 8 * MAX_SUM_KEYS8 keys) one workgroup
// walks every batch for its rows, in order, and keeps each row's dS summed over them in a private
// array indexed by the key step, the same index in every lane (one vector operation on lavapipe,
// not a loop over the lanes); the sum is stored once, with dbias_in added (DBIAS_ACC). Otherwise
// dbias is dS per batch [B, H, Lq, Lk] and the host sums it. The batch's order is the one a sum
// over it would take, so both give the same floats.
@compute @workgroup_size(WG)
fn backward_q(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let h = wid.y;
  let first = wid.x * WG;
  let live = first + lid < p.lq;
  let i = min(first + lid, p.lq - 1u);
  let end = key_end(min(first + WG, p.lq) - 1u);
  let summed = has(DBIAS_SUM);
  var dsum: array<Eight, MAX_SUM_KEYS8>;
  for (var n = 0u; n < select(1u, p.batch, summed); n++) {
    let b = select(wid.z, n, summed);
    let row = (b * p.heads + h) * p.lq + i;
    var qi: Row;
    var gi: Row;
    var acc: Row;
    var kj: Row;
    var vj: Row;
    var dd = vec4(0.0);
    for (var c = 0u; c < DH4; c++) {
      qi[c] = q[p.q_offset + q_at(b, h, i) + c] * p.scale;
      gi[c] = dout[o_at(b, h, i) + c];
      dd += gi[c] * o[o_at(b, h, i) + c];
      acc[c] = vec4(0.0);
    }
    let d_i = hsum(dd);
    let lse_i = lse_in[row];
    if (live) { d[row] = d_i; }
    for (var j0 = 0u; j0 < end; j0 += 8u) {
      let j = min(j0 + (lane & 7u), p.lk - 1u);
      load_key(b, h, j, &kj, &vj);
      var s = bias8(b, h, i, j0, 0u, 1u);
      s = Eight(s.lo - lse_i, s.hi - lse_i);
      var dp = Eight(vec4(-d_i), vec4(-d_i));
      for (var c = 0u; c < DH4; c++) {
        s = plus(s, dots(qi[c], share(kj[c])));
        dp = plus(dp, dots(gi[c], share(vj[c])));
      }
      let ok = live8(i, j0, 0u, 1u, p.lq, end, share1(select(0.0, 1.0, kept(b, j))));
      // s <= 0 wherever ok; the min keeps masked lanes' garbage from overflowing.
      let ds = Eight(select(vec4(0.0), exp(min(s.lo, vec4(0.0))) * dp.lo, ok.lo),
                     select(vec4(0.0), exp(min(s.hi, vec4(0.0))) * dp.hi, ok.hi));
      for (var c = 0u; c < DH4; c++) { acc[c] += weighted(ds, share(kj[c])); }
      if (summed) {
        dsum[j0 / 8u] = plus(dsum[j0 / 8u], ds);
      } else if (has(DBIAS) && live) {
        let at = row * p.lk + j0;
        for (var u = 0u; u < 4u; u++) {
          if (j0 + u < p.lk) { dbias[at + u] = ds.lo[u]; }
          if (j0 + u + 4u < p.lk) { dbias[at + u + 4u] = ds.hi[u]; }
        }
      }
    }
    if (live) {
      for (var c = 0u; c < DH4; c++) { dq[p.dq_offset + q_at(b, h, i) + c] = acc[c] * p.scale; }
      // The keys no row of the workgroup sees (past a causal limit) get their zero gradient here,
      // without the loads and arithmetic of the loop.
      if (has(DBIAS) && !summed) {
        for (var j = (end + 7u) & ~7u; j < p.lk; j++) { dbias[row * p.lk + j] = 0.0; }
      }
    }
  }
  if (summed && live) {
    // Key steps past `end` were never added to: their sums are 0.
    let at = (h * p.lq + i) * p.lk;
    for (var j0 = 0u; j0 < p.lk; j0 += 8u) {
      let s = dsum[j0 / 8u];
      for (var u = 0u; u < 4u; u++) {
        if (j0 + u < p.lk) { dbias[at + j0 + u] = s.lo[u] + running_dbias(at + j0 + u); }
        if (j0 + u + 4u < p.lk) { dbias[at + j0 + u + 4u] = s.hi[u] + running_dbias(at + j0 + u + 4u); }
      }
    }
  }
}

@compute @workgroup_size(WG)
fn backward_kv(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let h = wid.y;
  let b = wid.z;
  let first = wid.x * WG;
  let j = min(first + lid, p.lk - 1u);
  let kept_j = select(0.0, 1.0, kept(b, j));
  var kj: Row;
  var vj: Row;
  var gk: Row;
  var gv: Row;
  var qi: Row;
  var gi: Row;
  for (var c = 0u; c < DH4; c++) {
    kj[c] = k[p.k_offset + k_at(b, h, j) + c] * p.scale;
    vj[c] = v[p.v_offset + k_at(b, h, j) + c];
    gk[c] = vec4(0.0);
    gv[c] = vec4(0.0);
  }
  for (var i0 = query_start(first); i0 < p.lq; i0 += 8u) {
    // This lane's query of the step.
    let i = min(i0 + (lane & 7u), p.lq - 1u);
    let row = (b * p.heads + h) * p.lq + i;
    let lse_q = share1(lse_in[row]);
    let d_q = share1(d_in[row]);
    var s = bias8(b, h, i0, j, 1u, 0u);
    s = Eight(s.lo - lse_q.lo, s.hi - lse_q.hi);
    var dp = Eight(-d_q.lo, -d_q.hi);
    for (var c = 0u; c < DH4; c++) {
      qi[c] = q[p.q_offset + q_at(b, h, i) + c];
      gi[c] = dout[o_at(b, h, i) + c];
      s = plus(s, dots(kj[c], share(qi[c])));
      dp = plus(dp, dots(vj[c], share(gi[c])));
    }
    let ok = live8(i0, j, 1u, 0u, p.lq, p.lk, Eight(vec4(kept_j), vec4(kept_j)));
    let w = Eight(select(vec4(0.0), exp(min(s.lo, vec4(0.0))), ok.lo), select(vec4(0.0), exp(min(s.hi, vec4(0.0))), ok.hi));
    let ds = Eight(w.lo * dp.lo, w.hi * dp.hi);
    for (var c = 0u; c < DH4; c++) {
      gv[c] += weighted(w, share(gi[c]));
      gk[c] += weighted(ds, share(qi[c]));
    }
  }
  if (first + lid < p.lk) {
    for (var c = 0u; c < DH4; c++) {
      dkv[p.dk_offset + k_at(b, h, j) + c] = gk[c] * p.scale;
      dkv[p.dv_offset + k_at(b, h, j) + c] = gv[c];
    }
  }
}
