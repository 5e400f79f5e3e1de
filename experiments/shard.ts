// The run folder of a run split between independent processes (--shard I/N), such as the tasks
// of a Slurm job array or a Kubernetes Indexed Job, that share nothing but a file system. No shard
// talks to another: each computes the same run folder from the run's settings (shardRunDir), and
// keeps the files that only one process may write under names of its own: its lock, its clock,
// the claims of its worker processes, and a metrics file per cell. Which cells a shard trains is
// its scheduler's (schedulers/shards.ts); after each of them it publishes the whole run from the
// cells on disk (publish.ts), so that whichever shard finishes the last cell leaves the tables
// complete.

import { createHash, randomUUID } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

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

/** The lock a run command takes on the run folder (lockRun in run-folder.ts): each shard owns its
 *  cells, so a shard locks only against a second process of the same shard. */
export function lockFile(shard: Shard | undefined): string {
  return shard ? `lock-shard${shard.index}of${shard.count}.json` : 'lock.json';
}

/** Where the worker processes of one shard (--jobs) claim cells: a folder per shard, because a
 *  shard clears its claims when it starts and must not clear those of a shard still running. */
export function claimsDir(runDir: string, shard: Shard | undefined): string {
  return path.join(runDir, shard ? `claims-shard${shard.index}of${shard.count}` : 'claims');
}

/** Where the wall-clock time of a run is kept (startClock in run-folder.ts): a file per shard,
 *  since each shard times itself and the shards' times are combined when read (wallTime in publish.ts). */
export function clockFile(runDir: string, shard: Shard | undefined): string {
  return path.join(runDir, shard ? `time-shard${shard.index}of${shard.count}.json` : 'time.json');
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
