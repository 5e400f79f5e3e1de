// Gradient clipping by global norm (kernels/clip.wgsl), computed and applied without the CPU;
// training/adamw.ts decides when to clip and to what norm.
//
// The norm is reduced on the GPU into a two-element tensor [norm, scale]; the AdamW update
// (engine/ops/adamw.ts) binds that tensor and multiplies each gradient by `scale` as it reads it,
// so clipping adds one read of the gradients (the norm) and nothing else. The norm can be read
// back for logging whenever the caller chooses to wait for it.

import { Kernel } from '../kernel.ts';
import { Tensor, fmtShape } from '../tensor.ts';

const WG = 64;
/** Each partial sum covers at least this many vec4s, and one flat tensor has at most MAX_PARTIALS. */
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
 * For the gradients of all parameters packed into flat f32 tensors (engine/flat.ts: one, or one
 * per group when they do not fit in one storage binding), returns a new [2] tensor [norm, scale]
 * over all of them: norm = gradScale * ||g||, and scale = gradScale * min(1, maxNorm / (norm +
 * 1e-6)) (gradScale alone without maxNorm), the factor that clips g.
 */
export function clipStats(grads: Tensor | readonly Tensor[], options: ClipOptions = {}): Tensor {
  const { maxNorm = 0, gradScale = 1 } = options;
  const flats = grads instanceof Tensor ? [grads] : grads;
  if (flats.length === 0) throw new Error('clipStats: no gradients');
  const label = `clipStats ${flats.map((g) => fmtShape(g.shape)).join(' ')}`;
  for (const g of flats) {
    if (g.dtype !== 'f32' || g.rank !== 1 || g.size % 4 !== 0) {
      throw new Error(`${label}: expects a flat f32 tensor whose length is a multiple of 4 (a FlatLayout), got ${g.dtype} ${fmtShape(g.shape)}`);
    }
  }
  if (!(maxNorm >= 0 && Number.isFinite(maxNorm))) throw new Error(`${label}: maxNorm must be finite and >= 0, got ${maxNorm}`);
  if (!(gradScale > 0 && Number.isFinite(gradScale))) throw new Error(`${label}: gradScale must be finite and > 0, got ${gradScale}`);

  // Each flat tensor is a binding of its own, so each gets its own partial-sums dispatch; they
  // write side by side into one partials tensor, which the finish pass reduces to the global norm.
  const workgroups = flats.map((g) => {
    const n = g.size / 4;
    return Math.max(1, Math.min(Math.ceil(n / (WG * MIN_PER_INVOCATION)), MAX_PARTIALS / WG));
  });
  const partials = Tensor.empty([workgroups.reduce((a, b) => a + b) * WG]);
  let first = 0;
  flats.forEach((g, i) => {
    partialKernel.dispatch({
      label: `${label} partial sums`,
      buffers: { x: g.arg(label), partials: partials.arg(label) },
      params: { n: g.size / 4, first },
      constants: { WG },
      workgroups: [workgroups[i]],
    });
    first += workgroups[i] * WG;
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
