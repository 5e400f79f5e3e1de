// Experiment grids: the built-in grid files, loading one (checked whole by grid-schema.ts), and
// expanding a preset into cells — one training run each, for one explanation format, model size,
// training-set size and seed.

import type { ExplanationFormat } from './tasks/explain.ts';
import type { TaskName } from './tasks/dataset.ts';
import { SCRATCH, checkGridFile, type GridPreset, type ModelName, type TrainingSettings } from './grid-schema.ts';
import explanations from './grids/explanations.json' with { type: 'json' };
import modsum from './grids/modsum.json' with { type: 'json' };
import dataSize from './grids/data-size.json' with { type: 'json' };
import generalization from './grids/generalization.json' with { type: 'json' };
import modelSize from './grids/model-size.json' with { type: 'json' };
import pretraining from './grids/pretraining.json' with { type: 'json' };

export const GRIDS: Record<string, unknown> = {
  explanations,
  modsum,
  'data-size': dataSize,
  generalization,
  'model-size': modelSize,
  pretraining,
};
export const GRID_NAMES = Object.keys(GRIDS);

export { SCRATCH, isModelName, type Arm, type GridPreset, type ModelName, type TrainingSettings } from './grid-schema.ts';

export interface Grid {
  name: string;
  description: string;
  presets: Record<string, GridPreset>;
  /** The folder a grid file lies in, which its arms' relative init folders start from; none
   *  for a built-in grid, whose folders start from the repository. */
  dir?: string;
}

export interface Cell {
  id: string;
  task: TaskName;
  explanation: ExplanationFormat;
  model: ModelName;
  trainSize: number;
  seed: number;
  /** The pretrained model it starts from (a folder or hf:...), as the grid says it; absent for
   *  a model trained from scratch. */
  init?: string;
  /** Its arm's training settings over the preset's (trainingOf merges them). */
  training?: Partial<TrainingSettings>;
}

/** The training settings a cell runs with: the preset's, with its arm's over them. */
export function trainingOf(p: GridPreset, cell: Pick<Cell, 'training'>): TrainingSettings {
  return { ...p.training, ...cell.training };
}

const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** The grid's config, checked; unknown names list the valid ones. */
export function loadGrid(name: string): Grid {
  const raw = GRIDS[name];
  if (!raw) throw new Error(`unknown grid "${name}"; valid grids: ${GRID_NAMES.join(', ')}, or the path of a grid file (*.json)`);
  return checkGrid(raw, name, `experiments/grids/${name}.json`);
}

/** A grid's config checked whole (grid-schema.ts); `file` names it in messages. */
export function checkGrid(raw: unknown, name: string, file: string): Grid {
  const grid = checkGridFile(raw, file);
  for (const [p, preset] of Object.entries(grid.presets)) {
    try {
      cellsOf(preset, 1);
    } catch (e) {
      throw new Error(`${file} preset ${p}: ${(e as Error).message}`);
    }
  }
  return { name, description: grid.description ?? '', presets: grid.presets };
}

export function presetOf(grid: Grid, preset: string): GridPreset {
  const p = grid.presets[preset];
  if (!p) throw new Error(`grid ${grid.name} has no preset "${preset}"; valid presets: ${Object.keys(grid.presets).join(', ')}`);
  return p;
}

// A cell's id names its folder: a Hub reference's ":", "/" and "@" become "-".
const modelSlug = (m: ModelName): string => m.replace(/[:/@]/g, '-');
// A starting point's: whatever is not a letter, digit or "_" becomes "-".
const initSlug = (init: string): string => init.replace(/[^A-Za-z0-9_]+/g, '-').replace(/^-+|-+$/g, '');

/** A cell; a pretrained starting point shows in its id (`...-tiny-init-experiments-pretrained-x-n2000-seed1`),
 *  scratch leaves the id as it always was. */
export function makeCell(c: Omit<Cell, 'id'>): Cell {
  const init = c.init !== undefined && c.init !== SCRATCH ? c.init : undefined;
  const from = init === undefined ? '' : `-init-${initSlug(init)}`;
  const cell: Cell = { id: `${c.task}-${c.explanation}-${modelSlug(c.model)}${from}-n${c.trainSize}-seed${c.seed}`, task: c.task, explanation: c.explanation, model: c.model, trainSize: c.trainSize, seed: c.seed };
  if (init !== undefined) cell.init = init;
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
      for (const init of list(arm.init ?? SCRATCH)) {
        for (const model of list(arm.model)) {
          for (const trainSize of list(arm.trainSize)) {
            for (const explanation of list(arm.explanation)) {
              const cell = makeCell({ task: p.task, explanation, model, trainSize, seed, init, ...(arm.training && { training: arm.training }) });
              const before = seen.get(cell.id);
              if (before) {
                if (before.init !== cell.init) throw new Error(`the starting points ${before.init} and ${cell.init} make the same cell id ${cell.id}; name one folder differently`);
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
  }
  return cells;
}
