// A researcher's own grid file: read like the built-in grids, with the same checks and messages.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { cellsOf, loadGrid, trainingOf } from '../../experiments/grid.ts';
import { runIdentity } from '../../experiments/run-identity.ts';
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
  await expect(resolveGrid(file)).rejects.toThrow(`${file} preset tiny: arms[0].model: must be one of tiny, xs, s, m, t5-small or hf:OWNER/NAME[@REVISION] or a non-empty list of them, got "huge"`);
  delete bad.presets.tiny.table;
  bad.presets.tiny.arms[0].model = 'tiny';
  await expect(resolveGrid(write('bad.json', JSON.stringify(bad)))).rejects.toThrow(`${file} preset tiny: table: must be an object (missing)`);
  await expect(resolveGrid(write('torn.json', '{"presets": {'))).rejects.toThrow(`${path.join(dir, 'torn.json')}: not valid JSON`);
  await expect(resolveGrid(path.join(dir, 'none.json'))).rejects.toThrow(`${path.join(dir, 'none.json')}: no such grid file`);
  await expect(resolveGrid('nope')).rejects.toThrow('unknown grid "nope"; valid grids: explanations, modsum, data-size, generalization, model-size, pretraining, or the path of a grid file (*.json)');
});

/** The message of the grid `edit` makes from the built-in modsum grid, as its file reads. */
async function refusal(name: string, edit: (g: any) => void): Promise<string> {
  const g = structuredClone(builtIn);
  edit(g);
  const file = write(`${name}.json`, JSON.stringify(g));
  const message = await resolveGrid(file).then(
    () => 'accepted',
    (e: Error) => e.message,
  );
  return message.replaceAll(file, 'FILE');
}

it('refuses unknown keys anywhere, naming their place and the key that was meant', async () => {
  expect(await refusal('maxstep', (g) => (g.presets.tiny.training.maxStep = 3))).toBe(
    'FILE preset tiny: training: unknown key "maxStep" (did you mean "maxSteps"?); valid keys: batchSize, epochs, maxSteps, lr, schedule, warmupSteps, decayEveryEpochs, weightDecay, maxGradNorm, evalEvery, patience, maxNewTokens, dropout, maxLength',
  );
  expect(await refusal('top', (g) => (g.presetz = {}))).toBe('FILE: unknown key "presetz" (did you mean "presets"?); valid keys: description, presets');
  expect(await refusal('preset-key', (g) => ((g.presets.tiny.trainingg = g.presets.tiny.training), delete g.presets.tiny.training))).toMatch(
    /^FILE preset tiny: unknown key "trainingg" \(did you mean "training"\?\); valid keys: .*\nFILE preset tiny: training: must be an object \(missing\)$/,
  );
  expect(await refusal('arm-key', (g) => (g.presets.tiny.arms[0].training = { lrr: 0.1 }))).toMatch(/^FILE preset tiny: arms\[0\]\.training: unknown key "lrr" \(did you mean "lr"\?\)/);
  expect(await refusal('table-key', (g) => (g.presets.tiny.table.row = ['model']))).toMatch(/^FILE preset tiny: table: unknown key "row" \(did you mean "rows"\?\)/);
});

it('refuses a step count that trains nothing or is not a whole number', async () => {
  for (const v of [0, -5, 1.5, '3']) {
    expect(await refusal('steps', (g) => (g.presets.tiny.training.maxSteps = v))).toBe(`FILE preset tiny: training.maxSteps: must be a positive integer, got ${JSON.stringify(v)}`);
  }
});

it('refuses values of the wrong type or out of range, by key path', async () => {
  expect(await refusal('lr', (g) => (g.presets.tiny.training.lr = '0.01'))).toBe('FILE preset tiny: training.lr: must be a positive number, got "0.01"');
  expect(await refusal('warmup', (g) => (g.presets.tiny.training.warmupSteps = '10'))).toBe('FILE preset tiny: training.warmupSteps: must be an integer >= 0, got "10"');
  expect(await refusal('dropout', (g) => (g.presets.tiny.training.dropout = 5))).toBe('FILE preset tiny: training.dropout: must be a probability in [0, 1), got 5');
  expect(await refusal('chance', (g) => (g.presets.tiny.chance = 'ten'))).toBe('FILE preset tiny: chance: must be a probability in [0, 1], got "ten"');
  expect(await refusal('decay', (g) => Object.assign(g.presets.tiny.training, { schedule: 'step', decayEveryEpochs: 0 }))).toBe('FILE preset tiny: training.decayEveryEpochs: must be a positive integer, got 0');
  expect(await refusal('schedule', (g) => (g.presets.tiny.training.schedule = 'cosine'))).toBe('FILE preset tiny: training.schedule: must be one of constant, linear, step, got "cosine"');
  expect(await refusal('seeds', (g) => (g.presets.tiny.seeds = 0))).toBe('FILE preset tiny: seeds: must be a positive integer, got 0');
  expect(await refusal('presets-list', (g) => (g.presets = [g.presets.tiny]))).toMatch(/^FILE: presets: must be an object of named presets, e.g. \{"tiny": \{...\}\}, got \[/);
});

it('refuses what joins fields wrongly: warmup past the run, table fields, task options', async () => {
  // modsum tiny: 16 examples in batches of 8 for 1 epoch is 2 steps.
  expect(await refusal('long-warmup', (g) => Object.assign(g.presets.tiny.training, { schedule: 'linear', warmupSteps: 10 }))).toBe(
    'FILE preset tiny: training: warmupSteps 10 is not below the 2 steps that 16 training examples run for',
  );
  expect(await refusal('warmup-constant', (g) => (g.presets.tiny.training.warmupSteps = 1))).toBe('FILE preset tiny: training: warmupSteps applies to the linear schedule only, not to constant');
  expect(await refusal('rows', (g) => (g.presets.tiny.table.rows = ['modle']))).toMatch(/^FILE preset tiny: table: unknown field "modle"/);
  expect(await refusal('task-option', (g) => (g.presets.tiny.taskOptions.maxLenght = 6))).toMatch(/^FILE preset tiny: taskOptions: unknown option "maxLenght" for task modsum/);
  expect(await refusal('task-type', (g) => (g.presets.tiny.tests.test = { minLength: '1' }))).toMatch(/^FILE preset tiny: tests\.test: .*minLength/);
  expect(await refusal('fine', () => {})).toBe('accepted');
});

it("bench/cell.json (the benchmark's timed cell) is a valid grid: the medium tiny cell of the explanations grid's data", async () => {
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
  await expect(resolveGrid(file)).rejects.toThrow(`${file} preset tiny: arms[0].training: unknown key "lrr" (did you mean "lr"?)`);
  const negative = write('arms-neg.json', JSON.stringify({ ...g, presets: { tiny: { ...g.presets.tiny, arms: [{ ...g.presets.tiny.arms[0], training: { lr: -1 } }] } } }));
  await expect(resolveGrid(negative)).rejects.toThrow(`${negative} preset tiny: arms[0].training.lr: must be a positive number, got -1`);
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
