// The training loop: bucketed batches, gradient accumulation, fused AdamW with clipping, a
// schedule, periodic evaluation by generation with early stopping, checkpoints that resume the
// same run, and progress reports.
//
// Determinism: the batch order depends only on (seed, epoch), dropout masks only on (seed,
// micro-batch number), and the optimizer state is saved whole, so a run resumed from a
// checkpoint takes exactly the steps the uninterrupted run would have.
//
// The loop itself touches no file system (it also runs in a browser worker): checkpoints go
// through a CheckpointStore (their files: training/checkpoint-state.ts), metrics through callbacks.

import * as E from '../engine/index.ts';
import type { T5 } from '../model/t5.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import { loadModelWeights, type CheckpointFiles } from '../model/checkpoint.ts';
import { expectedParameters, type ParameterRole } from '../model/checkpoint-format.ts';
import { AdamW } from './adamw.ts';
import { readRunState, runFiles, type TrainerState } from './checkpoint-state.ts';
import { makeSchedule, stepCounts, type ScheduleConfig } from './schedule.ts';
import { epochBatches, makeBatch, targetTokens, type EncodedExample } from './data.ts';
import { evaluateAccuracy, type AnswerParser, type EvalResult } from './evaluate.ts';

/** The role of each of the model's parameters, in model.parameters() order, from the layout its
 *  config implies (model/checkpoint-format.ts). */
function parameterRoles(model: T5): ParameterRole[] {
  const byName = new Map(expectedParameters(model.config).map((p) => [p.name, p.role]));
  return [...model.params.keys()].map((name) => {
    const role = byName.get(name);
    if (!role) throw new Error(`Trainer: parameter ${name} is not in the T5 layout of its config`);
    return role;
  });
}

/** The promise itself, with a no-op handler attached: one that fails while nobody awaits it
 *  yet must not count as an unhandled rejection; whoever awaits it later still gets the error. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/** A step whose loss (and gradient norm) are still being read back. */
interface PendingStep {
  step: number;
  epoch: number;
  lr: number;
  microBatches: number;
  /** Target tokens this step trained on. */
  tokens: number;
  /** [summed loss] or, when progress is reported, [summed loss, gradient norm, clip scale]. */
  values: Promise<E.TypedArray>;
}

export interface TrainConfig {
  batchSize: number;
  /** Micro-batches whose gradients are summed into one optimizer step. Default 1. */
  gradAccumulation?: number;
  maxEpochs: number;
  /** Stop after this many optimizer steps even if epochs remain. */
  maxSteps?: number;
  /** The schedule's lr is the peak learning rate; a linear schedule with totalSteps 0 decays
   *  over the whole run (epochs x steps per epoch, or maxSteps). */
  schedule: ScheduleConfig;
  weightDecay?: number;
  /** Clip the global gradient norm; 0 = off. */
  maxGradNorm?: number;
  /** Optimizer steps between validation evaluations (0 = only at the end). */
  evalEvery: number;
  /** Stop after this many evaluations without a better validation accuracy (0 = never). */
  patience?: number;
  /** Optimizer steps between checkpoints (0 = none but the last). */
  checkpointEvery?: number;
  /** Longest generation at evaluation. */
  maxNewTokens: number;
  /** Sources decoded together at evaluation. Default 128: a decoding step costs about as many
   *  dispatches at any batch size, and a small model's step is mostly their overhead, so one
   *  batch of 100 validation examples decodes about as fast as one of 32 (results do not depend
   *  on the batching: rows never see each other). */
  evalBatchSize?: number;
  seed: number;
}

export interface Progress {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  /** Last validation accuracy, if any evaluation ran. */
  valAccuracy: number | null;
  elapsedSeconds: number;
  etaSeconds: number;
}

export interface EvalRecord {
  step: number;
  epoch: number;
  valAccuracy: number;
  best: boolean;
}

/** Where checkpoints go: a folder on disk in Node and Deno, memory or IndexedDB in a browser. */
export interface CheckpointStore {
  /** Replaces the checkpoint `name` as a whole (never leaves a half-written one). */
  save(name: string, files: CheckpointFiles): Promise<void>;
  load(name: string): Promise<CheckpointFiles | null>;
}

