// Runs a grid: every cell (explanation x model x training size x seed) trained and tested, with
// results written as they come, so an interrupted grid resumes where it stopped and a finished
// one is never overwritten. This file is the outline of a run: find or make the run folder and
// lock it, clear what dead processes left there, start the clock, have a scheduler train the
// cells (schedulers/, each cell by train-cell.ts), publish the results (publish.ts) and print
// the end.
//
// Layout of a run folder results/<grid>/<run-id>/:
//   config.json     the resolved grid preset, seeds and adapter
//   metrics.jsonl   one line per training step and per evaluation, of every cell (in a sharded
//                   run, gathered from cells/<cell>/metrics.jsonl, see shard.ts)
//   results.json    {grid, preset, adapter, complete, wallSeconds, config, rows: [...]}, rewritten
//                   after every cell; config is what ran ({grid, preset, seeds, settings}: the
//                   preset as it was), wallSeconds the wall-clock time of the run's sessions
//                   together (a sharded run: the longest shard's, with shardWallSeconds per shard)
//   time.json       the seconds those sessions took, kept up to date while one runs
//                   (time-shard<I>of<N>.json per shard, see shard.ts)
//   table.md, *.svg the paper-style table and charts (experiments/report)
//   cells/<cell>/   result.json, predictions.jsonl (every test example) and samples.json when
//                   the cell is done, checkpoint/ while it runs
//   claims/<cell>   while several processes share the run (--jobs): which cells are taken
//                   (claims-shard<I>of<N>/ for the processes of one shard, see shard.ts)
//   lock.json       while a run command owns the folder: its process, host and start time
//                   (lock-shard<I>of<N>.json per shard of a sharded run)

import path from 'node:path';
import * as E from '../engine/index.ts';
import { describeAdapter } from '../engine/index.ts';
import { cellsOf, type Cell, type Grid, type GridPreset } from './grid.ts';
import { checkInits } from './pretrained.ts';
import { finishedCells, publishRun, reportSpec, type Published } from './publish.ts';
import { textReport } from './report/index.ts';
import { findUnfinished, newRunDir, runIdentity, type RunConfig } from './run-identity.ts';
import { fmtTime, lockRun, readJson, removeLeftovers, repairTornTail, startClock, writeAtomic, type Clock } from './run-folder.ts';
import { chooseScheduler, type CellPlace, type RunCells, type SchedulerOptions } from './schedulers/index.ts';
import { clockFile, lockFile, metricsDir, shardLabel, shardRunDir, type Shard } from './shard.ts';
import { cellDir, trainCell } from './train-cell.ts';

export interface RunOptions extends SchedulerOptions {
  grid: Grid;
  preset: string;
  seeds?: number;
  /** The first seed (default 1): seeds firstSeed .. firstSeed + seeds - 1 run. */
  firstSeed?: number;
  /** Results root; the run folder goes under <out>/<grid>/. */
  out: string;
  log?: (line: string) => void;
  /** A cell whose checkpoint cannot be read restarts from its first step instead of stopping the run. */
  restartDamaged?: boolean;
}

/** A run folder this process holds: its config, and how to let it go. */
interface Held {
  dir: string;
  config: RunConfig;
  unlock: () => Promise<void>;
}

/** Runs the grid preset `o` asks for; resolves with the run folder once every cell of it (or of
 *  this shard) has finished. */
export async function runGrid(o: RunOptions): Promise<string> {
  const log = o.log ?? ((l: string) => console.log(l));
  const p = o.grid.presets[o.preset];
  const seeds = o.seeds ?? p.seeds;
  const firstSeed = o.firstSeed ?? 1;
  const engine = await E.initEngine();
  const adapter = describeAdapter(engine.adapter);
  const root = path.join(o.out, o.grid.name);
  const fingerprint = runIdentity(o.grid.name, o.preset, seeds, firstSeed, p);
  const config: RunConfig = { grid: o.grid.name, preset: o.preset, seeds, firstSeed, adapter, fingerprint, settings: p };
  if (o.worker) return runWorker(o, config, log);
  // Pretrained starting points exist and fit their arms before a run folder is made.
  await checkInits(o.grid, cellsOf(p, seeds, firstSeed));
  const held = o.shard ? await holdShard(root, config, o.shard, log) : await holdRun(root, config, log);
  try {
    return await runHeld(o, held, log);
  } finally {
    await held.unlock();
  }
}

