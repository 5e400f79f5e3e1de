// Batched matrix multiply, C[z] = op(A[z]) · op(B[z]), for software adapters with subgroups
// (Mesa lavapipe via Dawn). Same inputs, layout, batching and bounds rules as kernels/matmul.wgsl;
// `enable subgroups` makes the whole file uncompilable where the feature is missing, so it
// cannot live there, and WGSL has no includes: Params, the bindings, batch_offsets, a4/b4,
// k_live and b_block repeat matmul.wgsl's and must stay identical (the tests run both files on
// the same cases).
//
// Why a separate kernel. lavapipe runs 8 invocations as the 8 lanes of one SIMD register, and
// the driver (Mesa 25.0) turns every buffer or workgroup-memory load whose address is not a
// constant into a loop over the lanes: a scalar load, a bounds check and an insert per lane and
// component, about 10 instructions per element (read off its GALLIVM_DEBUG=asm output), while
// one vector multiply and add serve all 8 lanes. Loads are nearly the whole cost, so the kernel
// must load as few elements per multiply-add as it can. Register blocking alone (a TM x TN block
// needs TM + TN elements per k for TM·TN multiply-adds; matmul.wgsl's direct variant) runs out of
// registers around 8 x 8 and stays well behind this kernel (BENCHMARKS.md).
//
// Tiling. The invocations of a workgroup lie side by side along n (each owns 4 columns, one vec4
// of B per k) and share the same TM rows of A. Those rows are loaded once per subgroup instead of
// once per lane: per step of 4 along k, lane s of each group of 8 loads one vec4 of the TM x 4
// block of A (TM / 8 loads per lane) and subgroupBroadcast hands all of them to every lane, which
// on lavapipe is a register extract, not a memory access. Per lane and step that is 4 + TM / 8
// vec4 loads for 16·TM multiply-adds (TM = 24: 7 loads for 384; the plain 8 x 8 block needs 16
// loads for 256), and no barrier. TM stops at 24: with 32 rows Mesa no longer unrolls the loops
// and the accumulators move to per-lane scratch memory. The shared rows need subgroups of at
// least 8 lanes, which engine/ops/matmul.ts checks before choosing this kernel; wider subgroups
// just load duplicates in lanes 8 and up.

enable subgroups;

