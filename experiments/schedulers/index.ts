// How the cells of a run get trained: which process trains which cell, and in what order. The
// runner (runner.ts) finds and locks the run folder, then hands the run's cells to one Scheduler
// and publishes what it left finished. The schedulers, each in a file of its own:
//   inline.ts   the default: this process trains the cells one after another
//   workers.ts  --jobs N: N processes of their own, each claiming the dearest unclaimed cell; the
//               same file holds what such a worker process runs (claimCells)
//   shards.ts   --shard I/N: this process trains only its fixed share of the run, with one of the
//               two above
// chooseScheduler() is the one place that picks among them, from the command line's options.

import type { Cell } from '../grid.ts';
import { claimsDir, type Shard } from '../shard.ts';
import { inline } from './inline.ts';
import { shards } from './shards.ts';
import { claimCells, workers, type WorkerSpec } from './workers.ts';

/** Where a cell stands among the cells a scheduler trains, and who trains it, for its log lines
 *  (`cell 3/16`, ` worker 2/3`). */
export interface CellPlace {
  /** 0-based. */
  index: number;
  count: number;
  /** The worker process, with a leading space; absent in the process that owns the run. */
  worker?: string;
}

/** What a scheduler gets from the runner. */
export interface RunCells {
  /** The run folder. */
  dir: string;
  log: (line: string) => void;
  /** Trains and tests one cell into cells/<cell>/ (train-cell.ts); `gridEta` ends its progress
   *  lines with the grid's time left (timing.ts's gridLeft). */
  train(cell: Cell, place: CellPlace, gridEta: () => string): Promise<void>;
  /** Rewrites the run's results from the cells finished so far (publish.ts). */
  publish(): Promise<void>;
}

export interface Scheduler {
  /**
   * Trains those of the run's `cells` that this process answers for and that have no result yet,
   * and resolves with the cells it answers for (a shard's share, else all of them) once it has
   * trained all it will. A worker process that fails leaves its cells unfinished: the runner
   * publishes what finished, then says which did not.
   */
  run(cells: readonly Cell[], run: RunCells): Promise<readonly Cell[]>;
}

/** The command line's say in how a run is scheduled (runner.ts's RunOptions carries these). */
export interface SchedulerOptions {
  /**
   * Cells trained at once, each worker in a process of its own started by `launch` (one process
   * leaves a software adapter's cores idle between a small model's dispatches, and most of a GPU
   * idle). Default 1: every cell in this process.
   */
  jobs?: number;
  launch?: (worker: WorkerSpec) => Promise<void>;
  /** Set in a worker process: train unclaimed cells of the run folder `worker.dir`, then stop. */
  worker?: WorkerSpec;
  /** This process's share of a run split between independent processes (shard.ts). */
  shard?: Shard;
}

/** The scheduler for the run folder `dir` under options `o`. */
export function chooseScheduler(o: SchedulerOptions, dir: string): Scheduler {
  const claims = claimsDir(dir, o.shard);
  const trainer = o.worker ? claimCells(o.worker, claims) : (o.jobs ?? 1) > 1 ? workers(o.jobs!, claims, o.launch) : inline;
  return o.shard ? shards(o.shard, trainer) : trainer;
}
