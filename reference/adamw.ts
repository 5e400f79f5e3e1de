// float64 reference of AdamW with clipping by global norm: what training/adamw.ts computes with
// engine/ops/clip.ts and engine/ops/adamw.ts.

import { globalNorm } from './clip.ts';

/** training/adamw.ts's AdamWOptions, without its tensors: `decay` is called with the index only,
 *  so an options object written for the optimizer works here as it is. */
export interface AdamWReferenceOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  decay?: (param: never, index: number) => boolean;
  biasCorrection?: boolean;
  maxGradNorm?: number;
}

/** AdamW in float64, written from the paper's and PyTorch's definition. */
export class AdamW {
  m: Float64Array[];
  v: Float64Array[];
  t = 0;
  constructor(
    public w: Float64Array[],
    private o: AdamWReferenceOptions,
  ) {
    this.m = w.map((x) => new Float64Array(x.length));
    this.v = w.map((x) => new Float64Array(x.length));
  }

  step(grads: (ArrayLike<number> | null)[], lr: number, gradScale = 1): void {
    const { beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0, biasCorrection = true, maxGradNorm = 0 } = this.o;
    const g = grads.map((x, i) => Float64Array.from(x ?? new Float64Array(this.w[i].length), (y) => y * gradScale));
    const norm = globalNorm(g);
    const clip = maxGradNorm > 0 ? Math.min(1, maxGradNorm / (norm + 1e-6)) : 1;
    this.t += 1;
    const bc1 = biasCorrection ? 1 - beta1 ** this.t : 1;
    const bc2 = biasCorrection ? 1 - beta2 ** this.t : 1;
    this.w.forEach((w, i) => {
      const decays = this.o.decay ? this.o.decay(null as never, i) : true;
      for (let j = 0; j < w.length; j++) {
        const gj = g[i][j] * clip;
        this.m[i][j] = beta1 * this.m[i][j] + (1 - beta1) * gj;
        this.v[i][j] = beta2 * this.v[i][j] + (1 - beta2) * gj * gj;
        const mHat = this.m[i][j] / bc1;
        const vHat = this.v[i][j] / bc2;
        if (decays) w[j] -= lr * weightDecay * w[j];
        w[j] -= (lr * mHat) / (Math.sqrt(vHat) + eps);
      }
    });
  }
}
