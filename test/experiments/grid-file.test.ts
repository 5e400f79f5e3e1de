// A researcher's own grid file: read like the built-in grids, with the same checks and messages.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { loadGrid } from '../../experiments/grid.ts';
import { resolveGrid } from '../../experiments/grid-file.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'grid-file-'));
const builtIn = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../experiments/grids/modsum.json'), 'utf8'));
const write = (name: string, text: string) => {
  writeFileSync(path.join(dir, name), text);
  return path.join(dir, name);
};

it('reads a grid file like the built-in grid it copies, named after the file', async () => {
  const grid = await resolveGrid(write('my-grid.json', JSON.stringify(builtIn)));
  expect(grid.name).toBe('my-grid');
  expect(grid.presets).toEqual(loadGrid('modsum').presets);
});

it('names the file, preset and rule of a bad grid file', async () => {
  const bad = structuredClone(builtIn);
  bad.presets.tiny.arms[0].model = 'huge';
  const file = write('bad.json', JSON.stringify(bad));
  await expect(resolveGrid(file)).rejects.toThrow(`${file} preset tiny: arms[0].model "huge" is not one of tiny, xs, s, m, t5-small`);
  delete bad.presets.tiny.table;
  bad.presets.tiny.arms[0].model = 'tiny';
  await expect(resolveGrid(write('bad.json', JSON.stringify(bad)))).rejects.toThrow(`${file} preset tiny: "table" must be {"rows": [field names], "columns": field name}`);
  await expect(resolveGrid(write('torn.json', '{"presets": {'))).rejects.toThrow(`${path.join(dir, 'torn.json')}: not valid JSON`);
  await expect(resolveGrid(path.join(dir, 'none.json'))).rejects.toThrow(`${path.join(dir, 'none.json')}: no such grid file`);
  await expect(resolveGrid('nope')).rejects.toThrow('unknown grid "nope"; valid grids: explanations, modsum, data-size, generalization, or the path of a grid file (*.json)');
});

it("bench/cell.json (issue 9's timed cell) is a valid grid: the medium tiny cell of the explanations grid's data", async () => {
  const grid = await resolveGrid(path.resolve(import.meta.dirname, '../../bench/cell.json'));
  const quick = loadGrid('explanations').presets.quick;
  for (const name of ['cell', 'short']) {
    const p = grid.presets[name];
    expect(p.taskOptions).toEqual(quick.taskOptions);
    expect(p.arms).toEqual([{ explanation: ['medium'], model: 'tiny', trainSize: 2000 }]);
  }
  expect(grid.presets.cell.training.maxSteps).toBe(5000);
});