export interface TrainHooks {
  onProgress?: (p: Progress) => void | Promise<void>;
  onEval?: (r: EvalRecord, result: EvalResult) => void | Promise<void>;
  store?: CheckpointStore;
  /** Checked between steps; return true to stop (a checkpoint is written first). */
  shouldStop?: () => boolean;
}

export interface TrainerOptions {
  /**
   * The training examples of each epoch, in place of `train` (which then gives their number):
   * data made afresh every epoch, such as texts corrupted anew for pretraining. It must depend on
   * the epoch alone, so that a resumed run sees what the uninterrupted one would have.
   */
  epochData?: (epoch: number) => readonly EncodedExample[];
}

export interface TrainResult {
  steps: number;
  epochs: number;
  seconds: number;
  bestValAccuracy: number;
  bestStep: number;
  stoppedEarly: boolean;
  finalLoss: number;
}

/** Training whose loss ran away: not finite, or far above where any model starts (see below). */
export class TrainingDivergedError extends Error {}

// A model that guesses uniformly scores ln(vocabulary) nats; a fresh one starts near that, a
// pretrained one below. A loss past twice the larger of that and the first step's loss is no
// plateau or spike of learning but a run that left the data behind (a learning rate far too high):
// training stops there instead of finishing a model that reports a meaningless score.
const DIVERGENCE_FACTOR = 2;

const freshState = (): TrainerState => ({
  step: 0,
  epoch: 0,
  batchInEpoch: 0,
  microBatches: 0,
  bestValAccuracy: -1,
  bestStep: 0,
  evalsWithoutImprovement: 0,
  lastValAccuracy: null,
  elapsedSeconds: 0,
  lastLoss: NaN,
  firstLoss: NaN,
});

export class Trainer {
  readonly optimizer: AdamW;
  private state = freshState();
  private readonly accumulation: number;
  private readonly stepsPerEpoch: number;
  private readonly totalSteps: number;
  /** Weights of the best validation result so far, on the CPU. */
  private best: Map<string, Float32Array> | null = null;

  constructor(
    readonly model: T5,
    readonly tokenizer: Tokenizer,
    readonly train: readonly EncodedExample[],
    readonly validation: readonly EncodedExample[],
    readonly parse: AnswerParser,
    readonly config: TrainConfig,
    private readonly options: TrainerOptions = {},
  ) {
    this.accumulation = config.gradAccumulation ?? 1;
    const steps = stepCounts({ examples: train.length, batchSize: config.batchSize, gradAccumulation: this.accumulation, maxEpochs: config.maxEpochs, maxSteps: config.maxSteps });
    this.stepsPerEpoch = steps.perEpoch;
    this.totalSteps = steps.total;
    const roles = parameterRoles(model);
    this.optimizer = new AdamW(model.parameters(), {
      weightDecay: config.weightDecay ?? 0,
      maxGradNorm: config.maxGradNorm ?? 0,
      // Decay matrices only: norm gains and position-bias tables stay undecayed.
      decay: (_, i) => roles[i] !== 'norm' && roles[i] !== 'position-bias',
    });
  }

  /** The examples epoch `epoch` trains on. */
  private dataOf(epoch: number): readonly EncodedExample[] {
    if (!this.options.epochData) return this.train;
    const data = this.options.epochData(epoch);
    if (data.length !== this.train.length) throw new Error(`Trainer: epoch ${epoch} has ${data.length} examples, not ${this.train.length}`);
    return data;
  }

  get step(): number {
    return this.state.step;
  }

  /** Continues from the store's checkpoint `name` if there is one; returns whether it did. */
  async resume(store: CheckpointStore, name = 'last'): Promise<boolean> {
    const files = await store.load(name);
    if (!files) return false;
    await E.sync();
    const run = readRunState(files, name, this.model.params.size);
    this.checkResumable(run.state, name);
    loadModelWeights(this.model, files, name);
    this.optimizer.importState(run.optimizer);
    this.state = run.state;
    if (run.best) this.best = run.best;
    return true;
  }

