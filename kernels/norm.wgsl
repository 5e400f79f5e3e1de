// Layer norm and RMS norm over the last axis, and their fused backward pass.
//
// Layout: x, y, g, dx are contiguous [rows, len]; weight, bias, dweight, dbias are [len];
// stats is [rows, 2] = (shift, rstd) per row, written by the forward for the backward.
//   layer norm   y = (x - mean) * rstd * weight + bias      rstd = 1 / sqrt(var(x) + eps)
//   RMS (T5)     y = x * rstd * weight                      rstd = 1 / sqrt(mean(x^2) + eps)
//                (mean is taken as 0: no centering, no bias)
// Accuracy when |mean| >> std (activations riding on a large offset): the mean is summed from
// x - pivot, the pivot being the row's first value, so the sum holds small numbers; x - pivot is
// exact in float32, and the centred value is (x - pivot) - shift with shift = mean - pivot, never
// x - mean with a mean rounded at the offset's magnitude. The variance is then summed from the
// centred values in a second pass, not as E[x^2] - mean^2, which cancels catastrophically.
// Backward, with xhat = (x - mean) * rstd and gh = g * weight:
//   dx       = rstd * (gh - mean(gh) - xhat * mean(gh * xhat))    (RMS: no mean(gh) term)
//   dweight  = sum over rows of g * xhat,   dbias = sum over rows of g
// With ACCUMULATE, dx also adds dx_in: the gradient x already has from its other consumers (the
// residual stream), so autograd needs no separate add.
//
// Tiling: as in softmax.wgsl (the rationale is in its header): TPR lanes per row, WG / TPR rows
// per workgroup, partial sums combined in workgroup memory; TPR = 1 on lavapipe, where the
// helper folds away. The helper is repeated here because WGSL has no includes; it reduces vec2
// so that the backward's two sums share one set of barriers.
//
// The parameter gradients take two dispatches in all, with no float atomics (deterministic):
// - `backward`: the lanes of a row take GROUP_ROWS consecutive rows (a group) instead of one.
//   They first walk the group row by row for its two means, kept per row in a private array
//   indexed by the row counter; then column by column, the group's rows inside, writing dx and
//   summing g * xhat (and g) of the column over the group in a register: one partial row per
//   group, part = [1 or 2 (with a bias), groups, len] (weight's, then bias's), instead of a
//   [rows, len] product per parameter summed by two more reduce passes. Column-major within the
//   group needs no bound on len (a private row of per-column sums would), reads weight once per
//   column of the group, and touches at most MAX_GROUP_ROWS rows at a time (cache-resident).
//   On lavapipe, where each lane's own buffer address costs a scalar loop per lane, the private
//   array's index is the same in every lane (one vector operation), and the partial store is
//   paid once per GROUP_ROWS values.
// - `param_grads`: one invocation per value of dweight (and dbias) sums its column over the
//   groups in order. The host keeps the groups few (engine/ops/norm.ts).

struct Params {
  rows: u32,
  len: u32,
  eps: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats_out: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;
@group(0) @binding(6) var<storage, read> stats: array<f32>;
@group(0) @binding(7) var<storage, read> g: array<f32>;
@group(0) @binding(8) var<storage, read_write> dx: array<f32>;
@group(0) @binding(9) var<storage, read_write> part: array<f32>;   // [2, groups, len] partial sums
@group(0) @binding(10) var<storage, read> dx_in: array<f32>;   // ACCUMULATE: added to dx
@group(0) @binding(11) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(12) var<storage, read_write> dbias: array<f32>;   // written with HAS_BIAS

override WG: u32 = 64u;
override ACCUMULATE: bool = false;
override TPR: u32 = 1u;
override RMS: bool = false;
override HAS_BIAS: bool = false;
override GROUP_ROWS: u32 = 1u;   // backward: rows per group, at most MAX_GROUP_ROWS
const MAX_GROUP_ROWS = 16u;

var<workgroup> scratch: array<vec2<f32>, WG>;

// The row's total of one value per lane, returned to every lane of the row. Contains barriers:
// every invocation of the workgroup must call it, live row or not.
fn row_sum(v: vec2<f32>, lid: u32) -> vec2<f32> {
  if (TPR == 1u) { return v; }
  scratch[lid] = v;
  workgroupBarrier();
  let lane = lid % TPR;
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { scratch[lid] += scratch[lid + s]; }
    workgroupBarrier();
  }
  let r = scratch[lid - lane];
  workgroupBarrier();
  return r;
}

