// A pretrained model to fine-tune, from a model folder or the Hugging Face Hub (Node and Deno),
// with the tokenizer it was trained with: the task texts must be encoded with that one. A grid
// cell's starting point (its arm's `init`) is read here too, and checked before anything trains.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from '../engine/index.ts';
import { loadModel, type CheckpointFiles } from '../model/checkpoint.ts';
import { describeSize, fromHFConfig, sizeOf } from '../model/config.ts';
import { readCheckpoint } from '../model/hub.ts';
import { isHubRef } from '../model/hub-ref.ts';
import type { T5 } from '../model/t5.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import type { Cell, Grid } from './grid.ts';

export async function loadPretrained(spec: string, log: (line: string) => void): Promise<{ model: T5; tokenizer: Tokenizer }> {
  const files = await readCheckpoint(spec, log);
  await E.initEngine();
  const { model, tokenizer } = loadModel(files, spec);
  if (!tokenizer) {
    model.dispose();
    throw new Error(`${spec}: no spiece.model (or this project's tokenizer.json), so the task texts cannot be encoded for it`);
  }
  return { model, tokenizer };
}

/** The repository's root folder, which a built-in grid's relative init folders start from. */
export const REPOSITORY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where an arm's init is: a Hub reference as it is, a folder resolved from the grid file's
 *  folder (a built-in grid: the repository). */
export function initLocation(init: string, grid: Pick<Grid, 'dir'>): string {
  return isHubRef(init) ? init : path.resolve(grid.dir ?? REPOSITORY, init);
}

/** A pretrained folder's config.json must be of the arm's model size, and the folder must hold a
 *  tokenizer: the error names the file and both sizes. */
function checkInitFiles(files: CheckpointFiles, where: string, cell: Pick<Cell, 'model'>): void {
  const file = `${where}/config.json`;
  if (!files['config.json']) throw new Error(`${where}: no config.json; is this a model folder (config.json, model.safetensors, tokenizer.json)? \`npm run pretrain\` writes one`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(files['config.json']));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const config = fromHFConfig(raw, file);
  if (sizeOf(config) !== cell.model) throw new Error(`${file}: the model there is of size ${describeSize(config)}, but the arm's model is ${cell.model}; the arm's model must be its init's size`);
  if (!files['tokenizer.json'] && !files['spiece.model']) throw new Error(`${where}: no tokenizer.json or spiece.model, so the task texts cannot be encoded for it`);
}

/**
 * The checkpoint files a cell starts from: its init's (a folder, checked against the cell's
 * model size, or a Hub model), a Hub model's when the cell's model is one, else none (scratch).
 */
export async function cellCheckpoint(grid: Pick<Grid, 'dir'>, cell: Cell, log: (line: string) => void): Promise<CheckpointFiles | undefined> {
  if (cell.init) {
    const where = initLocation(cell.init, grid);
    const files = await readCheckpoint(where, log);
    checkInitFiles(files, where, cell);
    return files;
  }
  return isHubRef(cell.model) ? readCheckpoint(cell.model, log) : undefined;
}

/** Every init folder of a run's cells checked (there, a config.json of the arm's size, a
 *  tokenizer) before anything trains; Hub models are checked when their cells download them. */
export async function checkInits(grid: Pick<Grid, 'dir'>, cells: readonly Cell[]): Promise<void> {
  const seen = new Set<string>();
  for (const cell of cells) {
    if (!cell.init || isHubRef(cell.init)) continue;
    const key = `${cell.init}\u0000${cell.model}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const where = initLocation(cell.init, grid);
    const files: CheckpointFiles = {};
    for (const name of ['config.json', 'tokenizer.json', 'spiece.model']) {
      const bytes = await readFile(path.join(where, name)).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return null;
        throw new Error(`${path.join(where, name)}: cannot read (${e.message})`);
      });
      if (bytes) files[name] = new Uint8Array(bytes);
    }
    if (Object.keys(files).length === 0) {
      throw new Error(`init ${cell.init} (cell ${cell.id}): ${where} holds no model; \`npm run pretrain -- --model ${cell.model} --out ${where}\` makes one`);
    }
    checkInitFiles(files, where, cell);
  }
}