  /** A checkpoint's counters must lie within this run, or resuming would report steps it never took. */
  private checkResumable(st: TrainerState, name: string): void {
    const within = (key: keyof TrainerState, max: number) => {
      const v = st[key];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new Error(`${name}/trainer.json: ${key} ${v} is not a count within this run (0 to ${max})`);
    };
    within('step', this.totalSteps);
    within('epoch', this.config.maxEpochs);
    within('batchInEpoch', this.stepsPerEpoch * this.accumulation);
  }

  private async checkpoint(store: CheckpointStore, name = 'last'): Promise<void> {
    const optimizer = await this.optimizer.exportState();
    await store.save(name, await runFiles(this.model, this.tokenizer, this.config, { optimizer, state: this.state, best: this.best }));
  }

  private async snapshotBest(): Promise<void> {
    const best = new Map<string, Float32Array>();
    for (const [k, t] of this.model.params) best.set(k, (await t.toArray()) as Float32Array);
    this.best = best;
  }

  /** Puts the best validation weights back into the model (after training). */
  async restoreBest(): Promise<void> {
    if (!this.best) return;
    await E.sync();
    for (const [k, t] of this.model.params) t.write(this.best.get(k)!);
  }

  async evaluate(examples: readonly EncodedExample[]): Promise<EvalResult> {
    return evaluateAccuracy(this.model, this.tokenizer, examples, this.parse, {
      batchSize: this.config.evalBatchSize ?? 128,
      maxNewTokens: this.config.maxNewTokens,
    });
  }

  private async runEval(hooks: TrainHooks): Promise<boolean> {
    const result = await this.evaluate(this.validation);
    const s = this.state;
    const improved = result.accuracy > s.bestValAccuracy;
    s.lastValAccuracy = result.accuracy;
    if (improved) {
      s.bestValAccuracy = result.accuracy;
      s.bestStep = s.step;
      s.evalsWithoutImprovement = 0;
      await this.snapshotBest();
    } else {
      s.evalsWithoutImprovement += 1;
    }
    await hooks.onEval?.({ step: s.step, epoch: s.epoch, valAccuracy: result.accuracy, best: improved }, result);
    const patience = this.config.patience ?? 0;
    return patience > 0 && s.evalsWithoutImprovement >= patience;
  }