struct Params {
  m: u32,
  n: u32,
  k: u32,
  batch_rank: u32,
  lda: u32,     // elements between stored rows of A, B and C (K, N and N when packed)
  ldb: u32,
  ldc: u32,
  alpha: f32,   // C = alpha · op(A) · op(B) (+ R)
  band: u32,         // where op(A) is known to be 0 (a causal mask's probabilities): see k_range
  band_offset: i32,
  offset_a: u32,     // elements before the first matrix of A, B and C in their buffers (a
  offset_b: u32,     // column block of a packed projection; usually 0)
  offset_c: u32,
  batch_shape: array<vec4<u32>, 2>,
  batch_stride_a: array<vec4<u32>, 2>,
  batch_stride_b: array<vec4<u32>, 2>,
  batch_stride_c: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> other: array<f32>;   // the epilogue's second input, laid out like C

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override VEC_A: bool = true;
override VEC_B: bool = true;
override EPILOGUE: u32 = 0u;   // what the product is stored as: see store()
override WG: u32 = 64u;   // invocations along n, a multiple of the subgroup size
override TM: u32 = 24u;   // rows per workgroup: 8, 16 or 24
const MAX_TM = 24u;

fn dim(v: array<vec4<u32>, 2>, d: u32) -> u32 {
  return v[d / 4u][d % 4u];
}

/** Element offsets of batch z in A, B and C. */
fn batch_offsets(z: u32) -> vec3<u32> {
  var rest = z;
  var off = vec3(p.offset_a, p.offset_b, p.offset_c);
  for (var d = i32(p.batch_rank) - 1; d >= 0; d--) {
    let size = dim(p.batch_shape, u32(d));
    let i = rest % size;
    rest /= size;
    off += i * vec3(dim(p.batch_stride_a, u32(d)), dim(p.batch_stride_b, u32(d)), dim(p.batch_stride_c, u32(d)));
  }
  return off;
}

/**
 * Stores element i of C from its sum: alpha · sum, then per EPILOGUE
 *   0: as is;  1: + other[i] (a residual);  2: relu;  3: kept where other[i] > 0, else 0 (the
 *   gradient through a relu whose output is `other`).
 */
fn store(i: u32, sum: f32) {
  let v = p.alpha * sum;
  switch (EPILOGUE) {
    case 1u: { c[i] = v + other[i]; }
    case 2u: { c[i] = max(v, 0.0); }
    case 3u: { c[i] = select(0.0, v, other[i] > 0.0); }
    default: { c[i] = v; }
  }
}

fn a1(i: u32) -> f32 { return a[i >> 2u][i & 3u]; }
fn b1(i: u32) -> f32 { return b[i >> 2u][i & 3u]; }

// Stored elements i..i+3 (i is a multiple of 4 whenever VEC_A / VEC_B holds).
fn a4(i: u32) -> vec4<f32> {
  if (VEC_A) { return a[i >> 2u]; }
  return vec4(a1(i), a1(i + 1u), a1(i + 2u), a1(i + 3u));
}
fn b4(i: u32) -> vec4<f32> {
  if (VEC_B) { return b[i >> 2u]; }
  return vec4(b1(i), b1(i + 1u), b1(i + 2u), b1(i + 3u));
}

fn k_live(k: u32) -> vec4<bool> {
  return vec4(k, k + 1u, k + 2u, k + 3u) < vec4(p.k);
}

/** Rows k..k+3 of op(B) at columns col..col+3: one vec4 over columns per k; k >= K reads as 0. */
fn b_block(base: u32, k: u32, col: u32) -> array<vec4<f32>, 4> {
  let live = k_live(k);
  var out: array<vec4<f32>, 4>;
  if (TRANS_B) {
    var t: array<vec4<f32>, 4>;   // t[j] = B[col + j, k..k+3]
    for (var j = 0u; j < 4u; j++) { t[j] = select(vec4(0.0), b4(base + (col + j) * p.ldb + k), live); }
    for (var i = 0u; i < 4u; i++) { out[i] = vec4(t[0][i], t[1][i], t[2][i], t[3][i]); }
  } else {
    for (var i = 0u; i < 4u; i++) { out[i] = select(vec4(0.0), b4(base + (k + i) * p.ldb + col), live[i]); }
  }
  return out;
}

/**
 * This lane's share of the 8 x 4 block of op(A) at rows r..r+7, k..k+3: row s as a vec4 over k,
 * or, transposed, A[k + s/2, r + 4(s%2) .. +3] as a vec4 over rows (s = lane mod 8).
 */
fn a_share(base: u32, r: u32, k: u32, s: u32) -> vec4<f32> {
  if (TRANS_A) {
    let kk = k + (s >> 1u);
    return select(vec4(0.0), a4(base + kk * p.lda + r + 4u * (s & 1u)), kk < p.k);
  }
  return select(vec4(0.0), a4(base + (r + s) * p.lda + k), k_live(k));
}

/**
 * The k range that can contribute to rows row0..row0+TM-1, from where op(A) is known to be zero:
 * band 1, op(A)[i][k] = 0 for k > i + band_offset (causal probabilities P or their gradient dS,
 * times v or k); band 2, op(A)[i][k] = 0 for k < i - band_offset (their transposes, times q or
 * dO); band 0, no such knowledge. The start is rounded down to a multiple of 4, the step of k.
 * Only this kernel uses it; the others multiply the zeros, with the same result.
 */
fn k_range(row0: u32) -> vec2<u32> {
  let first = i32(row0);
  let last = i32(row0 + TM) - 1;
  switch (p.band) {
    case 1u: { return vec2(0u, u32(clamp(last + p.band_offset + 1, 0, i32(p.k)))); }
    case 2u: { return vec2(u32(clamp(first - p.band_offset, 0, i32(p.k))) & ~3u, p.k); }
    default: { return vec2(0u, p.k); }
  }
}

/** This invocation's TM x 4 block of op(A) · op(B): rows row0.., columns col0..col0+3. */
fn product_block(off: vec3<u32>, row0: u32, col0: u32, lane: u32) -> array<vec4<f32>, MAX_TM> {
  let s = lane & 7u;
  var acc: array<vec4<f32>, MAX_TM>;
  let ks = k_range(row0);
  for (var k = ks.x; k < ks.y; k += 4u) {
    let bv = b_block(off.y, k, col0);
    for (var g = 0u; g < TM / 8u; g++) {
      let mine = a_share(off.x, row0 + 8u * g, k, s);
      let w = array(
        subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u), subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u),
        subgroupBroadcast(mine, 4u), subgroupBroadcast(mine, 5u), subgroupBroadcast(mine, 6u), subgroupBroadcast(mine, 7u),
      );
      for (var i = 0u; i < 8u; i++) {
        var row = w[i];   // row i of the block, vec4 over k
        if (TRANS_A) {
          let h = i >> 2u;
          let j = i & 3u;
          row = vec4(w[h][j], w[2u + h][j], w[4u + h][j], w[6u + h][j]);
        }
        acc[8u * g + i] += row.x * bv[0] + row.y * bv[1] + row.z * bv[2] + row.w * bv[3];
      }
    }
  }
  return acc;
}

