// Gradient clipping by global norm (kernels/clip.wgsl), computed and applied without the CPU.
//
// The norm is reduced on the GPU into a two-element tensor [norm, scale]; the optimizer binds that
// tensor and multiplies each gradient by `scale` as it reads it, so clipping adds one read of the
// gradients (the norm) and nothing else. The norm can be read back for logging whenever the caller
// chooses to wait for it.

import { Kernel } from '../engine/kernel.ts';
import { Tensor, fmtShape } from '../engine/tensor.ts';

const WG = 64;
/** Each partial sum covers at least this many vec4s, and there are at most MAX_PARTIALS. */
const MIN_PER_INVOCATION = 16;
const MAX_PARTIALS = 65536;
const partialKernel = new Kernel('clip', 'partial');
const finishKernel = new Kernel('clip', 'finish');

export interface ClipOptions {
  /** Clip the (scaled) gradient to this global L2 norm; 0 (the default) does not clip. */
  maxNorm?: number;
  /** Multiplies the gradients before anything else (1/accumulation steps, loss-scale undo). */
  gradScale?: number;
}

/**
 * For the gradients of all parameters packed into one flat f32 tensor (engine/flat.ts), returns a
 * new [2] tensor [norm, scale]: norm = gradScale * ||g||, and scale = gradScale * min(1, maxNorm /
 * (norm + 1e-6)) (gradScale alone without maxNorm), the factor that clips g.
 */
export function clipStats(grads: Tensor, options: ClipOptions = {}): Tensor {
  const { maxNorm = 0, gradScale = 1 } = options;
  const label = `clipStats ${fmtShape(grads.shape)}`;
  if (grads.dtype !== 'f32' || grads.rank !== 1 || grads.size % 4 !== 0) {
    throw new Error(`${label}: expects a flat f32 tensor whose length is a multiple of 4 (a FlatLayout), got ${grads.dtype} ${fmtShape(grads.shape)}`);
  }
  if (!(maxNorm >= 0 && Number.isFinite(maxNorm))) throw new Error(`${label}: maxNorm must be finite and >= 0, got ${maxNorm}`);
  if (!(gradScale > 0 && Number.isFinite(gradScale))) throw new Error(`${label}: gradScale must be finite and > 0, got ${gradScale}`);
  const n = grads.size / 4;
  const groups = Math.max(1, Math.min(Math.ceil(n / (WG * MIN_PER_INVOCATION)), MAX_PARTIALS / WG));
  const partials = Tensor.empty([groups * WG]);
  partialKernel.dispatch({
    label: `${label} partial sums`,
    buffers: { x: grads.arg(label), partials: partials.arg(label) },
    params: { n },
    constants: { WG },
    workgroups: [groups],
  });
  const stats = Tensor.empty([2]);
  finishKernel.dispatch({
    label: `${label} finish`,
    buffers: { partials: partials.arg(label), stats: stats.arg(label) },
    params: { count: partials.size, max_norm: maxNorm, grad_scale: gradScale },
    workgroups: [1],
  });
  partials.dispose();
  return stats;
}
