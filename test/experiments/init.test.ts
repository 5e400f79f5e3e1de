// A grid arm's starting point, `init`: checked by the schema, resolved and checked on disk before
// a run folder is made, carried in cell ids and result rows, and compared within each starting
// point by the reports; rows from before it read as scratch.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cellsOf, loadGrid, makeCell, presetOf } from '../../experiments/grid.ts';
import { resolveGrid } from '../../experiments/grid-file.ts';
import { checkInits, initLocation, REPOSITORY } from '../../experiments/pretrained.ts';
import { buildReport, csv, statistics, type ResultRow } from '../../experiments/report/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'init-'));
const SMOKE = 'experiments/pretrained/listops-tiny-smoke';
const builtIn = JSON.parse(readFileSync(path.join(root, 'experiments/grids/pretraining.json'), 'utf8'));

/** The message of the pretraining grid as `edit` changes it, read from a file in `dir`. */
async function refusal(name: string, edit: (g: any) => void): Promise<string> {
  const g = structuredClone(builtIn);
  edit(g);
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(g));
  return resolveGrid(file).then(
    () => 'accepted',
    (e: Error) => e.message.replaceAll(file, 'FILE'),
  );
}

describe('init in a grid file', () => {
  it('refuses a misspelt key or value, a bad Hub reference, and a pretrained start for a Hub model', async () => {
    expect(await refusal('key', (g) => ((g.presets.tiny.arms[0].inti = 'scratch'), delete g.presets.tiny.arms[0].init))).toMatch(
      /^FILE preset tiny: arms\[0\]: unknown key "inti" \(did you mean "init"\?\); valid keys: explanation, model, trainSize, init, training$/,
    );
    expect(await refusal('value', (g) => (g.presets.tiny.arms[0].init = ['scrach', SMOKE]))).toBe(
      'FILE preset tiny: arms[0].init[0]: unknown starting point "scrach" (did you mean "scratch"?); a model folder is written as a path, e.g. ./scrach, got "scrach"',
    );
    expect(await refusal('hub', (g) => (g.presets.tiny.arms[0].init = 'hf:a/b/c'))).toMatch(/arms\[0\]\.init: must be hf:OWNER\/NAME\[@REVISION\]/);
    expect(await refusal('empty', (g) => (g.presets.tiny.arms[0].init = ''))).toMatch(/arms\[0\]\.init: must be "scratch", a model folder or hf:/);
    expect(await refusal('type', (g) => (g.presets.tiny.arms[0].init = 3))).toMatch(/arms\[0\]\.init: must be "scratch", a model folder or hf:OWNER\/NAME\[@REVISION\] or a non-empty list of them, got 3/);
    expect(await refusal('hub-model', (g) => (g.presets.tiny.arms[0].model = 'hf:google-t5/t5-small'))).toMatch(
      /^FILE preset tiny: arms\[0\]\.init: experiments\/pretrained\/listops-tiny-smoke cannot start hf:google-t5\/t5-small, which is a pretrained model already/,
    );
    expect(await refusal('fine', (g) => (g.presets.tiny.arms[0].init = ['scratch', './scratch', 'hf:o/n']))).toBe('accepted');
  });

  it('gives pretrained cells ids of their own and leaves scratch ids as they were', () => {
    const p = presetOf(loadGrid('pretraining'), 'tiny');
    const ids = cellsOf(p, 1).map((c) => c.id);
    expect(ids).toEqual([
      'listops-none-tiny-n16-seed1',
      'listops-medium-tiny-n16-seed1',
      'listops-none-tiny-init-experiments-pretrained-listops-tiny-smoke-n16-seed1',
      'listops-medium-tiny-init-experiments-pretrained-listops-tiny-smoke-n16-seed1',
    ]);
    expect(cellsOf(p, 1)[0].init).toBeUndefined();
    expect(cellsOf(p, 1)[2].init).toBe(SMOKE);
    expect(makeCell({ task: 'listops', explanation: 'none', model: 'tiny', trainSize: 16, seed: 1, init: 'scratch' })).toEqual(cellsOf(p, 1)[0]);
    const clash = { ...p, arms: [{ ...p.arms[0], init: ['a/b', 'a-b'] }] };
    expect(() => cellsOf(clash, 1)).toThrow('the starting points a/b and a-b make the same cell id listops-none-tiny-init-a-b-n16-seed1; name one folder differently');
  });
});