/** What an entry point starts from: its batch's offsets, its first row and column, and the
 *  product over its TM x 4 block. The builtins come in as separate values (a struct holding the
 *  lane id would make workgroup_id non-uniform to WGSL's uniformity analysis, and product_block's
 *  subgroupBroadcast must run in uniform control flow). */
struct Block {
  off: vec3<u32>,
  row0: u32,
  col0: u32,
  acc: array<vec4<f32>, MAX_TM>,
}

fn lane_block(wid: vec3<u32>, lid_x: u32, lane: u32) -> Block {
  let off = batch_offsets(wid.z);
  let row0 = wid.y * TM;
  let col0 = (wid.x * WG + lid_x) * 4u;
  return Block(off, row0, col0, product_block(off, row0, col0, lane));
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let b = lane_block(wid, lid.x, lane);
  for (var i = 0u; i < TM; i++) {
    let row = b.row0 + i;
    for (var j = 0u; j < 4u; j++) {
      let col = b.col0 + j;
      if (row < p.m && col < p.n) { store(b.off.z + row * p.ldc + col, b.acc[i][j]); }
    }
  }
}

// The same product stored four columns at a time, for a C whose rows and batches start on a
// multiple of 4 and whose N is one (the op checks): one vec4 store instead of four scalar ones.
// Stores are as dear as loads on lavapipe (a loop over the lanes each), and with a small K (a
// small model's projections) they are most of what the kernel does. A second entry point
// because C's binding changes type; WGSL allows both declarations as long as no entry point
// uses both.
@group(0) @binding(2) var<storage, read_write> c4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> other4: array<vec4<f32>>;

fn store4(i: u32, sum: vec4<f32>) {
  let v = p.alpha * sum;
  switch (EPILOGUE) {
    case 1u: { c4[i] = v + other4[i]; }
    case 2u: { c4[i] = max(v, vec4(0.0)); }
    case 3u: { c4[i] = select(vec4(0.0), v, other4[i] > vec4(0.0)); }
    default: { c4[i] = v; }
  }
}

@compute @workgroup_size(WG)
fn main_vec4(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let b = lane_block(wid, lid.x, lane);
  if (b.col0 >= p.n) { return; }
  for (var i = 0u; i < TM; i++) {
    let row = b.row0 + i;
    if (row < p.m) { store4((b.off.z + row * p.ldc + b.col0) / 4u, b.acc[i]); }
  }
}

// The product plus its residual, as main_vec4 stores it, and the RMS norm of each row of that
// sum: in a pre-norm transformer the product that writes the residual stream is followed by the
// next block's norm, which would otherwise be a dispatch that reads the rows back. One subgroup
// must hold whole rows, so the op runs this entry only with one workgroup of 8 lanes across
// (N <= 32; lanes past N hold zeros) and with C, the residual and the normed rows contiguous.
//   normed[r, j] = sum[r, j] · rstd[r] · norm_weight[j],  rstd[r] = 1 / sqrt(mean_j sum[r, j]² + eps)
//   norm_stats[r] = (0, rstd[r])   (the layout kernels/norm.wgsl's forward writes for its backward)
// The row's sum of squares is each lane's dot product of its four columns, added over the lanes
// by subgroupAdd: no workgroup memory, no barrier.
@group(0) @binding(5) var<storage, read> norm_weight: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> normed: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> norm_stats: array<f32>;

override NORM_EPS: f32 = 1e-6;

@compute @workgroup_size(WG)
fn main_norm(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let b = lane_block(wid, lid.x, lane);   // wid.x is 0: one workgroup spans the row
  let live_col = b.col0 < p.n;
  let w = norm_weight[min(b.col0, p.n - 4u) / 4u];
  for (var i = 0u; i < TM; i++) {
    let row = b.row0 + i;
    let live = live_col && row < p.m;
    let at = (b.off.z + row * p.ldc + b.col0) / 4u;
    var v = vec4(0.0);
    if (live) { v = p.alpha * b.acc[i] + other4[at]; }
    // In uniform control flow: every lane adds its share, zeros past N and past M.
    let rstd = inverseSqrt(subgroupAdd(dot(v, v)) / f32(p.n) + NORM_EPS);
    if (live) {
      c4[at] = v;
      normed[at] = v * rstd * w;
      if (lid.x == 0u) {
        norm_stats[2u * row] = 0.0;
        norm_stats[2u * row + 1u] = rstd;
      }
    }
  }
}
