// Softmax and log-softmax over the last axis, and their backward passes.
//
// Layout: x, y, g, dx are contiguous [rows, len]; every row is normalized on its own.
//   forward              y = exp(x - m) / s        m = max(x), s = sum(exp(x - m))
//   forward, LOG         y = x - m - log(s)
//   backward             dx = y * (g - sum(g * y))       (y = the softmax output)
//   backward, LOG        dx = g - exp(y) * sum(g)        (y = the log-softmax output)
// Subtracting the row max keeps every exp() <= 1 and s >= 1: logits of any magnitude neither
// overflow nor underflow to 0/0.
//
// Tiling: TPR invocations ("lanes") share a row, WG / TPR rows per workgroup. Lane k walks
// columns k, k + TPR, ...; the lanes then combine their partial max or sum in workgroup memory,
// a tree of log2(TPR) barrier steps. The host (engine/ops/rows.ts) picks TPR per adapter:
// - real GPUs: 32-256 lanes per row. Neighbouring lanes load neighbouring addresses (coalesced),
//   and a 32k-wide vocabulary row is spread over a whole workgroup instead of one thread.
// - lavapipe: TPR = 1, each invocation walks its whole row alone and the reductions are plain
//   loops. There the invocations of a workgroup are SIMD lanes of CPU threads and every barrier
//   suspends and resumes all of the workgroup's lane groups, while rows are plentiful in
//   training (batch x sequence), so the barrier-free form still keeps both cores busy. Measured
//   there (BENCHMARKS.md), TPR = 1 was fastest on training-sized rows; only a single long row (a
//   vocabulary) gained from lanes, too little to be worth a second policy.
// With TPR = 1 the reduction helper folds away, so one source serves both.
// The forward stores exp(x - m) while summing it and rescales in place, one exp per value
// instead of two (measured faster on lavapipe; BENCHMARKS.md).

struct Params {
  rows: u32,
  len: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;     // forward: logits; backward: y
@group(0) @binding(1) var<storage, read> g: array<f32>;     // backward: upstream gradient
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 64u;
override TPR: u32 = 1u;
override LOG: bool = false;

const LOWEST: f32 = -3.4028234663852886e38;

var<workgroup> scratch: array<f32, WG>;

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

struct Row {
  base: u32,   // offset of the row's first value
  lane: u32,
  end: u32,    // the row length, or 0 for the idle lanes past the last row
}

fn locate(lid: u32, wid: vec3<u32>, nwg: vec3<u32>) -> Row {
  let row = (wid.x + wid.y * nwg.x) * (WG / TPR) + lid / TPR;
  return Row(row * p.len, lid % TPR, select(0u, p.len, row < p.rows));
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = locate(lid, wid, nwg);
  var m = LOWEST;
  for (var j = r.lane; j < r.end; j += TPR) { m = max(m, x[r.base + j]); }
  m = row_reduce(m, lid, true);
  var s = 0.0;
  for (var j = r.lane; j < r.end; j += TPR) {
    let e = exp(x[r.base + j] - m);
    if (!LOG) { out[r.base + j] = e; }
    s += e;
  }
  s = row_reduce(s, lid, false);
  if (LOG) {
    // (x - m) - log(s), not x - (m + log(s)): near |x| = 1000 the latter is off by up to 6e-5.
    let ls = log(s);
    for (var j = r.lane; j < r.end; j += TPR) { out[r.base + j] = (x[r.base + j] - m) - ls; }
  } else {
    let inv = 1.0 / s;
    for (var j = r.lane; j < r.end; j += TPR) { out[r.base + j] *= inv; }
  }
}

@compute @workgroup_size(WG)
fn backward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = locate(lid, wid, nwg);
  var d = 0.0;
  for (var j = r.lane; j < r.end; j += TPR) {
    let i = r.base + j;
    d += select(g[i] * x[i], g[i], LOG);
  }
  d = row_reduce(d, lid, false);
  for (var j = r.lane; j < r.end; j += TPR) {
    let i = r.base + j;
    out[i] = select(x[i] * (g[i] - d), g[i] - exp(x[i]) * d, LOG);
  }
}
