// The writes and reads that keep a run folder whole through crashes, kills and second processes:
// files replaced by rename from names no other writer uses, a metrics log whose torn last line
// (a write cut short) is dropped rather than trusted, a lock naming the process that owns the
// folder, and a clock file that adds up the wall time of the sessions that worked on it.

import { existsSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { link, readdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import { onFile } from '../util/fs-errors.ts';

let tmpCount = 0;

/** Replaces `file` whole: a reader sees the old text or the new, never a mix, and two writers
 *  never share a temporary file. */
export async function writeAtomic(file: string, text: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${++tmpCount}`;
  try {
    await onFile(file, 'write', async () => {
      await writeFile(tmp, text);
      await rename(tmp, file);
    });
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
}

/**
 * Clears what writers that died left behind in `dir` and its cells: temporary files and folders
 * named `*.tmp-<pid>...` go, a checkpoint `*.old-<pid>` goes or, if its replacement never landed,
 * back to its name. Only those of processes that are gone, so a live writer keeps its own.
 */
export async function removeLeftovers(dir: string): Promise<string[]> {
  const folders = [dir, ...(await readdir(path.join(dir, 'cells')).catch(() => [] as string[])).map((c) => path.join(dir, 'cells', c))];
  const removed: string[] = [];
  for (const folder of folders) removed.push(...(await clearLeftovers(folder)));
  return removed;
}

/** removeLeftovers() for one folder; with `of`, only the leftovers of the entry named `of`. */
export async function clearLeftovers(folder: string, of?: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(folder).catch(() => [] as string[])) {
    const m = /^(.*)\.(tmp|old)-(\d+)/.exec(name);
    if (!m || (of !== undefined && m[1] !== of) || alive(Number(m[3]))) continue;
    const [file, base] = [path.join(folder, name), path.join(folder, m[1])];
    // An old folder whose replacement never landed is the folder: it goes back.
    if (m[2] === 'old' && !existsSync(base)) await rename(file, base);
    else await rm(file, { recursive: true, force: true });
    removed.push(file);
  }
  return removed;
}

/** A JSON file's value, or null when it is missing or torn (a torn write is never trusted). */
export async function readJson(file: string): Promise<any | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * The records of a metrics.jsonl file. A last line without its newline was cut short by a crash:
 * it is dropped with a warning. A damaged line before it is an error naming the file and line.
 * Steps a resumed cell trained again after its last checkpoint appear twice: the later line wins.
 */
export async function readMetrics(file: string, warn: (line: string) => void): Promise<any[]> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw new Error(`${file}: cannot read (${e.message})`);
  });
  const lines = text.split('\n');
  const torn = lines.pop()!;
  if (torn !== '') warn(`${file}: dropped a torn last line (${torn.length} bytes without a line ending)`);
  const byKey = new Map<string, unknown>();
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let record: any;
    try {
      record = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not a JSON record (${(e as Error).message}); a line in the middle of the file is damaged, so the file cannot be trusted`);
    }
    byKey.set(JSON.stringify([record.cell, record.step, 'valAccuracy' in record]), record);
  });
  return [...byKey.values()];
}

/** Cuts a torn last line off a metrics file, so that the next append starts on a line of its own. */
export async function repairTornTail(file: string, warn: (line: string) => void): Promise<void> {
  const text = await readFile(file).catch(() => null);
  if (!text || text.length === 0 || text[text.length - 1] === 0x0a) return;
  const keep = text.lastIndexOf(0x0a) + 1;
  await truncate(file, keep);
  warn(`${file}: cut a torn last line (${text.length - keep} bytes) left by an interrupted write`);
}

/** The wall-clock time of a run across its sessions (startClock). */
export interface Clock {
  /** The earlier sessions' seconds, as the clock file had them when this session started. */
  earlierSeconds: number;
  /** The earlier sessions' seconds plus this session's so far. */
  seconds(): number;
  /** This session's seconds so far. */
  sessionSeconds(): number;
  /** Writes seconds() to the clock file, after any write still under way. */
  save(): Promise<void>;
  /** Saves, and ends the periodic saves. */
  stop(): Promise<void>;
}

