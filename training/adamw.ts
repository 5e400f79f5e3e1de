// AdamW over a list of parameters, one kernel dispatch per step for all of them
// (engine/ops/adamw.ts) as long as they fit in one storage binding, with optional clipping by
// global gradient norm (engine/ops/clip.ts). This file is the policy: groups, decay, state.
//
// Parameters live in their own buffers (the model owns them) and WebGPU cannot bind a variable
// number of buffers to one dispatch. So the optimizer owns four flat tensors in one FlatLayout
// (engine/flat.ts): weights, gradients, and the moments m and v. A step records, in one command
// stream and without reading anything back:
//   copies of every parameter and gradient into the flat weights and gradients,
//   the global norm and clip factor (small dispatches; the factor stays on the GPU),
//   the one AdamW dispatch over the whole flat array,
//   copies of the flat weights back into the parameters.
// The copies cost about as much memory traffic again as the update itself, which is small next
// to a forward and backward pass; in exchange parameters stay ordinary tensors, and whatever
// writes them between steps (a checkpoint load) is what the next step starts from.
//
// Groups. A kernel binds each flat tensor whole, and one binding holds at most
// maxStorageBufferBindingSize bytes: 128 MiB (33.5M floats) on lavapipe and many GPUs, less than
// t5-small's 60.5M parameters. Parameters that do not fit are split into groups, each with its own
// four flat tensors and its own AdamW dispatch, as few groups as first-fit decreasing packing finds
// (see packGroups). Nothing else changes: the update is elementwise, so it does not care which
// group an element is in, and the gradient norm stays global, because every group's partial sums
// of squares are reduced into the one [norm, scale] tensor that all the updates read. A single
// parameter larger than one binding cannot be packed at all (no kernel could bind it, in the
// optimizer or in the model), so the constructor refuses it.

import { FlatLayout, Tensor, adamwUpdate, clipStats, engine, fmtShape, keep, segmentLength } from '../engine/index.ts';

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
  /**
   * The most elements one group's flat tensors may hold. The default, and the most it can be, is
   * what one storage binding holds (maxStorageBufferBindingSize / 4); a smaller value is for tests
   * and tuning (it splits even a small model into several groups).
   */
  maxFlatElements?: number;
}

/** The optimizer state, per parameter in the order given to the constructor. */
export interface AdamWState {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

/** Parameters updated by one AdamW dispatch, from their own four flat tensors. */
interface Group {
  /** Parameter indices in layout order: decayed parameters first, each part in constructor order. */
  readonly indices: readonly number[];
  readonly layout: FlatLayout;
  /** Elements of the flat arrays that weight decay applies to (a multiple of 4). */
  readonly decayEnd: number;
  weights: Tensor;
  grads: Tensor;
  m: Tensor;
  v: Tensor;
}

export class AdamW {
  readonly params: readonly Tensor[];
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;
  private readonly biasCorrection: boolean;
  private readonly maxGradNorm: number;
  private readonly groups: Group[];
  /** [norm, scale] of the last step, over all groups (engine/ops/clip.ts). */
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

    const limit = flatLimit(options.maxFlatElements);
    params.forEach((p, i) => {
      if (p.size > limit.elements) {
        throw new Error(
          `AdamW: parameter ${i} ${fmtShape(p.shape)} has ${p.size} elements, more than one flat tensor may hold ` +
            `(${limit.elements}, ${limit.source})`,
        );
      }
    });
    const decays = params.map((p, i) => options.decay?.(p, i) ?? true);
    this.groups = packGroups(params.map((p) => p.size), limit.elements).map((members) => {
      const decayed = members.filter((i) => decays[i]);
      const indices = [...decayed, ...members.filter((i) => !decays[i])];
      const layout = new FlatLayout(indices.map((i) => params[i].shape));
      const decayEnd = decayed.length < indices.length ? layout.offsets[decayed.length] : layout.length;
      const [weights, grads, m, v] = [0, 1, 2, 3].map(() => layout.zeros());
      return { indices, layout, decayEnd, weights, grads, m, v };
    });
  }

