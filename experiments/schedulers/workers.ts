// --jobs N: N cells trained at once, each in a worker process of its own (run.ts starts the
// command again with --worker and --run-dir). Workers share the run folder and take cells by
// claiming them: whichever process first creates claims/<cell> owns that cell. Each claims the
// dearest unclaimed cell (claimOrder) until none is left; the parent waits for all of them, and
// the runner then publishes what they finished. Both sides are here: workers() for the parent,
// claimCells() for a worker process.

import { readdirSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Cell } from '../grid.ts';
import { readResult } from '../train-cell.ts';
import { cellCost, cellTiming, gridLeft } from '../timing.ts';
import { finishedCells } from '../publish.ts';
import type { Scheduler } from './index.ts';
import { inline } from './inline.ts';

/** Worker `index` of `count` sharing the run folder `dir`. */
export interface WorkerSpec {
  index: number;
  count: number;
  dir: string;
}

/**
 * The parent of `jobs` workers that claim cells in the folder `claims`, each started by `launch`.
 * It starts them on a clean set of claims and waits for all of them; a worker that fails is
 * logged, and the cells the others finished are kept. With one unfinished cell or none, this
 * process trains it itself.
 */
export function workers(jobs: number, claims: string, launch: ((w: WorkerSpec) => Promise<void>) | undefined): Scheduler {
  return {
    async run(cells, run) {
      const todo = (await Promise.all(cells.map((c) => readResult(run.dir, c)))).filter((r) => !r).length;
      const count = Math.min(jobs, todo);
      if (count <= 1) return inline.run(cells, run);
      if (!launch) throw new Error('runGrid: jobs > 1 needs a launch function that starts worker processes');
      // Claims left by an interrupted run belong to no live process.
      await rm(claims, { recursive: true, force: true });
      await mkdir(claims);
      run.log(`training ${todo} cells in ${count} processes`);
      const ended = await Promise.allSettled(Array.from({ length: count }, (_, index) => launch({ index, count, dir: run.dir })));
      await rm(claims, { recursive: true, force: true });
      const failed = ended.flatMap((e, i) => (e.status === 'rejected' ? [`worker ${i + 1}: ${(e.reason as Error).message}`] : []));
      if (failed.length > 0) run.log(`${failed.join('; ')}`);
      return cells;
    },
  };
}

/**
 * The order workers claim cells in, with each cell's index in the grid: the dearest first
 * (cellCost), so that the last cells of a run are short ones and the workers finish together. A
 * worker left alone with a long cell leaves the cores it shared idle. Ties keep the grid's order.
 */
export function claimOrder(cells: readonly Cell[]): [number, Cell][] {
  return [...cells.entries()].sort(([i, a], [j, b]) => cellCost(b) - cellCost(a) || i - j);
}

/** What worker `worker` runs: it claims cells one at a time in the folder `claims`, dearest
 *  first (claimOrder), until none is left. The parent publishes the results. */
export function claimCells(worker: WorkerSpec, claims: string): Scheduler {
  const { index, count } = worker;
  return {
    async run(cells, run) {
      // The grid's time left, as this worker sees it: the cells nobody has claimed yet, shared
      // among the workers at this worker's time per unit of cost (the cells under way not
      // counted, as in a single process's estimate).
      const finishedBefore = new Set((await finishedCells(run.dir, cells)).map((f) => f.cell.id));
      const timing = cellTiming();
      const gridEta = () => {
        let claimed: Set<string>;
        try {
          claimed = new Set(readdirSync(claims));
        } catch {
          return '';
        }
        return gridLeft(timing.estimate(cells.filter((c) => !finishedBefore.has(c.id) && !claimed.has(c.id))) / count);
      };
      for (const [ci, cell] of claimOrder(cells)) {
        if (await readResult(run.dir, cell)) continue;
        try {
          await mkdir(path.join(claims, cell.id));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
          throw e;
        }
        await timing.time(cell, () => run.train(cell, { index: ci, count: cells.length, worker: ` worker ${index + 1}/${count}` }, gridEta));
      }
      return cells;
    },
  };
}
