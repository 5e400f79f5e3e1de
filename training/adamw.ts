// AdamW over a list of parameters, one kernel dispatch per step for all of them
// (kernels/adamw.wgsl), with optional clipping by global gradient norm (training/clip.ts).
//
// Parameters live in their own buffers (the model owns them) and WebGPU cannot bind a variable
// number of buffers to one dispatch. So the optimizer owns four flat tensors in one FlatLayout
// (engine/flat.ts): weights, gradients, and the moments m and v. A step records, in one command
// stream and without reading anything back:
//   copies of every parameter and gradient into the flat weights and gradients,
//   the global norm and clip factor (two small dispatches; the factor stays on the GPU),
//   the one AdamW dispatch over the whole flat array,
//   copies of the flat weights back into the parameters.
// The copies cost about as much memory traffic again as the update itself, which is small next
// to a forward and backward pass; in exchange parameters stay ordinary tensors, and whatever
// writes them between steps (a checkpoint load) is what the next step starts from.

import { Kernel, grid } from '../engine/kernel.ts';
import { Tensor, fmtShape, keep } from '../engine/tensor.ts';
import { FlatLayout } from '../engine/flat.ts';
import { clipStats } from './clip.ts';

const WG = 64;
const PER_THREAD = 4;
const kernel = new Kernel('adamw');

export interface AdamWOptions {
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay: each step takes lr * weightDecay * w off w (as PyTorch's AdamW). Default 0. */
  weightDecay?: number;
  /** Which parameters weight decay applies to (default all); e.g. leave out norm gains. */
  decay?: (param: Tensor, index: number) => boolean;
  /** Divide the moments by (1 - beta^t). Default true. */
  biasCorrection?: boolean;
  /** Clip gradients to this global L2 norm before the update; 0 (the default) does not clip. */
  maxGradNorm?: number;
}

/** The optimizer state, per parameter in the order given to the constructor. */
export interface AdamWState {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

export class AdamW {
  readonly params: readonly Tensor[];
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;
  private readonly biasCorrection: boolean;
  private readonly maxGradNorm: number;
  /** Parameter indices in layout order: decayed parameters first. */
  private readonly order: number[];
  private readonly layout: FlatLayout;
  /** vec4s of the flat arrays that weight decay applies to. */
  private readonly decayEnd: number;
  private weights: Tensor;
  private grads: Tensor;
  private m: Tensor;
  private v: Tensor;
  /** [norm, scale] of the last step (training/clip.ts). */
  private stats: Tensor | null = null;
  private t = 0;

  constructor(params: readonly Tensor[], options: AdamWOptions = {}) {
    const { beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0, biasCorrection = true, maxGradNorm = 0 } = options;
    for (const [name, b] of [['beta1', beta1], ['beta2', beta2]] as const) {
      if (!(b >= 0 && b < 1)) throw new Error(`AdamW: ${name} must be in [0, 1), got ${b}`);
    }
    for (const [name, x] of [['eps', eps], ['weightDecay', weightDecay], ['maxGradNorm', maxGradNorm]] as const) {
      if (!(x >= 0 && Number.isFinite(x))) throw new Error(`AdamW: ${name} must be finite and >= 0, got ${x}`);
    }
    if (params.length === 0) throw new Error('AdamW: no parameters');
    params.forEach((p, i) => {
      if (!p.requiresGrad || p.dtype !== 'f32' || p.node) {
        throw new Error(`AdamW: parameter ${i} (${p}) must be an f32 leaf tensor with requiresGrad (see param())`);
      }
      if (params.indexOf(p) !== i) throw new Error(`AdamW: parameter ${i} (${p}) is listed twice`);
    });
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.biasCorrection = biasCorrection;
    this.maxGradNorm = maxGradNorm;
    this.params = [...params];

    const decays = params.map((p, i) => options.decay?.(p, i) ?? true);
    const indices = params.map((_, i) => i);
    this.order = [...indices.filter((i) => decays[i]), ...indices.filter((i) => !decays[i])];
    this.layout = new FlatLayout(this.order.map((i) => params[i].shape));
    const firstExempt = decays.filter(Boolean).length;
    this.decayEnd = (firstExempt < params.length ? this.layout.offsets[firstExempt] : this.layout.length) / 4;
    [this.weights, this.grads, this.m, this.v] = [0, 1, 2, 3].map(() => this.layout.zeros());
  }

