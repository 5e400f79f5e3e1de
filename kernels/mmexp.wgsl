enable subgroups;

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


override WG_X: u32 = 64u;
override SG_TM: u32 = 16u;
const SG_MAX_TM = 32u;
fn st(r: u32, col: u32, v: vec4<f32>) {
  if (r < p.m) {
    let o = r * p.n + col;
    c[o] = v.x; c[o + 1u] = v.y; c[o + 2u] = v.z; c[o + 3u] = v.w;
  }
}
@compute @workgroup_size(WG_X, 1)
fn sg2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
      @builtin(subgroup_invocation_id) sid: u32) {
  let M = p.m;
  let N = p.n;
  let K = p.k;
  let row0 = wid.y * SG_TM;
  let col0 = (wid.x * WG_X + lid.x) * 4u;
  let cb = min(col0, N - 4u);
  var ra: array<u32, SG_MAX_TM / 8u>;
  for (var q = 0u; q < SG_TM / 8u; q++) { ra[q] = min(row0 + 8u * q + (sid & 7u), M - 1u) * K; }
  var acc: array<vec4<f32>, SG_MAX_TM>;
  let k4 = K & ~3u;
  for (var k = 0u; k < k4; k += 4u) {
    let b0 = b[(k * N + cb) >> 2u];
    let b1 = b[((k + 1u) * N + cb) >> 2u];
    let b2 = b[((k + 2u) * N + cb) >> 2u];
    let b3 = b[((k + 3u) * N + cb) >> 2u];
    for (var q = 0u; q < SG_TM / 8u; q++) {
      let mine = a[(ra[q] + k) >> 2u];
      var v = subgroupBroadcast(mine, 0u);
      acc[8u * q] += v.x * b0 + v.y * b1 + v.z * b2 + v.w * b3;
      v = subgroupBroadcast(mine, 1u);
      acc[8u * q + 1u] += v.x * b0 + v.y * b1 + v.z * b2 + v.w * b3;
      v = subgroupBroadcast(mine, 2u);
      acc[8u * q + 2u] += v.x * b0 + v.y * b1 + v.z * b2 + v.w * b3;
      v = subgroupBroadcast(mine, 3u);
      acc[8u * q + 3u] += v.x * b0 + v.y * b1 + v.z * b2 + v.w * b3;
      v = subgroupBroadcast(mine, 4u);
      acc[8u * q + 4u] += v.x * b0 + v.y * b1 + v.z * b2 + v.w * b3;
      v = subgroupBroadcast(mine, 5u);
      acc[8u * q + 5u] += v.x * b0 + v.y * b1 + v.z * b2 + v.w * b3;
      v = subgroupBroadcast(mine, 6u);
      acc[8u * q + 6u] += v.x * b0 + v.y * b1 + v.z * b2 + v.w * b3;
      v = subgroupBroadcast(mine, 7u);
      acc[8u * q + 7u] += v.x * b0 + v.y * b1 + v.z * b2 + v.w * b3;
    }
  }
  if (col0 < N) {
    for (var i = 0u; i < SG_TM; i++) { st(row0 + i, col0, acc[i]); }
  }
}
