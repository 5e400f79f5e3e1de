// What a pretraining run is made of, and the defaults that `npm run pretrain` and the browser
// page both start from: the fine-tuning grid preset's task options, batch size and rate, T5's
// span corruption, and the pool and validation sizes below. No file system here: the page's
// worker reads this too.

import type { PresetName } from '../../model/config.ts';
import { T5_SPAN_CORRUPTION } from '../../training/span-corruption.ts';
import type { GridPreset } from '../grid.ts';

export interface PretrainSettings {
  /** The fine-tuning grid and preset whose task options the sources follow. */
  grid: string;
  preset: string;
  task: string;
  taskOptions: Record<string, unknown>;
  trainOptions?: Record<string, unknown>;
  model: PresetName;
  steps: number;
  seed: number;
  lr: number;
  warmupSteps: number;
  batchSize: number;
  weightDecay: number;
  maxGradNorm: number;
  /** Over the model preset's, when set. */
  dropout?: number;
  /** Sources in the pool, validation sources, fine-tuning seeds held out. */
  sources: number;
  validationSize: number;
  heldOutSeeds: number;
  noiseDensity: number;
  meanSpanLength: number;
  evalEvery: number;
  checkpointEvery: number;
}

/** The grid each task's pretraining follows unless another is named. */
export const GRID_OF_TASK = { listops: 'explanations', modsum: 'modsum' } as const;

export const PRETRAIN_DEFAULTS = { steps: 2000, seed: 1, sources: 20000, validationSize: 200, heldOutSeeds: 20, checkpointEvery: 100 } as const;

/** The settings of pretraining `model` on the sources of `grid`'s preset `presetName`; `over`
 *  replaces any of them (the command line's options). */
export function pretrainSettings(
  where: { grid: string; presetName: string; preset: GridPreset; model: PresetName },
  over: Partial<Omit<PretrainSettings, 'grid' | 'preset' | 'task' | 'taskOptions' | 'trainOptions' | 'model'>> = {},
): PretrainSettings {
  const p = where.preset;
  const steps = over.steps ?? PRETRAIN_DEFAULTS.steps;
  const defined = Object.fromEntries(Object.entries(over).filter(([, v]) => v !== undefined));
  return {
    grid: where.grid,
    preset: where.presetName,
    task: p.task,
    taskOptions: p.taskOptions,
    ...(p.trainOptions && { trainOptions: p.trainOptions }),
    model: where.model,
    steps,
    seed: PRETRAIN_DEFAULTS.seed,
    lr: p.training.lr,
    warmupSteps: Math.min(100, Math.floor(steps / 10)),
    batchSize: p.training.batchSize,
    // T5 pretrained without weight decay; here it would also shrink the rows of the vocabulary
    // that only fine-tuning uses (explanation words) below a fresh model's.
    weightDecay: 0,
    maxGradNorm: p.training.maxGradNorm,
    ...(p.training.dropout !== undefined && { dropout: p.training.dropout }),
    sources: PRETRAIN_DEFAULTS.sources,
    // A narrow task (a smoke preset's) has too few distinct sources for 200 held out beside the
    // fine-tuning ones; its own validation size is what it is known to have.
    validationSize: Math.min(PRETRAIN_DEFAULTS.validationSize, p.validationSize),
    heldOutSeeds: PRETRAIN_DEFAULTS.heldOutSeeds,
    noiseDensity: T5_SPAN_CORRUPTION.noiseDensity,
    meanSpanLength: T5_SPAN_CORRUPTION.meanSpanLength,
    evalEvery: Math.max(1, Math.round(steps / 5)),
    checkpointEvery: PRETRAIN_DEFAULTS.checkpointEvery,
    ...defined,
  };
}