/** The unfinished run of the same settings, resumed, or a new run folder. */
async function holdRun(root: string, config: RunConfig, log: (l: string) => void): Promise<Held> {
  const found = await findUnfinished(root, config);
  if (found.resume) {
    const unlock = await lockRun(found.resume);
    log(`resuming ${found.resume}`);
    return { dir: found.resume, config, unlock };
  }
  const other = found.other;
  if (other) log(`the unfinished run ${other.dir} of preset ${config.preset} ran other settings (${other.differ.join(', ')}); it stays as it is, and this run starts a new folder`);
  const dir = await newRunDir(root, config.preset);
  // Locked before config.json exists: whoever finds the folder by its config finds it locked.
  const unlock = await lockRun(dir);
  await writeAtomic(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  log(`writing to ${dir}`);
  return { dir, config, unlock };
}

/** The folder all shards of the run share, locked for this shard only. */
async function holdShard(root: string, config: RunConfig, shard: Shard, log: (l: string) => void): Promise<Held> {
  const dir = await shardRunDir(root, config.preset, shard, config);
  log(`${shardLabel(shard).trim()} of ${dir}`);
  const unlock = await lockRun(dir, lockFile(shard));
  return { dir, config: { ...config, shards: shard.count }, unlock };
}

/** Trains the run's (or the shard's) unfinished cells, timing the session into the run's clock,
 *  and writes the run's end. */
async function runHeld(o: RunOptions, { dir, config }: Held, log: (l: string) => void): Promise<string> {
  for (const f of await removeLeftovers(dir)) log(`cleared ${f}, left by a process that is gone`);
  const clock = await startClock(clockFile(dir, o.shard));
  try {
    // A sharded run's cells keep their own metrics files, repaired by the cell (trainCell).
    if (!o.shard) await repairTornTail(path.join(dir, 'metrics.jsonl'), log);
    const cells = cellsOf(config.settings, config.seeds, config.firstSeed);
    const warn = o.log ?? ((l: string) => console.error(l));
    // results.json reports the run's time so far: the clock is saved before each write.
    const publish = async () => {
      await clock.save();
      return publishRun(dir, cells, config, warn);
    };
    const afterCell = async () => {
      await publish();
    };
    const mine = await chooseScheduler(o, dir).run(cells, runCells(o, dir, config.settings, log, afterCell));
    const published = await publish();
    const finished = (await finishedCells(dir, mine)).length;
    if (o.shard) {
      const tables = `${published.complete ? '' : ' (the tables cover those)'}: ${path.join(dir, 'table.md')}`;
      log(`${shardLabel(o.shard).trim()}: ${finished}/${mine.length} of its cells and ${published.finished}/${cells.length} of the run's finished${tables}`);
    }
    if (finished < mine.length) throw new Error(`some cells did not finish; run the same command again to resume ${dir}`);
    if (!o.shard) printSummary(dir, published, config.settings, clock, log);
    return dir;
  } finally {
    await clock.stop();
  }
}

/** A worker process of a --jobs run: trains cells of the run folder its parent holds, then stops.
 *  The parent holds the lock and the clock and publishes the results. */
async function runWorker(o: RunOptions, mine: RunConfig, log: (l: string) => void): Promise<string> {
  const { dir, index, count } = o.worker!;
  const config = await readJson(path.join(dir, 'config.json'));
  if (config?.fingerprint !== mine.fingerprint) throw new Error(`worker ${index + 1}/${count}: ${dir} holds a different grid, preset, seeds or settings`);
  if (config.adapter !== mine.adapter) log(`worker ${index + 1}/${count}: adapter ${mine.adapter}, the run was started on ${config.adapter}`);
  const cells = cellsOf(mine.settings, mine.seeds, mine.firstSeed);
  await chooseScheduler(o, dir).run(cells, runCells(o, dir, mine.settings, log, async () => {}));
  return dir;
}

/** What the schedulers get: the run folder, and how to train a cell of it and publish the run. */
function runCells(o: RunOptions, dir: string, p: GridPreset, log: (l: string) => void, publish: () => Promise<void>): RunCells {
  return {
    dir,
    log,
    publish,
    async train(cell, place, gridEta) {
      const at = cellDir(dir, cell);
      await trainCell(p, cell, { grid: o.grid, dir: at, metricsDir: metricsDir(dir, at, o.shard), tag: cellTag(o, place, cell), log, gridEta, restartDamaged: o.restartDamaged ?? false });
    },
  };
}

/** How a cell's lines start: `[grid preset (shard) (worker)] cell 3/16 medium tiny n=2000 seed 1`. */
const cellTag = (o: RunOptions, place: CellPlace, cell: Cell) =>
  `[${o.grid.name} ${o.preset}${shardLabel(o.shard)}${place.worker ?? ''}] cell ${place.index + 1}/${place.count} ${cell.explanation} ${cell.model}${cell.init ? ` init ${cell.init}` : ''} n=${cell.trainSize} seed ${cell.seed}`;

/** The end of a run in the terminal: the table as table.md has it, where the files are, and the
 *  wall time (a resumed run's, of all its sessions). */
function printSummary(dir: string, written: Published, p: GridPreset, clock: Clock, log: (l: string) => void) {
  for (const line of ['', ...textReport(written.results, reportSpec(p)).split('\n'), '']) log(line);
  log(`table: ${path.join(dir, 'table.md')}`);
  for (const file of written.files.filter((f) => f.endsWith('.svg'))) log(`chart: ${path.join(dir, file)}`);
  const resumed = clock.earlierSeconds > 0 ? ` (this session ${fmtTime(clock.sessionSeconds())})` : '';
  log(`done in ${fmtTime(clock.seconds())} wall-clock${resumed}: ${dir}`);
}
