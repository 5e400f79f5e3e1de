// EXPERIMENT v0 (header comes later)

struct Params {
  m: u32,
  n: u32,
  k: u32,
  batch_rank: u32,
  batch_shape: array<vec4<u32>, 2>,
  batch_stride_a: array<vec4<u32>, 2>,
  batch_stride_b: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override VEC_A: bool = true;
override VEC_B: bool = true;
override WG_X: u32 = 64u;
override WG_Y: u32 = 1u;
override TM: u32 = 4u;
const MAX_TM = 8u;

fn at(v: array<vec4<u32>, 2>, d: u32) -> u32 {
  return v[d / 4u][d % 4u];
}

fn ea(i: u32) -> f32 { return a[i >> 2u][i & 3u]; }
fn eb(i: u32) -> f32 { return b[i >> 2u][i & 3u]; }

// Four consecutive stored elements starting at flat index i.
fn a4(i: u32) -> vec4<f32> {
  if (VEC_A) { return a[i >> 2u]; }
  return vec4(ea(i), ea(i + 1u), ea(i + 2u), ea(i + 3u));
}
fn b4(i: u32) -> vec4<f32> {
  if (VEC_B) { return b[i >> 2u]; }
  return vec4(eb(i), eb(i + 1u), eb(i + 2u), eb(i + 3u));
}

@compute @workgroup_size(WG_X, WG_Y)
fn blocked(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = p.m;
  let N = p.n;
  let K = p.k;
  var rest = wid.z;
  var off_a = 0u;
  var off_b = 0u;
  for (var d = i32(p.batch_rank) - 1; d >= 0; d--) {
    let size = at(p.batch_shape, u32(d));
    off_a += (rest % size) * at(p.batch_stride_a, u32(d));
    off_b += (rest % size) * at(p.batch_stride_b, u32(d));
    rest /= size;
  }
  let row0 = (wid.y * WG_Y + lid.y) * TM;
  let col0 = (wid.x * WG_X + lid.x) * 4u;
  if (row0 >= M || col0 >= N) { return; }

  var acc: array<vec4<f32>, MAX_TM>;
  var rows: array<u32, MAX_TM>;
  for (var i = 0u; i < TM; i++) { rows[i] = min(row0 + i, M - 1u); }
  var cols: array<u32, 4>;
  for (var j = 0u; j < 4u; j++) { cols[j] = min(col0 + j, N - 1u); }

  let k4 = K & ~3u;
  for (var k0 = 0u; k0 < k4; k0 += 4u) {
    // av[i] = A[row i, k0..k0+3]
    var av: array<vec4<f32>, MAX_TM>;
    if (TRANS_A) {
      for (var q = 0u; q < TM; q += 4u) {
        var t: array<vec4<f32>, 4>;
        for (var kk = 0u; kk < 4u; kk++) { t[kk] = a4(off_a + (k0 + kk) * M + row0 + q); }
        for (var i = 0u; i < 4u; i++) { av[q + i] = vec4(t[0][i], t[1][i], t[2][i], t[3][i]); }
      }
    } else {
      for (var i = 0u; i < TM; i++) { av[i] = a4(off_a + rows[i] * K + k0); }
    }
    // bv[kk] = B[k0+kk, col0..col0+3]
    var bv: array<vec4<f32>, 4>;
    if (TRANS_B) {
      var t: array<vec4<f32>, 4>;
      for (var j = 0u; j < 4u; j++) { t[j] = b4(off_b + cols[j] * K + k0); }
      for (var kk = 0u; kk < 4u; kk++) { bv[kk] = vec4(t[0][kk], t[1][kk], t[2][kk], t[3][kk]); }
    } else {
      for (var kk = 0u; kk < 4u; kk++) { bv[kk] = b4(off_b + (k0 + kk) * N + col0); }
    }
    for (var i = 0u; i < TM; i++) {
      acc[i] += av[i].x * bv[0] + av[i].y * bv[1] + av[i].z * bv[2] + av[i].w * bv[3];
    }
  }
  for (var k = k4; k < K; k++) {
    var bk: vec4<f32>;
    for (var j = 0u; j < 4u; j++) {
      bk[j] = eb(off_b + select(k * N + cols[j], cols[j] * K + k, TRANS_B));
    }
    for (var i = 0u; i < TM; i++) {
      acc[i] += ea(off_a + select(rows[i] * K + k, k * M + rows[i], TRANS_A)) * bk;
    }
  }
  let off_c = wid.z * M * N;
  for (var i = 0u; i < TM; i++) {
    if (row0 + i >= M) { break; }
    for (var j = 0u; j < 4u; j++) {
      if (col0 + j < N) { c[off_c + (row0 + i) * N + col0 + j] = acc[i][j]; }
    }
  }
}