describe('init folders on disk', () => {
  it('resolve from the repository in a built-in grid, from the grid file\'s folder in a grid file', async () => {
    expect(REPOSITORY).toBe(root);
    expect(initLocation(SMOKE, loadGrid('pretraining'))).toBe(path.join(root, SMOKE));
    expect(initLocation('hf:o/n', { dir })).toBe('hf:o/n');
    const file = path.join(dir, 'sub', 'mine.json');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(builtIn));
    const grid = await resolveGrid(file);
    expect(initLocation('../models/x', grid)).toBe(path.join(dir, 'models', 'x'));
    // the committed smoke model fits its arms
    await expect(checkInits(loadGrid('pretraining'), cellsOf(presetOf(loadGrid('pretraining'), 'tiny')))).resolves.toBeUndefined();
  });

  it('must hold a model of the arm\'s size: the error names the file and both sizes', async () => {
    const g = loadGrid('pretraining');
    const cells = cellsOf({ ...presetOf(g, 'tiny'), arms: [{ explanation: 'none', model: 'xs', trainSize: 16, init: SMOKE }] }, 1);
    await expect(checkInits(g, cells)).rejects.toThrow(
      `${path.join(root, SMOKE)}/config.json: the model there is of size tiny (d_model 32, d_ff 64, 2+2 layers, 2 heads of 16), but the arm's model is xs; the arm's model must be its init's size`,
    );
    const missing = cellsOf({ ...presetOf(g, 'tiny'), arms: [{ explanation: 'none', model: 'tiny', trainSize: 16, init: 'experiments/pretrained/nothing-here' }] }, 1);
    await expect(checkInits(g, missing)).rejects.toThrow(/init experiments\/pretrained\/nothing-here \(cell listops-none-tiny-init-experiments-pretrained-nothing-here-n16-seed1\): .*nothing-here holds no model; `npm run pretrain -- --model tiny --out .*` makes one/);
    const bare = path.join(dir, 'bare');
    mkdirSync(bare);
    writeFileSync(path.join(bare, 'config.json'), readFileSync(path.join(root, SMOKE, 'config.json')));
    const noTokenizer = cellsOf({ ...presetOf(g, 'tiny'), arms: [{ explanation: 'none', model: 'tiny', trainSize: 16, init: bare }] }, 1);
    await expect(checkInits(g, noTokenizer)).rejects.toThrow(`${bare}: no tokenizer.json or spiece.model`);
  });
});

describe('reports by starting point', () => {
  const row = (init: string | undefined, explanation: string, seed: number, accuracy: number): ResultRow => ({
    task: 'listops',
    ...(init !== undefined && { init }),
    explanation,
    model: 'tiny',
    trainSize: 16,
    seed,
    test: 'test',
    accuracy,
    steps: 2,
    seconds: 1,
    params: 44000,
  });
  // rows of scratch cells from before init was recorded, beside pretrained ones
  const rows = [1, 2, 3].flatMap((s) => [row(undefined, 'none', s, 0.3), row(undefined, 'medium', s, 0.5 + s / 100), row('pre/tiny', 'none', s, 0.4), row('pre/tiny', 'medium', s, 0.7 + s / 100)]);

  it('read rows without init as scratch, and compare explained with none within each starting point', () => {
    const s = statistics(rows);
    expect(s.cells.map((c) => [c.key.init, c.key.explanation])).toEqual([
      ['scratch', 'none'],
      ['scratch', 'medium'],
      ['pre/tiny', 'none'],
      ['pre/tiny', 'medium'],
    ]);
    expect(s.comparisons.map((c) => [c.key.init, c.explanation, Number(c.seedLevel.mean.toFixed(3))])).toEqual([
      ['scratch', 'medium', 0.22],
      ['pre/tiny', 'medium', 0.32],
    ]);
  });

  it('show scratch and pretrained as rows of the table, and init in the CSV', () => {
    const report = buildReport({ grid: 'g', preset: 'p', adapter: 'a', rows }, [], { rows: ['init', 'model'], columns: 'explanation' });
    expect(report['table.md']).toMatch(/\| init \| model \| none \| medium \|/);
    expect(report['table.md']).toMatch(/\| scratch \| tiny \(44k\) \| 30\.0/);
    expect(report['table.md']).toMatch(/\| pre\/tiny \| tiny \(44k\) \| 40\.0/);
    expect(csv(rows).split('\n')[0]).toBe('task,init,explanation,model,trainSize,test,seed,accuracy,steps,seconds,params');
    // a run that is all scratch says nothing of it
    const scratch = buildReport({ grid: 'g', preset: 'p', adapter: 'a', rows: rows.filter((r) => !r.init) }, [], { rows: ['model'], columns: 'explanation' });
    expect(scratch['table.md']).not.toMatch(/\binit\b|scratch/);
  });
});
