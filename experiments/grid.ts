// Experiment grids: what a grid config (experiments/grids/*.json) may say, checking it, and
// expanding it into cells — one training run each, for one explanation format, model size,
// training-set size and seed.

import { EXPLANATION_FORMATS, type ExplanationFormat } from './tasks/explain.ts';
import { TASK_NAMES, type TaskName } from './tasks/dataset.ts';
import { PRESET_NAMES, type PresetName } from '../model/config.ts';
import { isHubRef, parseHubRef } from '../model/hub-ref.ts';
import explanations from './grids/explanations.json' with { type: 'json' };
import modsum from './grids/modsum.json' with { type: 'json' };
import dataSize from './grids/data-size.json' with { type: 'json' };
import generalization from './grids/generalization.json' with { type: 'json' };

export const GRIDS: Record<string, unknown> = {
  explanations,
  modsum,
  'data-size': dataSize,
  generalization,
};
export const GRID_NAMES = Object.keys(GRIDS);

export interface TrainingSettings {
  batchSize: number;
  epochs: number;
  /** Cap on optimizer steps, whatever the epochs. */
  maxSteps?: number;
  lr: number;
  schedule: 'constant' | 'linear' | 'step';
  warmupSteps?: number;
  /** For 'step': lr x 0.1 every this many epochs (the authors used 2). */
  decayEveryEpochs?: number;
  weightDecay: number;
  maxGradNorm: number;
  /** Steps between validation evaluations. */
  evalEvery: number;
  /** Evaluations without improvement before stopping early (0 = never). */
  patience: number;
  maxNewTokens: number;
  /** Overrides the model preset's dropout. */
  dropout?: number;
  /** Tokens kept of each source and target (the rest is cut, the final </s> kept), as the authors' tokenizer did at 512. */
  maxLength?: number;
}

/** A model size trained from scratch, or a pretrained model on the Hub to fine-tune: `hf:OWNER/NAME[@REVISION]`. */
export type ModelName = PresetName | `hf:${string}`;

export const isModelName = (m: unknown): m is ModelName => typeof m === 'string' && (PRESET_NAMES.includes(m as PresetName) || (isHubRef(m) && validRef(m)));

function validRef(m: string): boolean {
  try {
    parseHubRef(m);
    return true;
  } catch {
    return false;
  }
}

/** One line of a grid: each field may list several values, and every combination runs. */
export interface Arm {
  explanation: ExplanationFormat | ExplanationFormat[];
  model: ModelName | ModelName[];
  trainSize: number | number[];
  /** Training settings over the preset's for this arm's cells: a learning rate chosen for them
   *  on validation, or the steps their data size needs. */
  training?: Partial<TrainingSettings>;
}

export interface GridPreset {
  description: string;
  task: TaskName;
  /** Task options for every split. */
  taskOptions: Record<string, unknown>;
  /** Extra task options for the training and validation splits only. */
  trainOptions?: Record<string, unknown>;
  /** Test sets by name, each with task options over taskOptions. */
  tests: Record<string, Record<string, unknown>>;
  validationSize: number;
  testSize: number;
  seeds: number;
  arms: Arm[];
  training: TrainingSettings;
  table: { rows: string[]; columns: string };
  /** Accuracy of guessing, drawn on charts. */
  chance?: number;
}

export interface Grid {
  name: string;
  description: string;
  presets: Record<string, GridPreset>;
}

export interface Cell {
  id: string;
  task: TaskName;
  explanation: ExplanationFormat;
  model: ModelName;
  trainSize: number;
  seed: number;
  /** Its arm's training settings over the preset's (trainingOf merges them). */
  training?: Partial<TrainingSettings>;
}

/** The training settings a cell runs with: the preset's, with its arm's over them. */
export function trainingOf(p: GridPreset, cell: Pick<Cell, 'training'>): TrainingSettings {
  return { ...p.training, ...cell.training };
}

const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

function fail(where: string, message: string): never {
  throw new Error(`${where}: ${message}`);
}

// Every training setting, so that an arm's overrides can be checked by name.
const TRAINING_KEYS: Record<keyof TrainingSettings, true> = {
  batchSize: true,
  epochs: true,
  maxSteps: true,
  lr: true,
  schedule: true,
  warmupSteps: true,
  decayEveryEpochs: true,
  weightDecay: true,
  maxGradNorm: true,
  evalEvery: true,
  patience: true,
  maxNewTokens: true,
  dropout: true,
  maxLength: true,
};

function checkTraining(t: any, where: string, name: string): void {
  const int = (v: any) => Number.isInteger(v) && v > 0;
  for (const k of ['batchSize', 'epochs', 'evalEvery', 'maxNewTokens']) if (!int(t[k])) fail(where, `${name}.${k} must be a positive integer`);
  if (!(t.lr > 0)) fail(where, `${name}.lr must be positive`);
  for (const k of ['weightDecay', 'maxGradNorm', 'patience']) if (!(typeof t[k] === 'number' && t[k] >= 0)) fail(where, `${name}.${k} must be a number >= 0`);
  if (!['constant', 'linear', 'step'].includes(t.schedule)) fail(where, `${name}.schedule must be constant, linear or step`);
  if (t.maxLength !== undefined && !(int(t.maxLength) && t.maxLength >= 2)) fail(where, `${name}.maxLength must be an integer >= 2`);
  if (t.maxSteps !== undefined && !int(t.maxSteps)) fail(where, `${name}.maxSteps must be a positive integer`);
}

