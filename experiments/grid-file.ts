// Grids from a researcher's own file (Node and Deno; the browser page knows only the built-in grids).

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { checkGrid, loadGrid, type Grid } from './grid.ts';

/** A grid by name, or a researcher's own grid file when `nameOrPath` ends in .json; a file's
 *  grid is named after the file, and its arms' relative init folders start from its folder. */
export async function resolveGrid(nameOrPath: string): Promise<Grid> {
  if (!nameOrPath.endsWith('.json')) return loadGrid(nameOrPath);
  let text: string;
  try {
    text = await readFile(nameOrPath, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${nameOrPath}: ${code === 'ENOENT' ? 'no such grid file' : code === 'EISDIR' ? 'is a folder, not a grid file' : (e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${nameOrPath}: not valid JSON (${(e as Error).message})`);
  }
  const name = nameOrPath.replace(/^.*[\\/]/, '').replace(/\.json$/, '');
  if (!/^[\w.-]+$/.test(name)) throw new Error(`${nameOrPath}: a grid file's name must be letters, digits, '.', '-' or '_' (it names the results folder)`);
  return { ...checkGrid(raw, name, nameOrPath), dir: path.dirname(path.resolve(nameOrPath)) };
}
