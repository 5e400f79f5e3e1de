// The AdamW update (kernels/adamw.wgsl): one dispatch over four flat tensors of one FlatLayout
// (engine/flat.ts). The optimizer's policy (which parameters, how they are grouped and decayed,
// the learning rate and the bias corrections) lives in training/adamw.ts; this is only the kernel.

import { Kernel, grid } from '../kernel.ts';
import { fmtShape, type Tensor } from '../tensor.ts';

const WG = 64;
const PER_THREAD = 4;
const kernel = new Kernel('adamw');

export interface AdamWFlats {
  weights: Tensor;
  grads: Tensor;
  m: Tensor;
  v: Tensor;
  /** [norm, scale] from clipStats (engine/ops/clip.ts): every gradient is multiplied by scale. */
  clip: Tensor;
}

export interface AdamWUpdate {
  /** Elements [0, decayEnd) get weight decay; a multiple of 4. */
  decayEnd: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** lr / (1 - beta1^t), or lr without bias correction. */
  stepSize: number;
  /** 1 / sqrt(1 - beta2^t), or 1 without bias correction. */
  invSqrtBc2: number;
  /** lr * weightDecay. */
  decay: number;
}

/** Records one AdamW update of `flats.weights` (and the moments) in place. */
export function adamwUpdate(label: string, flats: AdamWFlats, u: AdamWUpdate): void {
  const { weights, grads, m, v, clip } = flats;
  for (const t of [weights, grads, m, v]) {
    if (t.dtype !== 'f32' || t.rank !== 1 || t.size !== weights.size || t.size % 4 !== 0) {
      throw new Error(`${label}: expects four flat f32 tensors of one length, a multiple of 4; got ${t.dtype} ${fmtShape(t.shape)}`);
    }
  }
  const n = weights.size / 4;
  kernel.dispatch({
    label,
    buffers: { weights: weights.arg(label), grads: grads.arg(label), m: m.arg(label), v: v.arg(label), clip: clip.arg(label) },
    params: {
      n,
      decay_end: u.decayEnd / 4,
      beta1: u.beta1,
      // 1 - beta in float64: 1 - f32(0.999) is off by 1e-5 relative (see the kernel)
      one_minus_beta1: 1 - u.beta1,
      beta2: u.beta2,
      one_minus_beta2: 1 - u.beta2,
      step_size: u.stepSize,
      inv_sqrt_bc2: u.invSqrtBc2,
      eps: u.eps,
      decay: u.decay,
    },
    constants: { WG, PER_THREAD },
    workgroups: grid(n, WG * PER_THREAD),
  });
}
