// What a run is, and which folder holds it: a run folder's config.json (RunConfig), the identity
// a resumed run, a worker and a shard must match (runIdentity), and the choice between resuming
// the unfinished run of the same identity and starting a new folder (findUnfinished, newRunDir).
// A sharded run's folder is named by its identity instead (shardRunDir in shard.ts).

import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fsReason, onFile } from '../util/fs-errors.ts';
import type { GridPreset } from './grid.ts';
import { differences, readJson } from './run-folder.ts';

/** A run folder's config.json: what the run is, which a resumed run, a worker and --merge go by. */
export interface RunConfig {
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
export async function findUnfinished(root: string, config: RunConfig): Promise<{ resume: string | null; other: { dir: string; differ: string[] } | null }> {
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

/** `<preset>-<date>-<time>`: run folders sort by when they started. */
function runId(preset: string): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${preset}-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** A new run folder under `root` that did not exist before: two runs started in the same second
 *  get -2, -3... */
export async function newRunDir(root: string, preset: string): Promise<string> {
  const id = runId(preset);
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