struct Row {
  index: u32,
  base: u32,   // offset of the row's first value
  lane: u32,
  end: u32,    // the row length, or 0 for the idle lanes past the last row
}

// Which row (forward) or group (backward) the lanes of `lid` take.
fn slot(lid: u32, wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return (wid.x + wid.y * nwg.x) * (WG / TPR) + lid / TPR;
}

fn row_at(index: u32, lid: u32) -> Row {
  return Row(index, index * p.len, lid % TPR, select(0u, p.len, index < p.rows));
}

// The value the row is centred around before summing: its first value (RMS norm: 0).
fn pivot(r: Row) -> f32 {
  if (RMS || r.end == 0u) { return 0.0; }
  return x[r.base];
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = row_at(slot(lid, wid, nwg), lid);
  let n = f32(p.len);
  let pv = pivot(r);
  var shift = 0.0;
  if (!RMS) {
    var s = 0.0;
    for (var j = r.lane; j < r.end; j += TPR) { s += x[r.base + j] - pv; }
    shift = row_sum(vec2(s, 0.0), lid).x / n;
  }
  var q = 0.0;
  for (var j = r.lane; j < r.end; j += TPR) {
    let d = (x[r.base + j] - pv) - shift;
    q += d * d;
  }
  let rstd = inverseSqrt(row_sum(vec2(q, 0.0), lid).x / n + p.eps);
  for (var j = r.lane; j < r.end; j += TPR) {
    var v = ((x[r.base + j] - pv) - shift) * rstd * weight[j];
    if (HAS_BIAS) { v += bias[j]; }
    y[r.base + j] = v;
  }
  if (r.lane == 0u && r.index < p.rows) {
    stats_out[2u * r.index] = shift;
    stats_out[2u * r.index + 1u] = rstd;
  }
}

// What the column walk needs of each row of the group.
struct RowGrad {
  pivot: f32,
  shift: f32,
  rstd: f32,
  centre: f32,   // mean(gh), 0 for RMS
  slope: f32,    // mean(gh * xhat)
}

@compute @workgroup_size(WG)
fn backward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let group = slot(lid, wid, nwg);
  let first = group * GROUP_ROWS;
  var per_row: array<RowGrad, MAX_GROUP_ROWS>;
  for (var k = 0u; k < GROUP_ROWS; k++) {
    let r = row_at(first + k, lid);
    let pv = pivot(r);
    var shift = 0.0;
    var rstd = 0.0;
    if (r.index < p.rows) {
      shift = stats[2u * r.index];
      rstd = stats[2u * r.index + 1u];
    }
    var acc = vec2(0.0);
    for (var j = r.lane; j < r.end; j += TPR) {
      let xh = ((x[r.base + j] - pv) - shift) * rstd;
      let gh = g[r.base + j] * weight[j];
      acc += vec2(gh, gh * xh);
    }
    let m = row_sum(acc, lid) / f32(p.len);
    per_row[k] = RowGrad(pv, shift, rstd, select(m.x, 0.0, RMS), m.y);
  }
  let groups = (p.rows + GROUP_ROWS - 1u) / GROUP_ROWS;
  let end = select(0u, p.len, group < groups);
  for (var j = lid % TPR; j < end; j += TPR) {
    let w = weight[j];
    var dw = 0.0;
    var db = 0.0;
    for (var k = 0u; k < GROUP_ROWS; k++) {
      if (first + k < p.rows) {
        let s = per_row[k];
        let i = (first + k) * p.len + j;
        let gi = g[i];
        let xh = ((x[i] - s.pivot) - s.shift) * s.rstd;
        var d = s.rstd * (gi * w - s.centre - xh * s.slope);
        if (ACCUMULATE) { d += dx_in[i]; }
        dx[i] = d;
        dw += gi * xh;
        db += gi;
      }
    }
    part[group * p.len + j] = dw;
    if (HAS_BIAS) { part[(groups + group) * p.len + j] = db; }
  }
}

// One invocation per value of dweight, then of dbias: its column of `part` summed over the
// groups in order.
@compute @workgroup_size(WG)
fn param_grads(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = gid.x + gid.y * nwg.x * WG;
  let outputs = select(1u, 2u, HAS_BIAS) * p.len;
  if (c >= outputs) { return; }
  let groups = (p.rows + GROUP_ROWS - 1u) / GROUP_ROWS;
  let j = c % p.len;
  let at = (c / p.len) * groups * p.len + j;
  var s = 0.0;
  for (var k = 0u; k < groups; k++) { s += part[at + k * p.len]; }
  if (c < p.len) { dweight[j] = s; } else { dbias[j] = s; }
}
