// Pooling runs of the same settings on other seeds (experiments/pool.ts), on the committed runs of
// the main job: seeds 11-14 and their confirmation on seeds 15-18.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { statistics } from '../../experiments/report/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const runs = path.join(root, 'experiments/results-reference/explanations');
const [first, confirm, older] = [runs, path.join(runs, 'runs/seeds-15-18'), path.join(runs, 'runs/1600-steps-seeds-3-6')];
const pool = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'experiments/pool.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
const readJson = (f: string) => JSON.parse(readFileSync(f, 'utf8'));

it('pools two runs of the same settings into one report over all their seeds, the committed pooled report among them', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'pool-'));
  const r = pool(first, confirm, '--out', out);
  expect(r.status, r.stderr).toBe(0);
  const pooled = readJson(path.join(out, 'results.json'));
  const rows = [...readJson(path.join(first, 'results.json')).rows, ...readJson(path.join(confirm, 'results.json')).rows];
  expect(pooled.rows).toEqual(rows);
  expect(pooled.config).toMatchObject({ seeds: 8, firstSeed: 11 });
  expect(pooled.statistics).toEqual(JSON.parse(JSON.stringify(statistics(rows))));
  expect(pooled.statistics.comparisons.map((c: { seedLevel: { n: number } }) => c.seedLevel.n)).toEqual([8, 8, 8]);
  expect(readFileSync(path.join(out, 'table.md'), 'utf8')).toContain('Pooled: the runs explanations (seeds 11-14), seeds-15-18 (seeds 15-18), the same settings on seeds 11-18.');
  // what the README quotes is what pooling the committed runs gives today
  expect(readJson(path.join(runs, 'runs/pooled-seeds-11-18/results.json'))).toEqual(pooled);
});

it('names seeds with gaps between them as ranges, and lists them', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'pool-'));
  const r = pool(first, path.join(runs, 'runs/seeds-31-36'), '--out', out);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toContain('pooled 40 rows of 2 runs (seeds 11-14, 31-36)');
  const pooled = readJson(path.join(out, 'results.json'));
  expect(pooled.config).toMatchObject({ seeds: 10, firstSeed: 11, seedList: [11, 12, 13, 14, 31, 32, 33, 34, 35, 36] });
  expect(readFileSync(path.join(out, 'table.md'), 'utf8')).toContain('the same settings on seeds 11-14, 31-36.');
});

it('refuses runs that share seeds or ran other settings', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'pool-'));
  expect(pool(first, first, '--out', out).stderr).toContain(`seed 11 is in both ${first} and ${first}; pooled runs must not share seeds`);
  expect(pool(first, older, '--out', out).stderr).toContain(`${older} ran other settings than ${first}`);
  const one = pool(first, '--out', out);
  expect(one.status).toBe(2);
  expect(one.stderr).toContain('pool needs two run folders or more');
});
