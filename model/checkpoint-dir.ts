// Checkpoint folders on disk (Node and Deno). Saving writes into a fresh temporary folder and
// renames it over the old one, so an interrupted save never leaves a half-written checkpoint.

import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CheckpointFiles } from './checkpoint.ts';

export async function writeCheckpointDir(dir: string, files: CheckpointFiles): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(tmp, name), bytes);
  const old = `${dir}.old-${process.pid}`;
  const exists = await readdir(dir).then(() => true, () => false);
  if (exists) await rename(dir, old);
  await rename(tmp, dir);
  if (exists) await rm(old, { recursive: true, force: true });
}

/** Every file in a checkpoint folder, or null if the folder does not exist. */
export async function readCheckpointDir(dir: string): Promise<CheckpointFiles | null> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return null;
  }
  const files: CheckpointFiles = {};
  for (const n of names) files[n] = new Uint8Array(await readFile(path.join(dir, n)));
  return files;
}
