// How long cells take, for the time-left estimates of a run's progress lines: a cell's cost
// guessed from the grid, and the wall time per unit of that cost measured over the cells this
// process has trained.

import { PRESET_NAMES, type PresetName } from '../model/config.ts';
import type { Cell } from './grid.ts';
import { EXPLANATION_FORMATS } from './tasks/explain.ts';
import { fmtTime } from './run-folder.ts';

/** The end of a progress line that gives the grid's time left, or nothing while it is unknown (NaN). */
export const gridLeft = (seconds: number) => (Number.isFinite(seconds) ? ` | grid left ~${fmtTime(seconds)}` : '');

/**
 * A cell's cost guessed from the grid, in no particular unit: larger model presets (in
 * PRESET_NAMES order, a Hugging Face model above them all) and longer explanation formats
 * (EXPLANATION_FORMATS order) train slower, and the cost is the product of the two ranks.
 */
export function cellCost(c: Cell): number {
  const size = PRESET_NAMES.includes(c.model as PresetName) ? PRESET_NAMES.indexOf(c.model as PresetName) + 1 : PRESET_NAMES.length + 1;
  return size * (EXPLANATION_FORMATS.indexOf(c.explanation) + 1);
}

/** Wall time per unit of cost (cellCost) over the cells this process has trained: what its grid
 *  time-left estimates go by. `now` in milliseconds. */
export function cellTiming(now: () => number = () => performance.now()) {
  let cost = 0;
  let seconds = 0;
  return {
    async time<T>(cell: Cell, run: () => Promise<T>): Promise<T> {
      const t0 = now();
      const result = await run();
      cost += cellCost(cell);
      seconds += (now() - t0) / 1000;
      return result;
    },
    /** The seconds `cells` should take; NaN until a cell has finished. */
    estimate: (cells: readonly Cell[]) => (cost > 0 ? (seconds / cost) * cells.reduce((sum, c) => sum + cellCost(c), 0) : NaN),
  };
}