function checkPreset(p: any, where: string): GridPreset {
  const need = (key: string, ok: (v: any) => boolean, what: string) => {
    if (!ok(p[key])) fail(where, `"${key}" must be ${what}, got ${JSON.stringify(p[key])}`);
  };
  const int = (v: any) => Number.isInteger(v) && v > 0;
  need('task', (v) => TASK_NAMES.includes(v), `one of ${TASK_NAMES.join(', ')}`);
  need('tests', (v) => v && typeof v === 'object' && Object.keys(v).length > 0, 'an object of test sets');
  need('validationSize', int, 'a positive integer');
  need('testSize', int, 'a positive integer');
  need('seeds', int, 'a positive integer');
  need('arms', (v) => Array.isArray(v) && v.length > 0, 'a non-empty list');
  need('description', (v) => typeof v === 'string', 'a string');
  need('taskOptions', (v) => v && typeof v === 'object' && !Array.isArray(v), 'an object of task options');
  need('table', (v) => v && Array.isArray(v.rows) && v.rows.every((r: unknown) => typeof r === 'string') && typeof v.columns === 'string', '{"rows": [field names], "columns": field name}');
  p.arms.forEach((a: any, i: number) => {
    for (const e of list(a.explanation)) if (!EXPLANATION_FORMATS.includes(e)) fail(where, `arms[${i}].explanation "${e}" is not one of ${EXPLANATION_FORMATS.join(', ')}`);
    for (const m of list(a.model)) if (!isModelName(m)) fail(where, `arms[${i}].model "${m}" is not one of ${PRESET_NAMES.join(', ')} nor hf:OWNER/NAME[@REVISION]`);
    for (const n of list(a.trainSize)) if (!int(n)) fail(where, `arms[${i}].trainSize must be positive integers`);
  });
  const t = p.training ?? fail(where, '"training" is missing');
  checkTraining(t, where, 'training');
  p.arms.forEach((a: any, i: number) => {
    if (a.training === undefined) return;
    if (!a.training || typeof a.training !== 'object' || Array.isArray(a.training)) fail(where, `arms[${i}].training must be an object of training settings`);
    for (const k of Object.keys(a.training)) if (!(k in TRAINING_KEYS)) fail(where, `arms[${i}].training.${k} is not a training setting; valid: ${Object.keys(TRAINING_KEYS).join(', ')}`);
    checkTraining({ ...t, ...a.training }, where, `arms[${i}].training (over training)`);
  });
  try {
    cellsOf(p as GridPreset, 1);
  } catch (e) {
    fail(where, (e as Error).message);
  }
  return p as GridPreset;
}

/** The grid's config, checked; unknown names list the valid ones. */
export function loadGrid(name: string): Grid {
  const raw: any = GRIDS[name];
  if (!raw) throw new Error(`unknown grid "${name}"; valid grids: ${GRID_NAMES.join(', ')}, or the path of a grid file (*.json)`);
  return checkGrid(raw, name, `experiments/grids/${name}.json`);
}

/** A grid's config checked; `file` names it in messages. */
export function checkGrid(raw: any, name: string, file: string): Grid {
  if (!raw || typeof raw !== 'object' || !raw.presets || typeof raw.presets !== 'object' || Object.keys(raw.presets).length === 0) {
    fail(file, '"presets" must be an object of named presets, e.g. {"tiny": {...}}');
  }
  const presets: Record<string, GridPreset> = {};
  for (const [p, v] of Object.entries(raw.presets)) {
    if (!v || typeof v !== 'object') fail(`${file} preset ${p}`, 'must be an object');
    presets[p] = checkPreset(v, `${file} preset ${p}`);
  }
  return { name, description: String(raw.description ?? ''), presets };
}

export function presetOf(grid: Grid, preset: string): GridPreset {
  const p = grid.presets[preset];
  if (!p) throw new Error(`grid ${grid.name} has no preset "${preset}"; valid presets: ${Object.keys(grid.presets).join(', ')}`);
  return p;
}

// A cell's id names its folder: a Hub reference's ":", "/" and "@" become "-".
const modelSlug = (m: ModelName): string => m.replace(/[:/@]/g, '-');

export function makeCell(c: Omit<Cell, 'id'>): Cell {
  const cell: Cell = { id: `${c.task}-${c.explanation}-${modelSlug(c.model)}-n${c.trainSize}-seed${c.seed}`, task: c.task, explanation: c.explanation, model: c.model, trainSize: c.trainSize, seed: c.seed };
  if (c.training) cell.training = c.training;
  return cell;
}

/** Every run of a preset, seed by seed (seeds firstSeed .. firstSeed + seeds - 1), so that
 *  partial results already cover every arm. */
export function cellsOf(p: GridPreset, seeds = p.seeds, firstSeed = 1): Cell[] {
  const cells: Cell[] = [];
  const seen = new Map<string, Cell>();
  for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
    for (const arm of p.arms) {
      for (const model of list(arm.model)) {
        for (const trainSize of list(arm.trainSize)) {
          for (const explanation of list(arm.explanation)) {
            const cell = makeCell({ task: p.task, explanation, model, trainSize, seed, ...(arm.training && { training: arm.training }) });
            const before = seen.get(cell.id);
            if (before) {
              // Arms may overlap, but one cell cannot train two ways.
              if (JSON.stringify(before.training ?? {}) !== JSON.stringify(cell.training ?? {})) throw new Error(`two arms make cell ${cell.id} with different training settings`);
              continue;
            }
            seen.set(cell.id, cell);
            cells.push(cell);
          }
        }
      }
    }
  }
  return cells;
}
