// Batched matrix multiply: C[z] = op(A[z]) · op(B[z]), the kernel for adapters without subgroups
// and for real GPUs (kernels/matmul_subgroups.wgsl is the software adapter's faster path).
//
// Layout. op(A) is M x K, op(B) is K x N, C is M x N, all row-major. A is stored [M, K], or
// [K, M] when TRANS_A (read transposed in place, never copied); B is stored [K, N], or [N, K]
// when TRANS_B. Stored rows are lda, ldb and ldc elements apart (BLAS's leading dimensions), so a
// matrix may be a strided view: one head of a [B, L, H, Dh] tensor is an L x Dh matrix with
// leading dimension H·Dh. workgroup_id.z walks the broadcast batch: its multi-index over
// `batch_shape` times `batch_stride_a/b/c` (0 on a broadcast dim) gives the offsets of A, B and
// C. A and B are bound as vec4 arrays: when a matrix's leading dimension and batch strides are
// multiples of 4 (VEC_A / VEC_B) four neighbours are one load, otherwise four scalar loads from
// the same binding. The result is scaled by alpha and can pass through an epilogue on its way out
// (a residual added, a relu, a relu's gradient mask): one pass instead of an elementwise one more.
//
// Tiling. Each invocation owns a TM x TN block of C (register blocking: per step of 4 along k it
// loads TM + TN vec4s and does 4·TM·TN multiply-adds). A workgroup of WG_M x WG_N invocations
// owns a (WG_M·TM) x (WG_N·TN) tile. Two ways to feed the registers, chosen by STAGE:
//  - STAGE (real GPUs): the workgroup first copies a BK-deep slice of the A and B tiles into
//    workgroup memory, each element read from global memory once per workgroup instead of once
//    per invocation, then every invocation reads its rows and columns from there. That is what
//    discrete GPUs want: global memory is far, workgroup memory is near, barriers are cheap.
//  - !STAGE (software adapters without subgroups): invocations load their blocks straight from
//    the buffers. On a CPU driver (lavapipe) workgroup memory is ordinary memory read through the
//    same per-lane path as a buffer, and every workgroupBarrier() suspends and resumes each SIMD
//    chunk of the workgroup, so staging only adds copies and barriers: on lavapipe the direct
//    variant measured faster than the staged one (BENCHMARKS.md).
// SPLIT_N spreads an invocation's TN columns over the tile in groups of 4, WG_N·4 apart, instead
// of side by side: neighbouring invocations then read neighbouring vec4s of tile_b (and store
// neighbouring columns), which avoids the shared-memory bank conflicts of a stride of TN floats
// when TN = 8. Each step along k accumulates one product at a time (acc += a·b, four statements)
// so that GPU compilers can fuse each into one multiply-add.
// engine/ops/matmul.ts picks the variant and its tile sizes per adapter (matmulTiling).
//
// Bounds. Sizes need not be multiples of anything. Loads never branch: a value at k >= K is
// replaced by 0 with select (not multiplied away, so garbage cannot leak NaN into a sum); rows
// and columns past M and N are read from wherever they land (WebGPU clamps out-of-range indices
// into the binding) and only feed outputs that are not stored.

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
override STAGE: bool = true;
override WG_M: u32 = 16u;
override WG_N: u32 = 16u;
override TM: u32 = 4u;    // rows per invocation: 4 or 8
override TN: u32 = 4u;    // columns per invocation: 4 or 8
override BK: u32 = 32u;   // k per staged slice, a multiple of 4 (4 when !STAGE)
override SPLIT_N: bool = false;
const MAX_T = 8u;

var<workgroup> tile_a: array<vec4<f32>, WG_M * TM * BK / 4u>;   // [row][k], vec4 over k
var<workgroup> tile_b: array<vec4<f32>, BK * WG_N * TN / 4u>;   // [k][col], vec4 over columns

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

