// Runs a grid: every cell (explanation x model x training size x seed) trained and tested, with
// results written as they come, so an interrupted grid resumes where it stopped and a finished
// one is never overwritten.
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

import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readdir, appendFile, rm } from 'node:fs/promises';
import path from 'node:path';
import * as E from '../engine/index.ts';
import { describeAdapter, GPUOutOfMemoryError } from '../engine/index.ts';
import { readCheckpointDir, writeCheckpointDir } from '../model/checkpoint-dir.ts';
import { modelFiles } from '../model/checkpoint.ts';
import { PRESET_NAMES, type PresetName } from '../model/config.ts';
import { TrainingDivergedError, type CheckpointStore, type Trainer } from '../training/trainer.ts';
import { fsReason, onFile } from '../util/fs-errors.ts';
import { evalRecord, prepareCell, stepRecord, testCell } from './cell.ts';
import { cellCheckpoint, checkInits } from './pretrained.ts';
import { cellsOf, trainingOf, type Cell, type Grid, type GridPreset } from './grid.ts';
import { EXPLANATION_FORMATS } from './tasks/explain.ts';
import { differences, fmtTime, lockRun, readJson, removeLeftovers, readMetrics, repairTornTail, startClock, writeAtomic, type Clock } from './run-folder.ts';
import { buildReport, statistics, textReport, type ReportSpec, type Results } from './report/index.ts';
import type { ResultRow } from './report/stats.ts';
import { claimsDir, clockFile, finishedCells, gatherMetrics, metricsDir, ownedCells, publish, shardLabel, shardRunDir, wallTime, type Shard } from './shard.ts';


export interface RunOptions {
  grid: Grid;
  preset: string;
  seeds?: number;
  /** The first seed (default 1): seeds firstSeed .. firstSeed + seeds - 1 run. */
  firstSeed?: number;
  /** Results root; the run folder goes under <out>/<grid>/. */
  out: string;
  log?: (line: string) => void;
  /**
   * Cells trained at once, each worker in a process of its own started by `launch` (one process
   * leaves a software adapter's cores idle between a small model's dispatches, and most of a GPU
   * idle). Default 1: every cell in this process.
   */
  jobs?: number;
  launch?: (worker: WorkerSpec) => Promise<void>;
  /** Set in a worker process: train unclaimed cells of the run folder `worker.dir`, then stop. */
  worker?: WorkerSpec;
  /** A cell whose checkpoint cannot be read restarts from its first step instead of stopping the run. */
  restartDamaged?: boolean;
  /** This process's share of a run split between independent processes (shard.ts). */
  shard?: Shard;
}

/** A run folder's config.json: what the run is, which a resumed run, a worker and --merge go by. */
interface RunConfig {
  grid: string;
  preset: string;
  seeds: number;
  /** The first of the seeds; absent in runs from before it could be chosen, which started at 1. */
  firstSeed?: number;
  /** The adapter: in config.json the one the run started on, in results.json the latest session's. */
  adapter: string;
  /** Grid, preset, seeds and settings in one string: a resumed run must match it. */
  fingerprint: string;
  /** The preset as it was when the run started. */
  settings: GridPreset;
  /** How many shards split the run (sharded runs only). */
  shards?: number;
}

/** Worker `index` of `count` sharing the run folder `dir`. */
export interface WorkerSpec {
  index: number;
  count: number;
  dir: string;
}


/**
 * A cell's cost guessed from the grid, in no particular unit: larger model presets (in
 * PRESET_NAMES order, a Hugging Face model above them all) and longer explanation formats
 * (EXPLANATION_FORMATS order) train slower. On the explanations grid xs with long explanations
 * took 12 times as long as tiny without (guessed: 8).
 */
