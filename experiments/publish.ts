// The publish step: a run's results as its finished cells on disk make them, written into the run
// folder: the report (table.md, the charts, results.csv) first and results.json last, each file
// replaced whole (writeAtomic). results.json's `complete` is what marks a run finished, so a kill
// before it lands leaves a run that the same command resumes and ends again, never a finished run
// with stale tables. One step for every case: a run in one process or in workers, a shard
// publishing while other shards still train, and --merge.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Cell, GridPreset } from './grid.ts';
import { cellsOf } from './grid.ts';
import { buildReport, statistics, type ReportSpec, type Results } from './report/index.ts';
import type { ResultRow } from './report/stats.ts';
import type { RunConfig } from './run-identity.ts';
import { readJson, readMetrics, writeAtomic } from './run-folder.ts';
import { clockFile } from './shard.ts';
import { readResult, type CellResult } from './train-cell.ts';

/** The finished cells of a run folder (those with a result.json), in the run's order. */
export async function finishedCells(runDir: string, cells: readonly Cell[]): Promise<CellResult[]> {
  return (await Promise.all(cells.map((c) => readResult(runDir, c)))).filter((r) => r !== null);
}

/**
 * Has `write` publish the rows of the finished cells, again until no cell finished while it wrote.
 * Several processes may publish at once and their writes land in any order, but the write that
 * lands last was followed by a look that found no cell it had missed, so it lags behind no cell
 * finished before it landed (a cell finished after it is published by the shard that trained it).
 */
export async function publish(
  runDir: string,
  cells: readonly Cell[],
  write: (rows: ResultRow[], complete: boolean) => Promise<void>,
): Promise<{ finished: number; complete: boolean }> {
  for (;;) {
    const done = await finishedCells(runDir, cells);
    await write(
      done.flatMap((d) => d.rows),
      done.length === cells.length,
    );
    const finished = (await finishedCells(runDir, cells)).length;
    if (finished === done.length) return { finished, complete: finished === cells.length };
  }
}

/**
 * The wall-clock seconds a run has taken, as results.json reports them: its clock file's, or for
 * a run split into `shards` the longest shard's, since shards run side by side as the tasks of a
 * job array do (`shardWallSeconds` gives each shard's, whose sum is the run's time if they ran one
 * after another). Without clock files, what results.json said before; nothing for a run that was
 * never timed (run folders from before clocks).
 */
export async function wallTime(runDir: string, shards: number | undefined): Promise<{ wallSeconds?: number; shardWallSeconds?: Record<string, number> }> {
  const clocked = await clockedTime(runDir, shards);
  if (clocked.wallSeconds !== undefined) return clocked;
  // A folder copied without its clock files (a committed reference run) keeps the time it reported.
  const before = await readJson(path.join(runDir, 'results.json'));
  if (typeof before?.wallSeconds !== 'number') return {};
  return { wallSeconds: before.wallSeconds, ...(before.shardWallSeconds && { shardWallSeconds: before.shardWallSeconds }) };
}

async function clockedTime(runDir: string, shards: number | undefined): Promise<{ wallSeconds?: number; shardWallSeconds?: Record<string, number> }> {
  const read = async (file: string): Promise<number | undefined> => (await readJson(file))?.seconds;
  if (!shards) {
    const wallSeconds = await read(clockFile(runDir, undefined));
    return wallSeconds === undefined ? {} : { wallSeconds };
  }
  const shardWallSeconds: Record<string, number> = {};
  for (let index = 1; index <= shards; index++) {
    const seconds = await read(clockFile(runDir, { index, count: shards }));
    if (seconds !== undefined) shardWallSeconds[`${index}/${shards}`] = seconds;
  }
  const times = Object.values(shardWallSeconds);
  return times.length === 0 ? {} : { wallSeconds: Math.max(...times), shardWallSeconds };
}

/** The metrics lines of every cell that has any, in the run's order; a line cut short by a killed
 *  process is left out. (The cells of a sharded run log each to a file of its own.) */
export async function gatherMetrics(runDir: string, cells: readonly Cell[]): Promise<string> {
  const texts = await Promise.all(cells.map((c) => readFile(path.join(runDir, 'cells', c.id, 'metrics.jsonl'), 'utf8').catch(() => '')));
  const whole = (line: string) => {
    try {
      JSON.parse(line);
      return true;
    } catch {
      return false;
    }
  };
  return texts
    .flatMap((t) => t.split('\n'))
    .filter((l) => l.trim() && whole(l))
    .map((l) => `${l}\n`)
    .join('');
}

export const reportSpec = (p: GridPreset): ReportSpec => ({ ...p.table, chance: p.chance, description: p.description });

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

/** What a publish wrote: how many of the run's cells had finished, and the last write's results
 *  and report file names. */
export interface Published {
  finished: number;
  complete: boolean;
  results: Results;
  files: string[];
}

/**
 * Publishes the run in `dir` of `cells` (all the run's cells) from the cells finished on disk: in
 * a sharded run, metrics.jsonl gathered from the cells' own files first, then the report, then
 * results.json.
 */
export async function publishRun(dir: string, cells: readonly Cell[], config: RunConfig, warn: (l: string) => void): Promise<Published> {
  let written!: { results: Results; files: string[] };
  const r = await publish(dir, cells, async (rows, complete) => {
    if (config.shards) await writeAtomic(path.join(dir, 'metrics.jsonl'), await gatherMetrics(dir, cells));
    written = await writeResults(dir, config, rows, complete, warn);
  });
  return { ...r, ...written };
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
  const { finished, complete } = await publishRun(dir, cells, config, (l) => console.error(l));
  log(`merged ${finished}/${cells.length} finished cells${complete ? ' (the run is complete)' : ''}: ${path.join(dir, 'table.md')}`);
  return { finished, complete };
}