/**
 * Times a run that may be resumed across several sessions (processes) as the sum of their wall
 * times: `file` holds {"seconds": s}, read when a session starts and replaced as it goes, every
 * `everyMs` and on save(), so a kill loses at most the time since the last save. Only the holder
 * of the folder's lock (or of a shard's lock, each shard with its own file) writes it, so no
 * update is lost to another writer.
 */
export async function startClock(file: string, everyMs = 10_000): Promise<Clock> {
  const earlierSeconds: number = (await readJson(file))?.seconds ?? 0;
  const t0 = performance.now();
  const sessionSeconds = () => (performance.now() - t0) / 1000;
  const seconds = () => earlierSeconds + sessionSeconds();
  let last = Promise.resolve();
  // Chained, so that an older value never lands after a newer one.
  const save = () => (last = last.catch(() => {}).then(() => writeAtomic(file, JSON.stringify({ seconds: Number(seconds().toFixed(1)) }))));
  // A periodic save that fails (a full disk) is retried by the next; save() and stop() report theirs.
  const timer = setInterval(() => void save().catch(() => {}), everyMs);
  timer.unref();
  return {
    earlierSeconds,
    seconds,
    sessionSeconds,
    save,
    stop: () => {
      clearInterval(timer);
      return save();
    },
  };
}

interface LockHolder {
  pid: number;
  host: string;
  since: string;
}

/** Whether the process `pid` of this host is alive. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, as another user's process.
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Takes the run folder for this process, or throws naming the process that holds it. A lock left
 * by a process of this host that no longer exists is taken over; one from another host is not
 * (its process cannot be checked), and the message says how to release it.
 * Returns the function that releases it. `name` is the lock file (a shard locks its own share).
 */
export async function lockRun(dir: string, name = 'lock.json'): Promise<() => Promise<void>> {
  const file = path.join(dir, name);
  const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  const mine = `${file}.${process.pid}-${++tmpCount}`;
  await writeFile(mine, JSON.stringify(me));
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      // link() creates the name only if nothing holds it: of two processes, exactly one wins.
      const won = await link(mine, file).then(() => true, (e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? false : Promise.reject(e)));
      if (won) {
        // process.exit() (a signal handler, a closed pipe) skips finally blocks; 'exit' still runs.
        const onExit = () => rmSync(file, { force: true });
        process.once('exit', onExit);
        return async () => {
          process.off('exit', onExit);
          await rm(file, { force: true });
        };
      }
      const text = await readFile(file, 'utf8').catch(() => null);
      if (text === null) continue;
      const holder = JSON.parse(text) as LockHolder;
      if (holder.host !== me.host || alive(holder.pid)) {
        const gone = holder.host === me.host ? '' : `; if that process is gone, delete ${file}`;
        throw new Error(`run ${dir} is in use by process ${holder.pid} on host ${holder.host} since ${holder.since}${gone}`);
      }
      // Stale: move it to a name of our own, and check that what moved is what was judged stale
      // (another process may have replaced it in between).
      const moved = `${file}.stale-${process.pid}-${++tmpCount}`;
      if (!(await rename(file, moved).then(() => true, () => false))) continue;
      const movedText = await readFile(moved, 'utf8');
      if (movedText !== text) await link(moved, file).catch(() => {});
      await rm(moved, { force: true });
    }
    throw new Error(`run ${dir}: could not take ${file} (other processes keep changing it)`);
  } finally {
    await rm(mine, { force: true });
  }
}

/** The key paths at which two JSON values differ (`training.lr`, `arms.0.model`, `seeds`). */
export function differences(a: unknown, b: unknown, at = ''): string[] {
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], at ? `${at}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [at];
}

/** Seconds as a progress line shows them: "42s", "3m05s", "1h20m". */
export const fmtTime = (s: number) => (s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`);
