// What one browser run is: a single cell of the grid that the CLI runs for the same task, at one
// of the grid's presets (tiny, quick, full) — so a run here trains on the same data, with the same
// training settings, as that cell of `npm run experiment`. And what the page's one-click
// comparison runs: two such cells that differ only in their explanations.

import { isModelName, loadGrid, makeCell, presetOf, trainingOf, type Arm, type Cell, type GridPreset, type ModelName } from '../experiments/grid.ts';
import { EXPLANATION_FORMATS, type ExplanationFormat } from '../experiments/tasks/explain.ts';
import type { TaskName } from '../experiments/tasks/dataset.ts';
import type { PresetName } from '../model/config.ts';
import { isHubRef } from '../model/hub-ref.ts';
import { pretrainSettings, PRETRAIN_DEFAULTS, type PretrainSettings } from '../experiments/pretrain/settings.ts';
import { stepCounts } from '../training/schedule.ts';

export interface RunSettings {
  task: TaskName;
  explanation: ExplanationFormat;
  /** A size trained from scratch, or a pretrained model on the Hub (hf:OWNER/NAME[@REVISION]) to fine-tune. */
  model: ModelName;
  /** The grid preset whose data and training settings the run uses. */
  scale: string;
  trainSize: number;
  seed: number;
  /** Steps between validation evaluations; the grid's by default, fewer to watch accuracy live. */
  evalEvery: number;
}

export const TASKS: readonly { name: TaskName; label: string }[] = [
  { name: 'listops', label: 'ListOps' },
  { name: 'listops30', label: 'ListOps-30' },
  { name: 'modsum', label: 'Modular sum' },
];
export const EXPLANATIONS: readonly ExplanationFormat[] = EXPLANATION_FORMATS;
export const MODELS: readonly PresetName[] = ['tiny', 'xs', 's', 'm'];
/** Offered in the model list; any other hf: reference can be given in the URL (?model=hf:OWNER/NAME). */
export const HUB_MODELS: readonly ModelName[] = ['hf:google-t5/t5-small'];
export const SCALES: readonly { name: string; label: string }[] = [
  { name: 'tiny', label: 'tiny: a few steps, seconds' },
  { name: 'quick', label: 'quick: minutes' },
  { name: 'full', label: 'full: the paper, hours' },
];

// ListOps-30 has no grid of its own: it trains like ListOps, with its own value range.
const gridNameOf = (task: TaskName) => (task === 'modsum' ? 'modsum' : 'explanations');
const gridOf = (task: TaskName) => loadGrid(gridNameOf(task));

/** The grid preset behind a run, with the run's task and, if given, its evaluation interval. */
export function presetFor(s: Pick<RunSettings, 'task' | 'scale'> & { evalEvery?: number }): GridPreset {
  const p = presetOf(gridOf(s.task), s.scale);
  return { ...p, task: s.task, training: { ...p.training, evalEvery: s.evalEvery ?? p.training.evalEvery } };
}

/** What the grid uses at this scale: its first arm's first training-set size, and its evaluation interval. */
export function gridDefaults(s: Pick<RunSettings, 'task' | 'scale'>): Pick<RunSettings, 'trainSize' | 'evalEvery'> {
  const p = presetFor(s);
  const n = p.arms[0].trainSize;
  return { trainSize: Array.isArray(n) ? n[0] : n, evalEvery: p.training.evalEvery };
}

/** Optimizer steps of a run: its epochs over the training set, capped by the grid's maxSteps, as the trainer counts them. */
export function stepsOf(s: Pick<RunSettings, 'task' | 'scale' | 'trainSize' | 'explanation' | 'model'>): number {
  const t = trainingOf(presetFor(s), { training: armFor(s)?.training });
  return stepCounts({ examples: s.trainSize, batchSize: t.batchSize, maxEpochs: t.epochs, maxSteps: t.maxSteps }).total;
}

/**
 * The grid arm a run belongs to, for its training settings (a learning rate chosen for its
 * explanation format, the steps its data size needs): the arm that makes this very cell, or
 * else the first arm with the same explanation format.
 */
