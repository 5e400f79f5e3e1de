// The default scheduler: this process trains the unfinished cells one after another, in the
// grid's order, and publishes the run's results after each, so that an interrupted run shows
// what it finished. After the last one the runner publishes the run's end.

import { readResult } from '../train-cell.ts';
import { cellTiming, gridLeft } from '../timing.ts';
import type { Scheduler } from './index.ts';

export const inline: Scheduler = {
  async run(cells, run) {
    const done = await Promise.all(cells.map((c) => readResult(run.dir, c)));
    const todo = [...cells.keys()].filter((i) => !done[i]);
    const timing = cellTiming();
    for (const i of todo) {
      const cell = cells[i];
      // The grid's time left: the cells after this one, at this process's time per unit of cost.
      await timing.time(cell, () => run.train(cell, { index: i, count: cells.length }, () => gridLeft(timing.estimate(cells.slice(i + 1)))));
      if (i !== todo.at(-1)) await run.publish();
    }
    return cells;
  },
};