  /** Updates taken so far (the t of the bias correction). */
  get stepCount(): number {
    return this.t;
  }

  /**
   * One update of every parameter from its `.grad`, at learning rate `lr`. A parameter without a
   * gradient counts as a zero gradient (its moments decay and it keeps moving, as in optax).
   * `gradScale` multiplies the gradients before the norm is taken and clipped.
   */
  step(lr: number, options: { gradScale?: number } = {}): void {
    if (!(lr >= 0 && Number.isFinite(lr))) throw new Error(`AdamW.step: lr must be finite and >= 0, got ${lr}`);
    const params = this.order.map((i) => this.params[i]);
    const grads = params.map((p) => p.grad);
    if (grads.every((g) => g === null)) throw new Error('AdamW.step: no parameter has a gradient; call backward() first');
    const t = this.t + 1;

    this.layout.gather(params, this.weights);
    this.layout.gather(grads, this.grads);
    const stats = keep(clipStats(this.grads, { maxNorm: this.maxGradNorm, gradScale: options.gradScale }));
    this.stats?.dispose();
    this.stats = stats;

    const bc1 = this.biasCorrection ? 1 - this.beta1 ** t : 1;
    const bc2 = this.biasCorrection ? 1 - this.beta2 ** t : 1;
    const n = this.layout.length / 4;
    const label = `adamw ${params.length} tensors, ${this.layout.length} elements`;
    kernel.dispatch({
      label,
      buffers: {
        weights: this.weights.arg(label),
        grads: this.grads.arg(label),
        m: this.m.arg(label),
        v: this.v.arg(label),
        clip: stats.arg(label),
      },
      params: {
        n,
        decay_end: this.decayEnd,
        beta1: this.beta1,
        one_minus_beta1: 1 - this.beta1,
        beta2: this.beta2,
        one_minus_beta2: 1 - this.beta2,
        step_size: lr / bc1,
        inv_sqrt_bc2: 1 / Math.sqrt(bc2),
        eps: this.eps,
        decay: lr * this.weightDecay,
      },
      constants: { WG, PER_THREAD },
      workgroups: grid(n, WG * PER_THREAD),
    });
    this.layout.scatter(this.weights, params);
    this.t = t;
  }

  /** Disposes every parameter's gradient, so the next backward() starts from zero. */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** The global gradient norm of the last step (after gradScale, before clipping); waits for the GPU. */
  async gradNorm(): Promise<number> {
    if (!this.stats) throw new Error('AdamW.gradNorm: no step has been taken yet');
    return (await this.stats.toArray())[0];
  }

  /** A copy of the moments and step count, for a checkpoint. */
  async exportState(): Promise<AdamWState> {
    const [m, v] = await Promise.all([this.m.toArray(), this.v.toArray()]);
    return { step: this.t, m: this.inParamOrder(this.layout.split(m)), v: this.inParamOrder(this.layout.split(v)) };
  }

  /** Restores exported state, so that the next step continues exactly where it left off. */
  importState(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0) throw new Error(`AdamW.importState: invalid step ${state.step}`);
    for (const [name, arrays] of [['m', state.m], ['v', state.v]] as const) {
      if (arrays.length !== this.params.length) {
        throw new Error(`AdamW.importState: ${name} has ${arrays.length} arrays for ${this.params.length} parameters`);
      }
      arrays.forEach((a, i) => {
        if (a.length !== this.params[i].size) {
          throw new Error(`AdamW.importState: ${name}[${i}] has ${a.length} values, parameter ${i} is ${fmtShape(this.params[i].shape)}`);
        }
      });
    }
    const upload = (arrays: Float32Array[]) =>
      keep(Tensor.fromData(this.layout.join(this.order.map((i) => arrays[i])), [this.layout.length]));
    const [m, v] = [upload(state.m), upload(state.v)];
    this.m.dispose();
    this.v.dispose();
    [this.m, this.v, this.t] = [m, v, state.step];
  }

  /** Frees the optimizer's GPU memory (the parameters are untouched). */
  dispose(): void {
    for (const t of [this.weights, this.grads, this.m, this.v, this.stats]) t?.dispose();
    this.stats = null;
  }

  private inParamOrder(arrays: Float32Array[]): Float32Array[] {
    const out = new Array<Float32Array>(arrays.length);
    this.order.forEach((i, j) => (out[i] = arrays[j]));
    return out;
  }
}
