// Checkpoint folders on disk (Node and Deno). Saving writes into a fresh temporary folder and
// renames it over the old one, so an interrupted save never leaves a half-written checkpoint.

import type { Dirent } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CheckpointFiles } from './checkpoint.ts';
import { onFile } from '../util/fs-errors.ts';

export async function writeCheckpointDir(dir: string, files: CheckpointFiles): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  try {
    await onFile(dir, 'write the checkpoint', async () => {
      await rm(tmp, { recursive: true, force: true });
      await mkdir(tmp, { recursive: true });
      for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(tmp, name), bytes);
      await replaceDir(tmp, dir);
    });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw e;
  }
}

/** Puts the folder `fresh` where `dir` is, replacing it whole; if that last rename fails, the old
 *  folder goes back rather than be lost with the new one. */
export async function replaceDir(fresh: string, dir: string): Promise<void> {
  const old = `${dir}.old-${process.pid}`;
  const exists = await readdir(dir).then(() => true, () => false);
  if (exists) await rename(dir, old);
  try {
    await rename(fresh, dir);
  } catch (e) {
    if (exists) await rename(old, dir).catch(() => {});
    throw e;
  }
  if (exists) await rm(old, { recursive: true, force: true });
}

// The formats a checkpoint's readers understand. A Hugging Face repository also holds the same
// weights as pytorch_model.bin, tf_model.h5, flax_model.msgpack..., each as large as the model:
// reading those would only cost memory.
const READ_EXTENSIONS = ['.json', '.safetensors', '.model'];

/** The files of a checkpoint folder that its readers use (subfolders such as a clone's .git/ are
 *  skipped), or null if the folder does not exist. */
export async function readCheckpointDir(dir: string): Promise<CheckpointFiles | null> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw new Error(`${dir} is a file; a checkpoint is a folder (config.json, model.safetensors, a tokenizer)`);
    throw new Error(`${dir}: cannot list the checkpoint folder (${(e as Error).message})`);
  }
  const files: CheckpointFiles = {};
  for (const entry of entries) {
    if (!READ_EXTENSIONS.some((x) => entry.name.endsWith(x))) continue;
    const file = path.join(dir, entry.name);
    // The Hugging Face cache lays a snapshot out as links to its blobs.
    const isFile = entry.isSymbolicLink() ? await stat(file).then((s) => s.isFile(), () => false) : entry.isFile();
    if (!isFile) continue;
    try {
      files[entry.name] = new Uint8Array(await readFile(file));
    } catch (e) {
      throw new Error(`${file}: cannot read (${(e as Error).message})`);
    }
  }
  return files;
}