  /** AdamW dispatches per step: 1 unless the parameters do not fit in one storage binding. */
  get groupCount(): number {
    return this.groups.length;
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
    if (this.params.every((p) => p.grad === null)) throw new Error('AdamW.step: no parameter has a gradient; call backward() first');
    const t = this.t + 1;
    const groupParams = this.groups.map((g) => g.indices.map((i) => this.params[i]));

    // Copies end the open compute pass (engine/runtime.ts), so every group's copies are recorded
    // together rather than between the dispatches.
    this.groups.forEach((g, k) => {
      g.layout.gather(groupParams[k], g.weights);
      g.layout.gather(groupParams[k].map((p) => p.grad), g.grads);
    });
    const stats = keep(clipStats(this.groups.map((g) => g.grads), { maxNorm: this.maxGradNorm, gradScale: options.gradScale }));
    this.stats?.dispose();
    this.stats = stats;

    const bc1 = this.biasCorrection ? 1 - this.beta1 ** t : 1;
    const bc2 = this.biasCorrection ? 1 - this.beta2 ** t : 1;
    this.groups.forEach((g, k) => {
      const label = `adamw ${g.indices.length} tensors, ${g.layout.length} elements (group ${k + 1} of ${this.groups.length})`;
      adamwUpdate(label, { weights: g.weights, grads: g.grads, m: g.m, v: g.v, clip: stats }, {
        decayEnd: g.decayEnd,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        stepSize: lr / bc1,
        invSqrtBc2: 1 / Math.sqrt(bc2),
        decay: lr * this.weightDecay,
      });
    });
    this.groups.forEach((g, k) => g.layout.scatter(g.weights, groupParams[k]));
    this.t = t;
  }

  /** Disposes every parameter's gradient, so the next backward() starts from zero. */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** [global gradient norm, clip scale] of the last step, still on the GPU (the norm is after
   *  gradScale, before clipping). Valid until the next step. */
  lastStats(what = 'AdamW.lastStats'): Tensor {
    if (!this.stats) throw new Error(`${what}: no step has been taken yet`);
    return this.stats;
  }

  /** The global gradient norm of the last step; waits for the GPU. */
  async gradNorm(): Promise<number> {
    return (await this.lastStats('AdamW.gradNorm').toArray())[0];
  }

  /** A copy of the moments and step count, for a checkpoint. */
  async exportState(): Promise<AdamWState> {
    const m = new Array<Float32Array>(this.params.length);
    const v = new Array<Float32Array>(this.params.length);
    await Promise.all(
      this.groups.map(async (g) => {
        const [gm, gv] = await Promise.all([g.m.toArray(), g.v.toArray()]);
        const [ms, vs] = [g.layout.split(gm), g.layout.split(gv)];
        g.indices.forEach((i, j) => ([m[i], v[i]] = [ms[j], vs[j]]));
      }),
    );
    return { step: this.t, m, v };
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
    for (const g of this.groups) {
      const upload = (arrays: Float32Array[]) =>
        keep(Tensor.fromData(g.layout.join(g.indices.map((i) => arrays[i])), [g.layout.length]));
      const [m, v] = [upload(state.m), upload(state.v)];
      g.m.dispose();
      g.v.dispose();
      [g.m, g.v] = [m, v];
    }
    this.t = state.step;
  }

  /** Frees the optimizer's GPU memory (the parameters are untouched). */
  dispose(): void {
    for (const g of this.groups) for (const t of [g.weights, g.grads, g.m, g.v]) t.dispose();
    this.stats?.dispose();
    this.stats = null;
  }
}

/** The most elements one group's flat tensors may hold, and where that limit comes from (for errors). */
function flatLimit(requested: number | undefined): { elements: number; source: string } {
  const bytes = engine().device.limits.maxStorageBufferBindingSize;
  // A flat tensor is whole vec4s (engine/flat.ts), so the limit is too.
  const bound = Math.floor(bytes / 16) * 4;
  const source = `maxStorageBufferBindingSize ${bytes} bytes: no kernel can bind a larger tensor, so split the parameter`;
  if (requested === undefined) return { elements: bound, source };
  if (!(Number.isInteger(requested) && requested >= 4)) throw new Error(`AdamW: maxFlatElements must be an integer >= 4, got ${requested}`);
  const elements = Math.floor(requested / 4) * 4;
  return elements < bound ? { elements, source: 'the maxFlatElements option' } : { elements: bound, source };
}

/**
 * Splits parameters of the given sizes into groups whose flat tensors hold at most `limit`
 * elements, by first-fit decreasing: largest first, each into the first group with room. That
 * packs a model's parameters (a few large matrices, many small vectors) into the fewest groups or
 * close to it; when they all fit, it is one group of all of them. Each group's parameter indices
 * come back in constructor order.
 */
function packGroups(sizes: readonly number[], limit: number): number[][] {
  const groups: { members: number[]; used: number }[] = [];
  const largestFirst = sizes.map((_, i) => i).sort((a, b) => sizes[b] - sizes[a]);
  for (const i of largestFirst) {
    const need = segmentLength(sizes[i]);
    let group = groups.find((g) => g.used + need <= limit);
    if (!group) groups.push((group = { members: [], used: 0 }));
    group.members.push(i);
    group.used += need;
  }
  return groups.map((g) => g.members.sort((a, b) => a - b));
}