  async run(hooks: TrainHooks = {}): Promise<TrainResult> {
    const c = this.config;
    const s = this.state;
    const schedule = makeSchedule(
      c.schedule.type === 'linear' && c.schedule.totalSteps === 0 ? { ...c.schedule, totalSteps: this.totalSteps } : c.schedule,
    );
    const mc = this.model.config;
    let stoppedEarly = false;
    let windowStart = performance.now();
    let windowTokens = 0;
    const startedAt = performance.now() - s.elapsedSeconds * 1000;

    // A step's loss and gradient norm are read back one step late. Their copies are queued right
    // behind the step's own work and awaited only after the next step has been recorded, so the
    // JS thread records step n + 1 while the GPU computes step n instead of each waiting in turn
    // for the other (on the software adapter that is most of a small model's step time).
    let pending: PendingStep | null = null;
    const settle = async (): Promise<void> => {
      const done = pending;
      pending = null;
      if (!done) return;
      const values = await done.values;
      s.lastLoss = values[0] / done.microBatches;
      if (!Number.isFinite(s.lastLoss)) {
        throw new TrainingDivergedError(`training diverged at step ${done.step}: the loss is ${s.lastLoss}; lower the learning rate`);
      }
      // Checkpoints from before the first loss was kept start counting from the step they resume at.
      if (!Number.isFinite(s.firstLoss)) s.firstLoss = s.lastLoss;
      const limit = DIVERGENCE_FACTOR * Math.max(s.firstLoss, Math.log(mc.vocabSize));
      if (s.lastLoss > limit) {
        throw new TrainingDivergedError(
          `training diverged at step ${done.step}: the loss ${s.lastLoss.toPrecision(4)} is above ${limit.toPrecision(4)}, ${DIVERGENCE_FACTOR} times the larger of the first step's (${s.firstLoss.toPrecision(4)}) and a uniform guess's (ln ${mc.vocabSize}); lower the learning rate`,
        );
      }
      const now = performance.now();
      s.elapsedSeconds = (now - startedAt) / 1000;
      windowTokens += done.tokens;
      if (hooks.onProgress) {
        const rate = windowTokens / ((now - windowStart) / 1000);
        windowStart = now;
        windowTokens = 0;
        await hooks.onProgress({
          step: done.step,
          totalSteps: this.totalSteps,
          epoch: done.epoch,
          loss: s.lastLoss,
          lr: done.lr,
          gradNorm: values[1],
          tokensPerSecond: rate,
          valAccuracy: s.lastValAccuracy,
          elapsedSeconds: s.elapsedSeconds,
          etaSeconds: (s.elapsedSeconds / done.step) * (this.totalSteps - done.step),
        });
      }
    };

    training: while (s.epoch < c.maxEpochs && s.step < this.totalSteps) {
      const data = this.dataOf(s.epoch);
      const batches = epochBatches(data, c.batchSize, c.seed, s.epoch);
      while (s.batchInEpoch < batches.length && s.step < this.totalSteps) {
        const micro = batches.slice(s.batchInEpoch, s.batchInEpoch + this.accumulation);
        let lossSum: E.Tensor | null = null;
        let tokens = 0;
        for (const ids of micro) {
          const examples = ids.map((i) => data[i]);
          const rng = new E.Rng(E.deriveSeed(c.seed, 1_000_003 + s.microBatches));
          const loss = E.tidy(() => {
            const batch = makeBatch(examples, mc.padTokenId, mc.decoderStartTokenId);
            const l = this.model.loss(batch, { training: true, rng });
            E.backward(l);
            return E.noGrad(() => (lossSum ? E.add(lossSum, l) : E.copy(l)));
          });
          lossSum?.dispose();
          lossSum = E.keep(loss);
          tokens += targetTokens(examples);
          s.microBatches += 1;
        }
        const lr = schedule(s.step);
        this.optimizer.step(lr, { gradScale: 1 / micro.length });
        this.optimizer.zeroGrad();
        s.batchInEpoch += micro.length;
        s.step += 1;
        // One read back per step. Starting it queues its copy at once, so the buffers may be
        // released right after. No tidy() here: an outermost tidy starts a new unit of work for
        // the buffer pool, and a step should stay one unit, so that every step asks for its
        // buffers in the same order and gets the same ones (engine/pool.ts).
        const loss1 = E.reshape(lossSum!, [1]);
        const read = hooks.onProgress ? E.noGrad(() => E.concat([loss1, this.optimizer.lastStats()], 0)) : lossSum!;
        const step: PendingStep = { step: s.step, epoch: s.epoch, lr, microBatches: micro.length, tokens, values: handled(read.toArray()) };
        E.dispose([read, loss1, lossSum]);
        await settle();
        pending = step;
        const evalNow = c.evalEvery > 0 && s.step % c.evalEvery === 0;
        const checkpointNow = hooks.store && c.checkpointEvery && s.step % c.checkpointEvery === 0;
        const stopNow = hooks.shouldStop?.() ?? false;
        if (evalNow || checkpointNow || stopNow) await settle();
        if (evalNow && (await this.runEval(hooks))) {
          stoppedEarly = true;
          break training;
        }
        if (checkpointNow) await this.checkpoint(hooks.store!);
        if (stopNow) {
          if (hooks.store) await this.checkpoint(hooks.store);
          return this.result(true);
        }
      }
      s.epoch += 1;
      s.batchInEpoch = 0;
    }
    await settle();
    if (!stoppedEarly && (c.evalEvery === 0 || s.step % c.evalEvery !== 0)) await this.runEval(hooks);
    if (hooks.store) await this.checkpoint(hooks.store);
    return this.result(stoppedEarly);
  }

  private result(stoppedEarly: boolean): TrainResult {
    const s = this.state;
    return {
      steps: s.step,
      epochs: s.epoch,
      seconds: s.elapsedSeconds,
      bestValAccuracy: s.bestValAccuracy,
      bestStep: s.bestStep,
      stoppedEarly,
      finalLoss: s.lastLoss,
    };
  }
}