/** Rows r..r+3 of op(A) at k..k+3: one vec4 over k per row; k >= K reads as 0. */
fn a_block(base: u32, r: u32, k: u32) -> array<vec4<f32>, 4> {
  let live = k_live(k);
  var out: array<vec4<f32>, 4>;
  if (TRANS_A) {
    var t: array<vec4<f32>, 4>;   // t[j] = A[k + j, r..r+3]
    for (var j = 0u; j < 4u; j++) { t[j] = a4(base + (k + j) * p.lda + r); }
    for (var i = 0u; i < 4u; i++) {
      out[i] = select(vec4(0.0), vec4(t[0][i], t[1][i], t[2][i], t[3][i]), live);
    }
  } else {
    for (var i = 0u; i < 4u; i++) { out[i] = select(vec4(0.0), a4(base + (r + i) * p.lda + k), live); }
  }
  return out;
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

@compute @workgroup_size(WG_N, WG_M)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) lix: u32,
) {
  let off = batch_offsets(wid.z);
  let tile_m = WG_M * TM;
  let tile_n = WG_N * TN;
  let tile_row = wid.y * tile_m;
  let tile_col = wid.x * tile_n;
  let row0 = lid.y * TM;   // within the tile
  // First column (within the tile) of this invocation's q-th group of 4.
  let col_step = select(4u, WG_N * 4u, SPLIT_N);
  let col0 = select(lid.x * TN, lid.x * 4u, SPLIT_N);
  var acc: array<array<vec4<f32>, MAX_T / 4u>, MAX_T>;

  for (var k0 = 0u; k0 < p.k; k0 += BK) {
    if (STAGE) {
      for (var t = lix; t < tile_m * BK / 16u; t += WG_M * WG_N) {
        let r = t / (BK / 4u) * 4u;
        let kk = t % (BK / 4u) * 4u;
        let blk = a_block(off.x, tile_row + r, k0 + kk);
        for (var i = 0u; i < 4u; i++) { tile_a[((r + i) * BK + kk) / 4u] = blk[i]; }
      }
      for (var t = lix; t < BK * tile_n / 16u; t += WG_M * WG_N) {
        let kk = t / (tile_n / 4u) * 4u;
        let cc = t % (tile_n / 4u) * 4u;
        let blk = b_block(off.y, k0 + kk, tile_col + cc);
        for (var i = 0u; i < 4u; i++) { tile_b[((kk + i) * tile_n + cc) / 4u] = blk[i]; }
      }
      workgroupBarrier();
    }
    for (var kk = 0u; kk < BK; kk += 4u) {
      var av: array<vec4<f32>, MAX_T>;                    // av[i]: row i, vec4 over k
      var bv: array<array<vec4<f32>, MAX_T / 4u>, 4>;     // bv[j][q]: k + j, columns 4q..4q+3
      if (STAGE) {
        for (var i = 0u; i < TM; i++) { av[i] = tile_a[((row0 + i) * BK + kk) / 4u]; }
        for (var j = 0u; j < 4u; j++) {
          for (var q = 0u; q < TN / 4u; q++) { bv[j][q] = tile_b[((kk + j) * tile_n + col0 + q * col_step) / 4u]; }
        }
      } else {
        for (var g = 0u; g < TM / 4u; g++) {
          let blk = a_block(off.x, tile_row + row0 + 4u * g, k0 + kk);
          for (var i = 0u; i < 4u; i++) { av[4u * g + i] = blk[i]; }
        }
        for (var q = 0u; q < TN / 4u; q++) {
          let blk = b_block(off.y, k0 + kk, tile_col + col0 + q * col_step);
          for (var j = 0u; j < 4u; j++) { bv[j][q] = blk[j]; }
        }
      }
      for (var i = 0u; i < TM; i++) {
        for (var q = 0u; q < TN / 4u; q++) {
          acc[i][q] += av[i].x * bv[0][q];
          acc[i][q] += av[i].y * bv[1][q];
          acc[i][q] += av[i].z * bv[2][q];
          acc[i][q] += av[i].w * bv[3][q];
        }
      }
    }
    if (STAGE) { workgroupBarrier(); }
  }

  for (var i = 0u; i < TM; i++) {
    let row = tile_row + row0 + i;
    for (var j = 0u; j < TN; j++) {
      let col = tile_col + col0 + j / 4u * col_step + j % 4u;
      if (row < p.m && col < p.n) { store(off.z + row * p.ldc + col, acc[i][j / 4u][j % 4u]); }
    }
  }
}
