// A run split between independent processes (--shard I/N), such as the tasks of a Slurm job array
// or a Kubernetes Indexed Job, that share nothing but a file system. No shard talks to another:
// each computes the same run folder from the run's settings, owns a fixed share of the cells, and
// after each of its cells rebuilds the run's results (and metrics.jsonl, which cells of a sharded
// run write each to a file of its own) from the cells on disk, so that whichever shard finishes
// the last cell leaves the tables complete.

import { createHash, randomUUID } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Cell } from './grid.ts';
import { readJson } from './run-folder.ts';
import type { ResultRow } from './report/stats.ts';

/** Shard `index` (1-based, as scheduler array indices usually are) of `count`. */
export interface Shard {
  index: number;
  count: number;
}

export function parseShard(value: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(value);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index < 1 || index > count) throw new Error(`--shard must be I/N with 1 <= I <= N, got ${value}`);
  return { index, count };
}

/** How logs name the shard, with a leading space; nothing for a run that is not split. */
export const shardLabel = (shard: Shard | undefined) => (shard ? ` shard ${shard.index}/${shard.count}` : '');

/** The cells a shard owns: every N-th from the I-th, a rule each shard applies alone. Taking
 *  turns rather than blocks spreads the larger models and later seeds over all shards. */
export function ownedCells(cells: Cell[], shard: Shard | undefined): Cell[] {
  return shard ? cells.filter((_, i) => i % shard.count === shard.index - 1) : cells;
}

/** Where the worker processes of one shard (--jobs) claim cells: a folder per shard, because a
 *  shard clears its claims when it starts and must not clear those of a shard still running. */
export function claimsDir(runDir: string, shard: Shard | undefined): string {
  return path.join(runDir, shard ? `claims-shard${shard.index}of${shard.count}` : 'claims');
}

/** Where the wall-clock time of a run is kept (startClock in run-folder.ts): a file per shard,
 *  since each shard times itself and the shards' times are combined when read (wallTime). */
export function clockFile(runDir: string, shard: Shard | undefined): string {
  return path.join(runDir, shard ? `time-shard${shard.index}of${shard.count}.json` : 'time.json');
}

/**
 * The wall-clock seconds a run has taken, as results.json reports them: its clock file's, or for
 * a run split into `shards` the longest shard's, since shards run side by side as the tasks of a
 * job array do (`shardWallSeconds` gives each shard's, whose sum is the run's time if they ran one
 * after another). Nothing for a run that was never timed (run folders from before clocks).
 */
export async function wallTime(runDir: string, shards: number | undefined): Promise<{ wallSeconds?: number; shardWallSeconds?: Record<string, number> }> {
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

/**
 * The run folder all shards of a run agree on: named by the run's settings (a finished sharded run
 * is not started again by the same command; another --out starts a new one), its config.json
 * written by whichever shard comes first. Fails when the folder was split into another number of
 * shards, since cells would then have two owners.
 */
export async function shardRunDir(root: string, preset: string, shard: Shard, config: { fingerprint: string }): Promise<string> {
  const hash = createHash('sha256').update(config.fingerprint).digest('hex').slice(0, 12);
  const dir = path.join(root, `${preset}-shards-${hash}`);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'config.json');
  await createOnce(file, JSON.stringify({ ...config, shards: shard.count }, null, 2));
  const written = JSON.parse(await readFile(file, 'utf8'));
  if (written.fingerprint !== config.fingerprint) throw new Error(`${dir} holds a different grid, preset or settings`);
  if (written.shards !== shard.count) throw new Error(`${dir} is split into ${written.shards} shards; run its shards with --shard I/${written.shards}`);
  return dir;
}

/** Writes `file` unless it exists, never leaving it partly written: the text goes to a file of
 *  this process's own, then is linked into place, which fails if another process came first. */
async function createOnce(file: string, text: string): Promise<void> {
  const tmp = `${file}.${randomUUID()}.tmp`;
  await writeFile(tmp, text);
  try {
    await link(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    await unlink(tmp);
  }
}

/** Where a cell appends its metrics lines: the run's metrics.jsonl, or in a sharded run a file of
 *  the cell's own, since appends from several machines to one file on shared storage (NFS) can
 *  overwrite each other. */
export function metricsDir(runDir: string, cellDir: string, shard: Shard | undefined): string {
  return shard ? cellDir : runDir;
}

/** The metrics lines of every cell that has any, in the run's order; a line cut short by a killed
 *  process is left out. */
export async function gatherMetrics(runDir: string, cells: Cell[]): Promise<string> {
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

/** The finished cells of a run folder (those with a result.json), in the run's order. */
export async function finishedCells(runDir: string, cells: Cell[]): Promise<{ cell: Cell; rows: ResultRow[] }[]> {
  const read = async (c: Cell) => {
    try {
      return JSON.parse(await readFile(path.join(runDir, 'cells', c.id, 'result.json'), 'utf8')) as { cell: Cell; rows: ResultRow[] };
    } catch {
      return null;
    }
  };
  return (await Promise.all(cells.map(read))).filter((r) => r !== null);
}

/**
 * Has `write` publish the rows of the finished cells, again until no cell finished while it wrote.
 * Several processes may publish at once and their writes land in any order, but the write that
 * lands last was followed by a look that found no cell it had missed, so it lags behind no cell
 * finished before it landed (a cell finished after it is published by the shard that trained it).
 */
export async function publish(
  runDir: string,
  cells: Cell[],
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
