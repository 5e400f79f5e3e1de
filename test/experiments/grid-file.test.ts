// A researcher's own grid file: read like the built-in grids, with the same checks and messages.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { cellsOf, loadGrid, trainingOf } from '../../experiments/grid.ts';
import { runIdentity } from '../../experiments/runner.ts';
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

it("an arm's training settings override the preset's for its cells, checked by name and value", async () => {
  const g = structuredClone(builtIn);
  g.presets.tiny.arms = [
    { explanation: 'none', model: 'tiny', trainSize: 16, training: { lr: 0.003 } },
    { explanation: 'medium', model: 'tiny', trainSize: 16 },
  ];
  const grid = await resolveGrid(write('arms.json', JSON.stringify(g)));
  const p = grid.presets.tiny;
  const [plain, explained] = cellsOf(p, 1);
  expect(trainingOf(p, plain)).toEqual({ ...p.training, lr: 0.003 });
  expect(trainingOf(p, explained)).toEqual(p.training);
  const file = write('arms-bad.json', JSON.stringify({ ...g, presets: { tiny: { ...g.presets.tiny, arms: [{ ...g.presets.tiny.arms[0], training: { lrr: 0.1 } }] } } }));
  await expect(resolveGrid(file)).rejects.toThrow(`${file} preset tiny: arms[0].training.lrr is not a training setting`);
  const negative = write('arms-neg.json', JSON.stringify({ ...g, presets: { tiny: { ...g.presets.tiny, arms: [{ ...g.presets.tiny.arms[0], training: { lr: -1 } }] } } }));
  await expect(resolveGrid(negative)).rejects.toThrow(`${negative} preset tiny: arms[0].training (over training).lr must be positive`);
  const twice = write('arms-twice.json', JSON.stringify({ ...g, presets: { tiny: { ...g.presets.tiny, arms: [...g.presets.tiny.arms, { explanation: 'none', model: 'tiny', trainSize: 16 }] } } }));
  await expect(resolveGrid(twice)).rejects.toThrow(`${twice} preset tiny: two arms make cell modsum-none-tiny-n16-seed1 with different training settings`);
});

it("a run's identity is what changes its results: not the preset's description", () => {
  const p = loadGrid('modsum').presets.tiny;
  const id = runIdentity('modsum', 'tiny', 2, 1, p);
  expect(runIdentity('modsum', 'tiny', 2, 1, { ...p, description: 'reworded' })).toBe(id);
  expect(runIdentity('modsum', 'tiny', 2, 1, { ...p, training: { ...p.training, lr: 0.5 } })).not.toBe(id);
  expect(runIdentity('modsum', 'tiny', 2, 4, p)).not.toBe(id);
});
