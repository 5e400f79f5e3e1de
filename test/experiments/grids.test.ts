// Every grid's tiny preset end to end (the CI smoke run), resuming, and the CLI's answers to
// bad input.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GRID_NAMES, cellsOf, loadGrid, type Cell } from '../../experiments/grid.ts';
import { withDriverThreads } from '../../engine/index.ts';
import { runGrid } from '../../experiments/runner.ts';
import { claimOrder } from '../../experiments/schedulers/workers.ts';
import { cellTiming } from '../../experiments/timing.ts';
import { setupEngine } from '../helpers.ts';

beforeAll(setupEngine);

const root = path.resolve(import.meta.dirname, '../..');
const out = mkdtempSync(path.join(tmpdir(), 'grids-'));
const quiet = () => {};

describe('grid smoke runs (tiny presets)', () => {
  for (const name of GRID_NAMES) {
    it(`${name}: writes config, metrics, results, table and charts`, async () => {
      const grid = loadGrid(name);
      const dir = await runGrid({ grid, preset: 'tiny', out, log: quiet });
      const results = JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8'));
      const p = grid.presets.tiny;
      expect(results).toMatchObject({ grid: name, preset: 'tiny', complete: true });
      expect(results.adapter).toMatch(/via node/);
      expect(results.config).toEqual({ grid: name, preset: 'tiny', seeds: p.seeds, firstSeed: 1, settings: p });
      expect(results.wallSeconds).toBeGreaterThan(0);
      expect(results.rows.length).toBe(cellsOf(p).length * Object.keys(p.tests).length);
      for (const row of results.rows) {
        expect(row).toMatchObject({ task: p.task });
        expect(cellsOf(p).map((c) => c.model)).toContain(row.model);
        expect(row.accuracy).toBeGreaterThanOrEqual(0);
        expect(row.accuracy).toBeLessThanOrEqual(1);
        expect(row.steps).toBeGreaterThan(0);
      }
      const table = readFileSync(path.join(dir, 'table.md'), 'utf8');
      expect(table).toContain(`# ${name}: preset tiny`);
      const svgs = readdirSync(dir).filter((f) => f.endsWith('.svg'));
      expect(svgs.length).toBeGreaterThanOrEqual(2);
      for (const s of svgs) expect(readFileSync(path.join(dir, s), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
      const metrics = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(metrics.some((m) => typeof m.loss === 'number')).toBe(true);
      expect(metrics.some((m) => typeof m.valAccuracy === 'number')).toBe(true);
      const cell = cellsOf(p)[0];
      expect(existsSync(path.join(dir, 'cells', cell.id, 'model', 'model.safetensors'))).toBe(true);
      // Every test prediction, one line per example, agreeing with the row's accuracy.
      const lines = readFileSync(path.join(dir, 'cells', cell.id, 'predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const row = results.rows.find((r: { seed: number; explanation: string; test: string }) => r.seed === cell.seed && r.explanation === cell.explanation && r.test === lines[0].test);
      const mine = lines.filter((l) => l.test === row.test);
      expect(mine.length).toBe(row.total);
      expect(mine.filter((l) => l.correct).length).toBe(row.correct);
      expect(row.outcomes).toBe(mine.map((l) => (l.correct ? '1' : '0')).join(''));
      for (const l of lines) {
        expect(Object.keys(l)).toEqual(expect.arrayContaining(['test', 'source', 'reference', 'generated', 'answer', 'predicted', 'correct']));
        expect(l.correct).toBe(l.predicted === l.answer);
      }
      expect(row.baselines.majority).toBeGreaterThanOrEqual(0);
      expect(results.statistics.cells.length).toBeGreaterThan(0);
      expect(table).toMatch(/95 %/);
      // Two model sizes: their gains over none compared with each other.
      if (new Set(cellsOf(p).map((c) => c.model)).size > 1) {
        expect(results.statistics.modelComparisons.length).toBeGreaterThan(0);
        expect(table).toContain('Between model sizes');
      }
    });
  }

  it('--first-seed runs seeds N .. N+seeds-1', async () => {
    const grid = loadGrid('modsum');
    const p = grid.presets.tiny;
    const dir = await runGrid({ grid, preset: 'tiny', firstSeed: 7, seeds: 2, out, log: quiet });
    const results = JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8'));
    expect(results.config).toMatchObject({ seeds: 2, firstSeed: 7 });
    expect([...new Set(results.rows.map((r: { seed: number }) => r.seed))].sort()).toEqual([7, 8]);
    expect(cellsOf(p, 2, 7).map((c) => c.seed)).toEqual(cellsOf(p, 2).map((c) => c.seed + 6));
  });

  it('resumes an interrupted grid and never overwrites a finished one', async () => {
    const grid = loadGrid('modsum');
    const first = await runGrid({ grid, preset: 'tiny', out, log: quiet }).catch(() => '');
    // a finished run is left alone: the same command starts a new run folder
    const lines: string[] = [];
    const second = await runGrid({ grid, preset: 'tiny', out, log: (l) => lines.push(l) });
    expect(second).not.toBe(first);
    expect(lines.some((l) => l.startsWith('resuming'))).toBe(false);
    // interrupt it after the fact: one cell unfinished, results marked incomplete
    const results = JSON.parse(readFileSync(path.join(second, 'results.json'), 'utf8'));
    writeFileSync(path.join(second, 'results.json'), JSON.stringify({ ...results, complete: false }));
    const last = cellsOf(grid.presets.tiny).at(-1)!;
    rmSync(path.join(second, 'cells', last.id, 'result.json'));
    const resumedLines: string[] = [];
    const third = await runGrid({ grid, preset: 'tiny', out, log: (l) => resumedLines.push(l) });
    expect(third).toBe(second);
    expect(resumedLines[0]).toBe(`resuming ${second}`);
    const trained = new Set(resumedLines.filter((l) => l.includes(': step')).map((l) => l.split(':')[0]));
    expect([...trained]).toEqual([expect.stringContaining(`${last.explanation} tiny n=${last.trainSize} seed ${last.seed}`)]);
    const resumed = JSON.parse(readFileSync(path.join(second, 'results.json'), 'utf8'));
    expect(resumed.complete).toBe(true);
    // the wall time of both sessions
    expect(resumed.wallSeconds).toBeGreaterThan(results.wallSeconds);
    expect(resumedLines.at(-1)).toMatch(new RegExp(`^done in \\S+ wall-clock \\(this session \\S+\\): ${second}$`));
    // the end of a run shows the table and where its files are
    expect(resumedLines).toContain(`table: ${path.join(second, 'table.md')}`);
    expect(resumedLines).toContain('modsum: preset tiny');
    expect(resumedLines.some((l) => l.startsWith(`chart: ${path.join(second, 'curves-loss')}`))).toBe(true);
  });
});

describe('several cells at once (--jobs)', () => {
  const accuracies = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')).rows.map((r: { accuracy: number }) => r.accuracy);

  it("sizes lavapipe's thread pool for processes that share the cores, unless LP_NUM_THREADS is set", () => {
    // A core or less per process: no pool, each dispatch on the driver's queue thread.
    expect(withDriverThreads({ HOME: '/h' }, 2, 2)).toEqual({ HOME: '/h', LP_NUM_THREADS: '0' });
    expect(withDriverThreads({}, 3, 2).LP_NUM_THREADS).toBe('0');
    // Cores to spare: the single-process default.
    expect(withDriverThreads({}, 2, 16).LP_NUM_THREADS).toBe('4');
    expect(withDriverThreads({ LP_NUM_THREADS: '8' }, 2, 2)).toEqual({ LP_NUM_THREADS: '8' });
  });

  it('workers claim the dearest cells first: larger models, longer explanations, else the grid order', () => {
    const cell = (model: string, explanation: string, seed = 1) => ({ id: `${explanation}-${model}-${seed}`, task: 'listops', explanation, model, trainSize: 2000, seed }) as Cell;
    const cells = [cell('tiny', 'none'), cell('tiny', 'long'), cell('xs', 'none'), cell('xs', 'long'), cell('xs', 'long', 2), cell('hf:google-t5/t5-small', 'none')];
    // costs 1, 4, 2, 8, 8 and, a Hugging Face model being larger than every preset, 6
    expect(claimOrder(cells).map(([i]) => i)).toEqual([3, 4, 5, 1, 2, 0]);
    expect(claimOrder(cells).map(([, c]) => c)).toEqual([3, 4, 5, 1, 2, 0].map((i) => cells[i]));
  });

  it('estimates the time left from the cost of the cells left, not their number', async () => {
    const cell = (model: string, explanation: string) => ({ id: `${explanation}-${model}`, task: 'listops', explanation, model, trainSize: 2000, seed: 1 }) as Cell;
    let clock = 0;
    const timing = cellTiming(() => clock);
    expect(timing.estimate([cell('tiny', 'none')])).toBeNaN();
    // xs with long explanations (cost 8) took 80 s: 10 s a unit
    await timing.time(cell('xs', 'long'), async () => void (clock += 80_000));
    expect(timing.estimate([cell('tiny', 'none'), cell('tiny', 'short'), cell('xs', 'medium')])).toBeCloseTo(10 * (1 + 2 + 6));
    expect(timing.estimate([])).toBe(0);
  });

  it('worker processes split the cells and give the results of a single process', async () => {
    const grid = loadGrid('modsum');
    const single = await runGrid({ grid, preset: 'tiny', out, log: quiet });
    const jobsOut = mkdtempSync(path.join(tmpdir(), 'jobs-'));
    const r = spawnSync(path.join(root, 'node_modules/.bin/tsx'), ['experiments/run.ts', 'modsum', '--preset', 'tiny', '--jobs', '2', '--out', jobsOut], {
      cwd: root,
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('training 4 cells in 2 processes');
    expect(r.stdout.split('\n').filter((l) => / parameters, vocabulary /.test(l)).length).toBe(4);
    // A worker on its second cell knows a time per cell, and says the grid's time left.
    expect(r.stdout).toMatch(/^\[modsum tiny worker \d\/2\] cell \d\/4 .*: step \d+\/\d+ .*\| cell left ~\S+ \| grid left ~\S+$/m);
    const [run] = readdirSync(path.join(jobsOut, 'modsum'));
    const dir = path.join(jobsOut, 'modsum', run);
    expect(JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')).complete).toBe(true);
    expect(accuracies(dir)).toEqual(accuracies(single));
    expect(existsSync(path.join(dir, 'claims'))).toBe(false);
  }, 300_000);

  it('workers claim each cell exactly once', async () => {
    const grid = loadGrid('generalization');
    const lines: string[] = [];
    // three workers in this process, started together, racing for the same cells
    const dir = await runGrid({ grid, preset: 'tiny', out, jobs: 3, log: quiet, launch: (w) => runGrid({ grid, preset: 'tiny', out, worker: w, log: (l) => lines.push(l) }).then(() => {}) });
    const started = lines.filter((l) => / parameters, vocabulary /.test(l));
    const cellOf = (l: string) => l.split('] ')[1].split(':')[0];
    expect(started.map(cellOf).sort()).toEqual(cellsOf(grid.presets.tiny).map((c, i) => `cell ${i + 1}/4 ${c.explanation} tiny n=16 seed ${c.seed}`).sort());
    expect(new Set(started.map((l) => l.split(']')[0])).size).toBeGreaterThan(1);
    expect(JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')).complete).toBe(true);
  });

  it('a worker that fails leaves its cells to the others; if all fail, the run stays resumable', async () => {
    const grid = loadGrid('modsum');
    const lines: string[] = [];
    // workers in this process: one dies at once, the other claims every cell
    const dir = await runGrid({
      grid,
      preset: 'tiny',
      out,
      jobs: 2,
      log: (l) => lines.push(l),
      launch: async (w) => {
        if (w.index === 1) throw new Error('no GPU here');
        await runGrid({ grid, preset: 'tiny', out, worker: w, log: quiet });
      },
    });
    expect(lines).toContain('worker 2: no GPU here');
    expect(JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')).complete).toBe(true);

    const failing = runGrid({ grid, preset: 'tiny', seeds: 1, out, jobs: 2, log: quiet, launch: async () => Promise.reject(new Error('killed')) });
    await expect(failing).rejects.toThrow(/some cells did not finish; run the same command again to resume/);
    const resumed = await runGrid({ grid, preset: 'tiny', seeds: 1, out, log: (l) => lines.push(l) });
    expect(lines).toContain(`resuming ${resumed}`);
    expect(JSON.parse(readFileSync(path.join(resumed, 'results.json'), 'utf8')).complete).toBe(true);
  });
});

describe('experiments under Deno', () => {
  it('deno task experiment runs a grid on the same code, its workers under Deno too', () => {
    const denoOut = mkdtempSync(path.join(tmpdir(), 'deno-grids-'));
    const r = spawnSync(path.join(root, 'node_modules/.bin/deno'), ['task', 'experiment', 'modsum', '--preset', 'tiny', '--seeds', '1', '--jobs', '2', '--out', denoOut], {
      cwd: root,
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('training 2 cells in 2 processes');
    const [run] = readdirSync(path.join(denoOut, 'modsum'));
    const results = JSON.parse(readFileSync(path.join(denoOut, 'modsum', run, 'results.json'), 'utf8'));
    expect(results).toMatchObject({ grid: 'modsum', preset: 'tiny', complete: true });
    expect(results.adapter).toMatch(/via deno/);
    expect(results.rows.length).toBe(2);
  }, 300_000);
});

describe('experiment CLI', () => {
  const run = (...args: string[]) =>
    spawnSync(path.join(root, 'node_modules/.bin/tsx'), ['experiments/run.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  it('lists the valid grids, presets and options', () => {
    expect(run('nosuch').stderr).toMatch(/unknown grid "nosuch"; valid grids: explanations, modsum, data-size, generalization, model-size, pretraining/);
    expect(run('modsum', '--preset', 'huge').stderr).toMatch(/grid modsum has no preset "huge"; valid presets: tiny, quick, full, paper/);
    const bad = run('modsum', '--colour', 'red');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/experiment: unknown option --colour; valid options: --preset, --seeds, --first-seed, --jobs, --out, --restart-damaged, --shard, --merge\n/);
    expect(run('modsum', '--seeds', 'x').stderr).toContain('experiment: --seeds must be an integer >= 1, got "x"');
    expect(run('modsum', '--first-seed', '0').stderr).toContain('experiment: --first-seed must be an integer >= 1, got "0"');
    expect(run('modsum', '--jobs=0').stderr).toContain('experiment: --jobs must be an integer >= 1, got "0"');
  });
});
