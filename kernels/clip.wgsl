// Global gradient norm and the clipping factor, on the GPU, for the gradients of all parameters
// packed into one or more flat arrays (engine/flat.ts packs them; each length is a multiple of 4,
// so they are read as vec4s). There are several arrays when the parameters do not fit in one
// storage binding (training/adamw.ts groups them).
//
// Two entry points:
//   partial: run once per flat array. Invocation t of T sums x[t]^2 + x[t+T]^2 + ... over vec4s
//            into partials[first + t]. The stride T makes neighbouring invocations read
//            neighbouring vec4s (coalesced on GPUs, one contiguous row per SIMD group on lavapipe)
//            with no barrier at all. The host picks T (at most 64K) so that each invocation sums
//            at least 16 vec4s, and gives each array its own range [first, first + T) of one
//            partials buffer, so the sums of every array end up side by side.
//   finish:  run once after them. One workgroup sums the partials of every array (strided, then
//            a tree in workgroup memory: one workgroup, so its few barriers cost nothing
//            noticeable) and writes
//              stats[0] = norm  = grad_scale * sqrt(sum)
//              stats[1] = scale = grad_scale * min(1, max_norm / (norm + 1e-6))  (grad_scale if max_norm is 0)
//            `scale` is what the optimizer multiplies every gradient by, read from this buffer, so
//            clipping needs neither a pass that rescales the gradients nor a read back.

struct PartialParams {
  n: u32,       // vec4s in x
  first: u32,   // where this array's partial sums start in partials
}

struct FinishParams {
  count: u32,        // partials to sum
  max_norm: f32,     // 0 = no clipping
  grad_scale: f32,   // multiplies the gradients before the norm is taken
}

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<uniform> pp: PartialParams;
@group(0) @binding(4) var<uniform> fp: FinishParams;

override WG: u32 = 64u;
const FINISH_WG: u32 = 256u;

var<workgroup> sums: array<f32, FINISH_WG>;

@compute @workgroup_size(WG)
fn partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let stride = nwg.x * WG;
  var acc = 0.0;
  for (var i = gid.x; i < pp.n; i += stride) {
    let a = x[i];
    acc += dot(a, a);
  }
  partials[pp.first + gid.x] = acc;
}

@compute @workgroup_size(FINISH_WG)
fn finish(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var i = lid; i < fp.count; i += FINISH_WG) {
    acc += partials[i];
  }
  sums[lid] = acc;
  for (var half = FINISH_WG / 2u; half > 0u; half /= 2u) {
    workgroupBarrier();
    if (lid < half) { sums[lid] += sums[lid + half]; }
  }
  if (lid == 0u) {
    let norm = fp.grad_scale * sqrt(sums[0]);
    stats[0] = norm;
    let clip = select(1.0, min(1.0, fp.max_norm / (norm + 1e-6)), fp.max_norm > 0.0);
    stats[1] = fp.grad_scale * clip;
  }
}
