// Cross-entropy of logits against integer targets, fused with its gradient.
//
// Layout: logits and grad are contiguous [rows, len] (len = the number of classes); targets,
// loss are [rows]; divisor is one u32.
//   count     divisor = number of rows whose target is not ignore_index (for a 'mean' whose
//             targets have no CPU copy; otherwise the host uploads the divisor)
//   forward   with m = max(x), s = sum(exp(x - m)), scale = 1 / max(divisor, 1):
//             loss[r]    = (log(s) - (x[t] - m)) * scale           = (logsumexp(x) - x[t]) * scale
//             grad[r, j] = (exp(x[j] - m) / s - [j == t]) * scale  (only when NEED_GRAD)
//             Rows whose target is ignore_index get loss 0 and gradient 0; the max(.., 1) makes a
//             mean over no rows 0, not NaN. A target outside 0..len-1 (only possible when the
//             targets were made on the GPU; the host rejects them otherwise) gives NaN rather
//             than a read outside the row.
// The host sums `loss` for 'sum' and 'mean' (the scale already divides by the count), and the
// backward only multiplies `grad` by the upstream gradient.
//
// Tiling: as in softmax.wgsl (the rationale is in its header): TPR lanes per row, WG / TPR rows
// per workgroup, partial max/sum combined in workgroup memory; TPR = 1 on lavapipe, where the
// helper folds away. The helper is repeated here because WGSL has no includes. As in softmax,
// the forward stores exp(x - m) while summing and rescales it in place. `count` is one workgroup
// whose invocations count a strided share of the targets and add them with one integer atomic:
// integer sums are exact, so the result does not depend on the order.

struct Params {
  rows: u32,
  len: u32,
  ignore_index: i32,
  nan: f32,   // NaN, from the host: a WGSL constant expression may not be NaN
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read> divisor: array<u32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;
@group(0) @binding(6) var<storage, read_write> count_out: array<u32>;

override WG: u32 = 64u;
override TPR: u32 = 1u;
override NEED_GRAD: bool = true;

const LOWEST: f32 = -3.4028234663852886e38;

var<workgroup> scratch: array<f32, WG>;
var<workgroup> counted: atomic<u32>;

// Combines one value per lane into the row's max (or sum), returned to every lane of the row.
// Contains barriers: every invocation of the workgroup must call it, live row or not.
fn row_reduce(v: f32, lid: u32, is_max: bool) -> f32 {
  if (TPR == 1u) { return v; }
  scratch[lid] = v;
  workgroupBarrier();
  let lane = lid % TPR;
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      let a = scratch[lid];
      let b = scratch[lid + s];
      scratch[lid] = select(a + b, max(a, b), is_max);
    }
    workgroupBarrier();
  }
  let r = scratch[lid - lane];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = (wid.x + wid.y * nwg.x) * (WG / TPR) + lid / TPR;
  let lane = lid % TPR;
  let live = row < p.rows;
  let base = row * p.len;
  var t = p.ignore_index;
  if (live) { t = targets[row]; }
  let ignored = t == p.ignore_index;
  let in_range = t >= 0 && u32(t) < p.len;
  // Ignored and idle rows skip the loops; they still take part in the barriers.
  let end = select(0u, p.len, live && !ignored);

  var m = LOWEST;
  for (var j = lane; j < end; j += TPR) { m = max(m, logits[base + j]); }
  m = row_reduce(m, lid, true);
  var s = 0.0;
  for (var j = lane; j < end; j += TPR) {
    let e = exp(logits[base + j] - m);
    if (NEED_GRAD) { grad[base + j] = e; }
    s += e;
  }
  s = row_reduce(s, lid, false);

  let scale = 1.0 / f32(max(divisor[0], 1u));
  if (NEED_GRAD && live) {
    let inv = 1.0 / s;
    if (ignored) {
      for (var j = lane; j < p.len; j += TPR) { grad[base + j] = 0.0; }
    } else {
      for (var j = lane; j < p.len; j += TPR) {
        let onehot = select(0.0, 1.0, i32(j) == t);
        grad[base + j] = select(p.nan, (grad[base + j] * inv - onehot) * scale, in_range);
      }
    }
  }
  if (live && lane == 0u) {
    var l = 0.0;
    if (!ignored) {
      if (in_range) { l = (log(s) - (logits[base + u32(t)] - m)) * scale; } else { l = p.nan; }
    }
    loss[row] = l;
  }
}

@compute @workgroup_size(WG)
fn count(@builtin(local_invocation_index) lid: u32) {
  var c = 0u;
  for (var i = lid; i < p.rows; i += WG) { c += select(1u, 0u, targets[i] == p.ignore_index); }
  atomicAdd(&counted, c);
  workgroupBarrier();
  if (lid == 0u) { count_out[0] = atomicLoad(&counted); }
}
