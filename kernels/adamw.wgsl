// AdamW (Adam with decoupled weight decay, Loshchilov & Hutter) over every parameter at once.
//
// Layout: the optimizer packs all parameters, their gradients and both moment estimates into four
// flat arrays sharing one layout (engine/flat.ts: one segment per parameter, each starting at a
// multiple of 4 elements, zero padding between). The update is purely elementwise, so one
// dispatch updates every parameter and needs no table of segments. Parameters exempt from weight
// decay are packed last: vec4s from decay_end on skip it. Padding stays zero (g = m = v = 0
// gives a zero update). When the parameters do not fit in one storage binding, training/adamw.ts
// splits them into groups with a layout each, and engine/ops/adamw.ts runs this once per group.
//
// Per element, with g scaled by clip[1] (gradient scale times the global-norm clipping factor,
// over the gradients of every group, written on the GPU by kernels/clip.wgsl, so no read back
// and no extra pass over g):
//   m = beta1 m + (1 - beta1) g
//   v = beta2 v + (1 - beta2) g^2
//   w = w - lr wd w - step_size m / (sqrt(v) inv_sqrt_bc2 + eps)
// where the host folds the bias corrections into step_size = lr / (1 - beta1^t) and
// inv_sqrt_bc2 = 1 / sqrt(1 - beta2^t) (lr and 1 without bias correction), and passes
// 1 - beta as computed in float64: 1 - f32(0.999) is off by 1e-5 relative.
//
// Each invocation updates PER_THREAD vec4s, WG apart, so neighbouring invocations touch
// neighbouring memory (coalesced on GPUs, contiguous SIMD rows on lavapipe); vec4 loads because
// the software adapter streams them about twice as fast as scalars.

struct Params {
  n: u32,               // vec4s in each array
  decay_end: u32,       // vec4s [0, decay_end) get weight decay
  beta1: f32,
  one_minus_beta1: f32,
  beta2: f32,
  one_minus_beta2: f32,
  step_size: f32,
  inv_sqrt_bc2: f32,
  eps: f32,
  decay: f32,           // lr * weight_decay
}

@group(0) @binding(0) var<storage, read_write> weights: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> m: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> clip: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

override WG: u32 = 64u;
override PER_THREAD: u32 = 4u;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let base = (wid.x + wid.y * nwg.x) * WG * PER_THREAD + lid;
  let scale = clip[1];
  for (var k = 0u; k < PER_THREAD; k++) {
    let i = base + k * WG;
    if (i >= p.n) { return; }
    let g = grads[i] * scale;
    let mi = p.beta1 * m[i] + p.one_minus_beta1 * g;
    let vi = p.beta2 * v[i] + p.one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    let w = weights[i];
    let decay = select(0.0, p.decay, i < p.decay_end);
    weights[i] = w - decay * w - p.step_size * mi / (sqrt(vi) * p.inv_sqrt_bc2 + p.eps);
  }
}
