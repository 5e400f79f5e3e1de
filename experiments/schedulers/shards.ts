// --shard I/N: this process is one of N independent ones (the tasks of a job array) that split a
// run and share nothing but its folder. Each owns a fixed share of the cells, a rule it applies
// alone (ownedCells), and trains its share with the scheduler it is given: in this process, or
// in worker processes with --jobs. What else a shard does differently concerns the run folder
// (shard.ts): the folder named by the run's settings, and a lock, a clock and claims of its own.

import type { Cell } from '../grid.ts';
import type { Shard } from '../shard.ts';
import type { Scheduler } from './index.ts';

/** The cells a shard owns: every N-th from the I-th. Taking turns rather than blocks spreads the
 *  larger models and later seeds over all shards. */
export function ownedCells(cells: readonly Cell[], shard: Shard): Cell[] {
  return cells.filter((_, i) => i % shard.count === shard.index - 1);
}

/** Shard `shard`'s share of the run, trained by `inner`. */
export function shards(shard: Shard, inner: Scheduler): Scheduler {
  return { run: (cells, run) => inner.run(ownedCells(cells, shard), run) };
}