function armFor(s: Pick<RunSettings, 'task' | 'scale' | 'trainSize' | 'explanation' | 'model'>): Arm | undefined {
  const arms = presetFor(s).arms;
  const has = <T>(v: T | T[], x: T) => (Array.isArray(v) ? v.includes(x) : v === x);
  return arms.find((a) => has(a.explanation, s.explanation) && has(a.model, s.model) && has(a.trainSize, s.trainSize)) ?? arms.find((a) => has(a.explanation, s.explanation));
}

/**
 * What one click on the page trains: the same data and seed with bare answers, then with medium
 * explanations. ListOps at the quick preset on model tiny (~44k parameters), the main job's
 * setting, where medium explanations are above none beyond the seed-level interval in the
 * committed run (experiments/results-reference/README.md); one seed, so the page gives the
 * example-level interval of the difference, with the baselines beside it.
 */
export const COMPARED: readonly ExplanationFormat[] = ['none', 'medium'];
const COMPARISON = { task: 'listops', model: 'tiny', scale: 'quick' } as const;
const comparisonSize = gridDefaults(COMPARISON).trainSize;
/** The comparison's settings; validated five times per arm (the grid validates twice) so the accuracy chart shows a curve. */
export const COMPARISON_DEFAULTS: RunSettings = {
  ...COMPARISON,
  explanation: 'medium',
  seed: 1,
  trainSize: comparisonSize,
  evalEvery: Math.ceil(stepsOf({ ...COMPARISON, explanation: 'medium', trainSize: comparisonSize }) / 5),
};

/** The cell a run trains, with its grid arm's training settings, as `npm run experiment` trains it;
 *  `init` names the pretrained model it starts from. */
export function cellOf(s: RunSettings, init?: string): Cell {
  const training = armFor(s)?.training;
  return makeCell({ task: s.task, explanation: s.explanation, model: s.model, trainSize: s.trainSize, seed: s.seed, ...(init && { init }), ...(training && { training }) });
}

/** Settings from untrusted input (URL parameters, a loaded run.json), each field checked; missing or invalid ones take the fallback's. */
export function checkSettings(input: Record<string, unknown>, fallback: RunSettings): RunSettings {
  const pick = <T>(key: keyof RunSettings, valid: readonly T[]): T => (valid.includes(input[key] as T) ? (input[key] as T) : (fallback[key] as T));
  const int = (key: 'trainSize' | 'seed' | 'evalEvery') => {
    const v = Number(input[key]);
    return Number.isInteger(v) && v > 0 ? v : fallback[key];
  };
  return {
    task: pick('task', TASKS.map((t) => t.name)),
    explanation: pick('explanation', EXPLANATIONS),
    model: isHubRef(String(input.model)) && isModelName(input.model) ? input.model : pick('model', MODELS),
    scale: pick('scale', SCALES.map((s) => s.name)),
    trainSize: int('trainSize'),
    seed: int('seed'),
    evalEvery: int('evalEvery'),
  };
}

/** Steps of a pretraining started from the page, unless its field says otherwise: the command line's default. */
export const PRETRAIN_STEPS: number = PRETRAIN_DEFAULTS.steps;

/**
 * What the page's Pretrain trains, as `npm run pretrain -- --model M --grid G --preset P --steps N
 * --seed S` would: a fresh model of the form's size on the sources of its task and setting (the
 * grid's preset, whose fine-tuning seeds' validation and test sources are held out), seeded by
 * the form's seed. A Hub model is pretrained already: it has no size to start afresh.
 */
export function pretrainingOf(s: RunSettings, steps: number): PretrainSettings {
  if (!(MODELS as readonly string[]).includes(s.model)) throw new Error(`pretraining starts a fresh model of one of the sizes ${MODELS.join(', ')}; ${s.model} is pretrained already`);
  return pretrainSettings({ grid: gridNameOf(s.task), presetName: s.scale, preset: presetFor(s), model: s.model as PresetName }, { steps, seed: s.seed });
}

/** The init a pretrained model's runs carry in their rows: its size, steps and seed, from its pretraining.json. */
export function pretrainedLabel(info: { settings?: { model?: string; seed?: number }; result?: { steps?: number } }): string {
  const model = info.settings?.model ?? 'model';
  return `pretrained ${model}, ${info.result?.steps ?? '?'} steps, seed ${info.settings?.seed ?? '?'}`;
}