function cellCost(c: Cell): number {
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

/**
 * What makes a run's results what they are, as one string: a resumed run, a worker and a shard
 * must match it. A preset's description is words about the run, so editing it leaves the run
 * as it was; seeds from 1 leave the string as runs had it before the first seed could be chosen.
 */
export function runIdentity(grid: string, preset: string, seeds: number, firstSeed: number, p: GridPreset): string {
  const { description: _, ...settings } = p;
  return JSON.stringify({ grid, preset, seeds, ...(firstSeed !== 1 && { firstSeed }), config: settings });
}

/**
 * The unfinished run of the same grid, preset and settings, if one exists: `resume`. A complete
 * run that a kill left with its lock, or without its table, counts as unfinished: resuming it
 * trains nothing and writes its end again. Otherwise `other`: the latest unfinished run of the
 * preset with other settings, and where they differ, which a new run leaves as it is.
 */
async function findUnfinished(root: string, config: RunConfig): Promise<{ resume: string | null; other: { dir: string; differ: string[] } | null }> {
  const names = await readdir(root).catch(() => [] as string[]);
  const what = (c: RunConfig) => ({ ...c.settings, description: undefined, seeds: c.seeds, firstSeed: c.firstSeed ?? 1 });
  let other: { dir: string; differ: string[] } | null = null;
  for (const name of names.sort().reverse()) {
    const dir = path.join(root, name);
    const them: RunConfig | null = await readJson(path.join(dir, 'config.json'));
    // a sharded run is resumed by its shards only: cells there have owners
    if (!them?.settings || them.shards) continue;
    const complete = (await readJson(path.join(dir, 'results.json')))?.complete === true;
    if (them.fingerprint === config.fingerprint) {
      if (!complete || existsSync(path.join(dir, 'lock.json')) || !existsSync(path.join(dir, 'table.md'))) return { resume: dir, other: null };
    } else if (!complete && !other && them.preset === config.preset) {
      const differ = differences(what(them), what(config));
      if (differ.length > 0) other = { dir, differ };
    }
  }
  return { resume: null, other };
}

function runId(preset: string): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${preset}-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** A new folder that did not exist before: two runs started in the same second get -2, -3... */
async function freshDir(root: string, id: string): Promise<string> {
  await onFile(root, 'create the results folder', () => mkdir(root, { recursive: true }));
  for (let n = 1; ; n++) {
    const dir = path.join(root, n === 1 ? id : `${id}-${n}`);
    try {
      await mkdir(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`${dir}: cannot create the run folder (${fsReason(e)})`);
    }
  }
}

function fsStore(dir: string): CheckpointStore {
  return {
    save: (name, files) => writeCheckpointDir(path.join(dir, name), files),
    load: (name) => readCheckpointDir(path.join(dir, name)),
  };
}

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
  if (o.worker) return runWorker(o, p, config, log);
  // Pretrained starting points exist and fit their arms before a run folder is made.
  await checkInits(o.grid, cellsOf(p, seeds, firstSeed));
  if (o.shard) {
    const dir = await shardRunDir(root, o.preset, o.shard, config);
    log(`${shardLabel(o.shard).trim()} of ${dir}`);
    // Each shard owns its cells, so shards lock only against a second process of the same shard.
    const unlock = await lockRun(dir, `lock-shard${o.shard.index}of${o.shard.count}.json`);
    try {
      return await runLocked(o, { ...config, shards: o.shard.count }, dir, log);
    } finally {
      await unlock();
    }
  }
  const found = await findUnfinished(root, config);
  let dir = found.resume;
  let unlock: () => Promise<void>;
  if (dir) {
    unlock = await lockRun(dir);
    log(`resuming ${dir}`);
  } else {
    const other = found.other;
    if (other) log(`the unfinished run ${other.dir} of preset ${o.preset} ran other settings (${other.differ.join(', ')}); it stays as it is, and this run starts a new folder`);
    dir = await freshDir(root, runId(o.preset));
    // Locked before config.json exists: whoever finds the folder by its config finds it locked.
    unlock = await lockRun(dir);
    await writeAtomic(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
    log(`writing to ${dir}`);
  }
  try {
    return await runLocked(o, config, dir, log);
  } finally {
    await unlock();
  }
}

/** Trains the run's (or the shard's) unfinished cells, timing the session into the run's clock. */
async function runLocked(o: RunOptions, config: RunConfig, dir: string, log: (l: string) => void): Promise<string> {
  for (const f of await removeLeftovers(dir)) log(`cleared ${f}, left by a process that is gone`);
  const clock = await startClock(clockFile(dir, o.shard));
  try {
    return await trainRun(o, config, dir, clock, log);
  } finally {
    await clock.stop();
  }
}

async function trainRun(o: RunOptions, config: RunConfig, dir: string, clock: Clock, log: (l: string) => void): Promise<string> {
  const p = config.settings;
  // A sharded run's cells keep their own metrics files, repaired by the cell (runCell).
  if (!o.shard) await repairTornTail(path.join(dir, 'metrics.jsonl'), log);

  const allCells = cellsOf(p, config.seeds, config.firstSeed);
  const cells = ownedCells(allCells, o.shard);
  const warn = o.log ?? ((l: string) => console.error(l));
  // results.json reports the run's time so far: the clock is saved before each write.
  const write = async (rows: ResultRow[], complete: boolean) => {
    await clock.save();
    return writeResults(dir, config, rows, complete, warn);
  };
  const publishAll = async () => {
    await clock.save();
    return publishRun(dir, allCells, config, warn);
  };
  const endShard = async () => {
    const r = await publishAll();
    const mine = (await finishedCells(dir, cells)).length;
    log(`${shardLabel(o.shard).trim()}: ${mine}/${cells.length} of its cells and ${r.finished}/${allCells.length} of the run's finished${r.complete ? '' : ' (the tables cover those)'}: ${path.join(dir, 'table.md')}`);
    if (mine < cells.length) throw new Error(`some cells did not finish; run the same command again to resume ${dir}`);
    return dir;
  };
  const finish = async (rows: ResultRow[]) => {
    const complete = rows.length === cells.length * Object.keys(p.tests).length;
    const written = await write(rows, complete);
    if (!complete) throw new Error(`some cells did not finish; run the same command again to resume ${dir}`);
    printSummary(dir, written, p, clock, log);
    return dir;
  };
  const todo = (await Promise.all(cells.map((c) => readJson(path.join(dir, 'cells', c.id, 'result.json'))))).filter((r) => !r).length;
  const jobs = Math.min(o.jobs ?? 1, todo);
  if (jobs > 1) {
    if (!o.launch) throw new Error('runGrid: jobs > 1 needs a launch function that starts worker processes');
    await runInWorkers(dir, claimsDir(dir, o.shard), jobs, todo, o.launch, log);
    if (o.shard) return endShard();
    return finish((await Promise.all(cells.map((c) => readJson(path.join(dir, 'cells', c.id, 'result.json'))))).flatMap((r) => r?.rows ?? []));
  }
  const rows: ResultRow[] = [];
  const timing = cellTiming();
  for (const [ci, cell] of cells.entries()) {
    const cellDir = path.join(dir, 'cells', cell.id);
    const done = await readJson(path.join(cellDir, 'result.json'));
    if (done) {
      rows.push(...done.rows);
      continue;
    }
    const tag = cellTag(o, '', ci, cells.length, cell);
    const cellRows = await timing.time(cell, () =>
      runCell(o, p, cell, cellDir, metricsDir(dir, cellDir, o.shard), tag, log, () => {
        const left = timing.estimate(cells.slice(ci + 1));
        return Number.isFinite(left) ? ` | grid left ~${fmtTime(left)}` : '';
      }),
    );
    rows.push(...cellRows);
    if (o.shard) await publishAll();
    else await write(rows, false);
  }
  if (o.shard) return endShard();
  return finish(rows);
}

/** The end of a run in the terminal: the table as table.md has it, where the files are, and the
 *  wall time (a resumed run's, of all its sessions). */
function printSummary(dir: string, written: { results: Results; files: string[] }, p: GridPreset, clock: Clock, log: (l: string) => void) {
  for (const line of ['', ...textReport(written.results, reportSpec(p)).split('\n'), '']) log(line);
  log(`table: ${path.join(dir, 'table.md')}`);
  for (const file of written.files.filter((f) => f.endsWith('.svg'))) log(`chart: ${path.join(dir, file)}`);
  const resumed = clock.earlierSeconds > 0 ? ` (this session ${fmtTime(clock.sessionSeconds())})` : '';
  log(`done in ${fmtTime(clock.seconds())} wall-clock${resumed}: ${dir}`);
}

/** Starts the workers on a clean set of claims and waits for all of them; throws after the last
 *  one ends if any failed (the cells the others finished are kept). */
async function runInWorkers(dir: string, claims: string, jobs: number, todo: number, launch: (w: WorkerSpec) => Promise<void>, log: (l: string) => void) {
  // Claims left by an interrupted run belong to no live process.
  await rm(claims, { recursive: true, force: true });
  await mkdir(claims);
  log(`training ${todo} cells in ${jobs} processes`);
  const ended = await Promise.allSettled(Array.from({ length: jobs }, (_, index) => launch({ index, count: jobs, dir })));
  await rm(claims, { recursive: true, force: true });
  const failed = ended.flatMap((e, i) => (e.status === 'rejected' ? [`worker ${i + 1}: ${(e.reason as Error).message}`] : []));
  if (failed.length > 0) log(`${failed.join('; ')}`);
}

/**
 * The order workers claim cells in, with each cell's index in the grid: the dearest first
 * (cellCost), so that the last cells of a run are short ones and the workers finish together. A
 * worker left alone with a long cell leaves the cores it shared idle. Ties keep the grid's order.
 */
export function claimOrder(cells: readonly Cell[]): [number, Cell][] {
  return [...cells.entries()].sort(([i, a], [j, b]) => cellCost(b) - cellCost(a) || i - j);
}

/** A worker: claims cells one at a time (whichever process creates claims/<cell> first owns
 *  it) until none is left, dearest first (claimOrder); the parent writes the results. */
async function runWorker(o: RunOptions, p: GridPreset, mine: RunConfig, log: (l: string) => void) {
  const { dir, index, count } = o.worker!;
  const config = await readJson(path.join(dir, 'config.json'));
  if (config?.fingerprint !== mine.fingerprint) throw new Error(`worker ${index + 1}/${count}: ${dir} holds a different grid, preset, seeds or settings`);
  if (config.adapter !== mine.adapter) log(`worker ${index + 1}/${count}: adapter ${mine.adapter}, the run was started on ${config.adapter}`);
  const cells = ownedCells(cellsOf(p, mine.seeds, mine.firstSeed), o.shard);
  const claims = claimsDir(dir, o.shard);
  // The grid's time left, as this worker sees it: the cells nobody has claimed yet, shared among
  // the workers at this worker's time per unit of cost (the cells under way not counted, as in a
  // single process's estimate).
  const finishedBefore = new Set((await finishedCells(dir, cells)).map((f) => f.cell.id));
  const timing = cellTiming();
  const gridEta = () => {
    let claimed: Set<string>;
    try {
      claimed = new Set(readdirSync(claims));
    } catch {
      return '';
    }
    const left = timing.estimate(cells.filter((c) => !finishedBefore.has(c.id) && !claimed.has(c.id)));
    return Number.isFinite(left) ? ` | grid left ~${fmtTime(left / count)}` : '';
  };
  for (const [ci, cell] of claimOrder(cells)) {
    const cellDir = path.join(dir, 'cells', cell.id);
    if (await readJson(path.join(cellDir, 'result.json'))) continue;
    try {
      await mkdir(path.join(claims, cell.id));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw e;
    }
    const tag = cellTag(o, ` worker ${index + 1}/${count}`, ci, cells.length, cell);
    await timing.time(cell, () => runCell(o, p, cell, cellDir, metricsDir(dir, cellDir, o.shard), tag, log, gridEta));
  }
  return dir;
}

/** How a cell's lines start: `[grid preset (shard) (worker)] cell 3/16 medium tiny n=2000 seed 1`. */
const cellTag = (o: RunOptions, worker: string, index: number, count: number, cell: Cell) =>
  `[${o.grid.name} ${o.preset}${shardLabel(o.shard)}${worker}] cell ${index + 1}/${count} ${cell.explanation} ${cell.model}${cell.init ? ` init ${cell.init}` : ''} n=${cell.trainSize} seed ${cell.seed}`;

/** Resumes the cell from its checkpoint, if it has one; a damaged one stops the run naming it,
 *  or with `restart`, is deleted and the cell starts over. */
async function resumeCell(trainer: Trainer, store: CheckpointStore, checkpoint: string, restart: boolean, tag: string, log: (l: string) => void): Promise<boolean | 'restart'> {
  try {
    return await trainer.resume(store, 'checkpoint');
  } catch (e) {
    const why = `${checkpoint} is damaged (${(e as Error).message})`;
    if (!restart) {
      throw new Error(`${why}. To train this cell again from its first step, delete that folder or run the same command with --restart-damaged; the finished cells are kept.`);
    }
    log(`${tag}: ${why}; restarting the cell from its first step (--restart-damaged)`);
    await rm(checkpoint, { recursive: true, force: true });
    return 'restart';
  }
}

/**
 * Rebuilds results.json, the table and the charts of a run folder from its finished cells
 * (--merge): at any time, while its shards or workers still run or after they stopped.
 */
export async function mergeRun(dir: string, grid: string, log: (l: string) => void = (l) => console.log(l)): Promise<{ finished: number; complete: boolean }> {
  const config: RunConfig | null = await readJson(path.join(dir, 'config.json'));
  if (!config?.settings) throw new Error(`${dir} is not a run folder: it has no config.json`);
  if (config.grid !== grid) throw new Error(`${dir} is a run of grid ${config.grid}, not ${grid}`);
  const cells = cellsOf(config.settings, config.seeds, config.firstSeed);
  const r = await publishRun(dir, cells, config, (l) => console.error(l));
  log(`merged ${r.finished}/${cells.length} finished cells${r.complete ? ' (the run is complete)' : ''}: ${path.join(dir, 'table.md')}`);
  return r;
}

function publishRun(dir: string, cells: Cell[], config: RunConfig, warn: (l: string) => void) {
  return publish(dir, cells, async (rows, complete) => {
    if (config.shards) await writeAtomic(path.join(dir, 'metrics.jsonl'), await gatherMetrics(dir, cells));
    await writeResults(dir, config, rows, complete, warn);
  });
}

const reportSpec = (p: GridPreset): ReportSpec => ({ ...p.table, chance: p.chance, description: p.description });

/** Writes results.json and the report made from it; returns the results and the report's file names. */
async function writeResults(dir: string, config: RunConfig, rows: ResultRow[], complete: boolean, warn: (l: string) => void) {
  const results = {
    grid: config.grid,
    preset: config.preset,
    adapter: config.adapter,
    complete,
    ...(await wallTime(dir, config.shards)),
    // What ran, so that a result can be checked against the grid file as it stands now.
    config: { grid: config.grid, preset: config.preset, seeds: config.seeds, firstSeed: config.firstSeed ?? 1, settings: config.settings },
    rows,
    statistics: statistics(rows),
  };
  const metrics = await readMetrics(path.join(dir, 'metrics.jsonl'), warn);
  const report = buildReport(results, metrics, reportSpec(config.settings));
  for (const [name, content] of Object.entries(report)) await writeAtomic(path.join(dir, name), content);
  // results.json last: its `complete` is what marks the run finished, so a kill before it leaves
  // a run that the same command resumes and ends again, never a finished run with stale tables.
  await writeAtomic(path.join(dir, 'results.json'), JSON.stringify(results, null, 2));
  return { results, files: Object.keys(report) };
}

async function runCell(
  o: RunOptions,
  p: GridPreset,
  cell: Cell,
  cellDir: string,
  /** Where metrics.jsonl gets this cell's lines. */
  metricsIn: string,
  tag: string,
  log: (l: string) => void,
  gridEta: () => string,
): Promise<ResultRow[]> {
  await mkdir(cellDir, { recursive: true });
  const store = fsStore(cellDir);
  const pretrained = await cellCheckpoint(o.grid, cell, (l) => log(`${tag}: ${l}`));
  let prepared = prepareCell(p, cell, pretrained);
  const resumed = await resumeCell(prepared.trainer, store, path.join(cellDir, 'checkpoint'), o.restartDamaged ?? false, tag, log);
  if (resumed === 'restart') {
    // A failed resume may have loaded part of the checkpoint: start from a fresh model.
    prepared.trainer.optimizer.dispose();
    prepared.model.dispose();
    prepared = prepareCell(p, cell, pretrained);
  }
  const { model, tokenizer, trainer, params } = prepared;
  const t = trainingOf(p, cell);
  log(`${tag}: model ${cell.model}, ${params.toLocaleString('en-US')} parameters, vocabulary ${tokenizer.vocabSize}`);
  for (const note of prepared.notes) log(`${tag}: ${note}`);
  if (resumed === true) log(`${tag}: resumed at step ${trainer.step}`);
  const metricsFile = path.join(metricsIn, 'metrics.jsonl');
  // A cell's own metrics file (sharded runs) may end in a line a kill cut short.
  if (metricsIn === cellDir) await repairTornTail(metricsFile, log);
  let lastPrint = 0;
  const result = await trainer
    .run({
      store: { save: (_, files) => store.save('checkpoint', files), load: () => store.load('checkpoint') },
      onProgress: async (pr) => {
        await appendFile(metricsFile, JSON.stringify(stepRecord(cell, pr)) + '\n');
        const now = performance.now();
        if (now - lastPrint > 5000 || pr.step === pr.totalSteps) {
          lastPrint = now;
          const acc = pr.valAccuracy === null ? '' : ` val ${(pr.valAccuracy * 100).toFixed(1)}%`;
          log(`${tag}: step ${pr.step}/${pr.totalSteps} loss ${pr.loss.toFixed(3)} ${Math.round(pr.tokensPerSecond)} tok/s${acc} | cell left ~${fmtTime(pr.etaSeconds)}${gridEta()}`);
        }
      },
      onEval: async (r) => {
        await appendFile(metricsFile, JSON.stringify(evalRecord(cell, r)) + '\n');
        log(`${tag}: step ${r.step} validation accuracy ${(r.valAccuracy * 100).toFixed(1)}%${r.best ? ' (best)' : ''}`);
      },
    })
    .catch((e) => {
      if (e instanceof GPUOutOfMemoryError) {
        throw new GPUOutOfMemoryError(`${tag}: ${e.message} Here: lower training.batchSize (${t.batchSize}) or use a smaller model than ${cell.model}.`);
      }
      if (e instanceof TrainingDivergedError) throw new TrainingDivergedError(`cell ${cell.id}: ${e.message} (training.lr is ${t.lr}); the finished cells are kept`);
      throw e;
    });
  await trainer.restoreBest();
  const { rows, samples, predictions } = await testCell(prepared, cell, result, (name, r) => {
    log(`${tag}: test ${name} accuracy ${(r.accuracy * 100).toFixed(1)}% (${r.correct}/${r.total})`);
  });
  // The trained model (best validation weights) stays, ready for `model/cli.ts generate`; the
  // training checkpoint, three times its size with the optimizer state, goes once the result is safe.
  await writeCheckpointDir(path.join(cellDir, 'model'), await modelFiles(model, tokenizer));
  trainer.optimizer.dispose();
  model.dispose();
  await writeAtomic(path.join(cellDir, 'samples.json'), JSON.stringify(samples, null, 2));
  await writeAtomic(path.join(cellDir, 'predictions.jsonl'), predictions.map((l) => JSON.stringify(l) + '\n').join(''));
  await writeAtomic(path.join(cellDir, 'result.json'), JSON.stringify({ cell, rows }, null, 2));
  await rm(path.join(cellDir, 'checkpoint'), { recursive: true, force: true });
  return rows;
}
