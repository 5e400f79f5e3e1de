// A run split between independent processes (--shard I/N) into one --out: the split itself, the
// publishing of results while shards finish, two shards at once, and a shard killed and resumed.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cellsOf, loadGrid } from '../../experiments/grid.ts';
import type { ResultRow } from '../../experiments/report/stats.ts';
import { gatherMetrics, publish, wallTime } from '../../experiments/publish.ts';
import { ownedCells } from '../../experiments/schedulers/shards.ts';
import { clockFile, parseShard } from '../../experiments/shard.ts';

const root = path.resolve(import.meta.dirname, '../..');
const grid = loadGrid('modsum');
const cells = cellsOf(grid.presets.tiny);

/** Runs the experiment CLI in one process (tsx as a loader, so a kill reaches the trainer itself). */
function experiment(args: string[], onLine: (line: string, child: ReturnType<typeof spawn>) => void = () => {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'experiments/run.ts', ...args], { cwd: root });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    for (const line of d.split('\n')) onLine(line, child);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
}

/** The cells a log says were trained (started), as "explanation seed". */
const trained = (log: string) => [...log.matchAll(/\] cell \d+\/\d+ (\S+) tiny n=16 seed (\d+): model tiny/g)].map((m) => `${m[1]} ${m[2]}`);
const cellName = (c: { explanation: string; seed: number }) => `${c.explanation} ${c.seed}`;
const runDirOf = (out: string) => {
  const [run] = readdirSync(path.join(out, 'modsum'));
  return path.join(out, 'modsum', run);
};
const resultsOf = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8'));
const rowKeys = (rows: ResultRow[]) => rows.map((r) => `${r.explanation} ${r.seed} ${r.test}`).sort();
const allRowKeys = cells.map((c) => `${cellName(c)} test`).sort();

describe('splitting a run', () => {
  it('parses I/N and gives every cell to exactly one shard', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    for (const bad of ['0/2', '3/2', '1/0', '1', 'a/b', '1/2/3']) expect(() => parseShard(bad)).toThrow(/--shard must be I\/N/);
    const many = cellsOf(loadGrid('explanations').presets.quick);
    for (const count of [1, 2, 3, 7]) {
      const owned = Array.from({ length: count }, (_, i) => ownedCells(many, { index: i + 1, count }).map((c) => c.id));
      expect(owned.flat().sort()).toEqual(many.map((c) => c.id).sort());
      expect(Math.max(...owned.map((o) => o.length)) - Math.min(...owned.map((o) => o.length))).toBeLessThanOrEqual(1);
    }
  });

  it('publishes again when a cell finishes while it writes, and marks the run complete', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'publish-'));
    const finish = (i: number) => {
      mkdirSync(path.join(dir, 'cells', cells[i].id), { recursive: true });
      writeFileSync(path.join(dir, 'cells', cells[i].id, 'result.json'), JSON.stringify({ cell: cells[i], rows: [{ seed: cells[i].seed, explanation: cells[i].explanation }] }));
    };
    for (let i = 0; i < cells.length - 1; i++) finish(i);
    const writes: [number, boolean][] = [];
    const r = await publish(dir, cells, async (rows, complete) => {
      // another shard finishes the last cell while this one writes what it read
      if (writes.length === 0) finish(cells.length - 1);
      writes.push([rows.length, complete]);
    });
    expect(writes).toEqual([
      [cells.length - 1, false],
      [cells.length, true],
    ]);
    expect(r).toEqual({ finished: cells.length, complete: true });
  });

  it("gathers the cells' metrics in the run's order, leaving out a line a kill cut short", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'metrics-'));
    const line = (i: number, step: number) => JSON.stringify({ cell: cells[i].id, step, loss: 1 });
    for (const [i, text] of [[1, `${line(1, 1)}\n${line(1, 2)}\n`], [0, `${line(0, 1)}\n{"cell":"${cells[0].id}","st`]] as const) {
      mkdirSync(path.join(dir, 'cells', cells[i].id), { recursive: true });
      writeFileSync(path.join(dir, 'cells', cells[i].id, 'metrics.jsonl'), text);
    }
    expect(await gatherMetrics(dir, cells)).toBe(`${line(0, 1)}\n${line(1, 1)}\n${line(1, 2)}\n`);
  });
});

describe("a sharded run's wall time", () => {
  it("is the longest shard's, each shard's given too; nothing before any shard has timed itself", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'wall-'));
    expect(await wallTime(dir, 3)).toEqual({});
    writeFileSync(clockFile(dir, { index: 1, count: 3 }), JSON.stringify({ seconds: 50 }));
    writeFileSync(clockFile(dir, { index: 3, count: 3 }), JSON.stringify({ seconds: 70.5 }));
    expect(await wallTime(dir, 3)).toEqual({ wallSeconds: 70.5, shardWallSeconds: { '1/3': 50, '3/3': 70.5 } });
    // an unsharded run has one clock
    expect(await wallTime(dir, undefined)).toEqual({});
    writeFileSync(clockFile(dir, undefined), JSON.stringify({ seconds: 12 }));
    expect(await wallTime(dir, undefined)).toEqual({ wallSeconds: 12 });
  });
});

/** results.json's wall time of a sharded run: the longest of the shards' times, each recorded. */
const expectShardTimes = (results: { wallSeconds: number; shardWallSeconds: Record<string, number> }) => {
  expect(Object.keys(results.shardWallSeconds).sort()).toEqual(['1/2', '2/2']);
  expect(results.wallSeconds).toBe(Math.max(...Object.values(results.shardWallSeconds)));
  expect(results.wallSeconds).toBeGreaterThan(0);
};

describe('shards as processes into one --out', () => {
  it('two shards at once (one with --jobs 2) train every cell once and the last one writes the tables', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'shards-'));
    const common = ['modsum', '--preset', 'tiny', '--out', out];
    const [a, b] = await Promise.all([experiment([...common, '--shard', '1/2', '--jobs', '2']), experiment([...common, '--shard', '2/2'])]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(a.stdout).toContain('training 2 cells in 2 processes');
    expect(trained(a.stdout).sort()).toEqual(ownedCells(cells, { index: 1, count: 2 }).map(cellName).sort());
    expect(trained(b.stdout).sort()).toEqual(ownedCells(cells, { index: 2, count: 2 }).map(cellName).sort());
    const dir = runDirOf(out);
    const results = resultsOf(dir);
    expect(results.complete).toBe(true);
    expect(rowKeys(results.rows)).toEqual(allRowKeys);
    expect(results.config).toEqual({ grid: 'modsum', preset: 'tiny', seeds: grid.presets.tiny.seeds, firstSeed: 1, settings: grid.presets.tiny });
    expectShardTimes(results);
    expect(readFileSync(path.join(dir, 'table.md'), 'utf8')).toContain('# modsum: preset tiny');
    expect(readdirSync(dir).filter((f) => f.endsWith('.svg')).length).toBeGreaterThanOrEqual(2);
    expect(readdirSync(dir).filter((f) => f.startsWith('claims') || f.endsWith('.tmp'))).toEqual([]);
    const metrics = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(new Set(metrics.map((m) => m.cell))).toEqual(new Set(cells.map((c) => c.id)));
    // the same command again finds the run finished and trains nothing; another split is refused
    const again = await experiment([...common, '--shard', '2/2']);
    expect(again.code, again.stderr).toBe(0);
    expect(trained(again.stdout)).toEqual([]);
    const other = await experiment([...common, '--shard', '1/3']);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`${dir} is split into 2 shards; run its shards with --shard I/2`);
  }, 120_000);

  it('a shard killed mid-way resumes its own cells; --merge writes the tables of what finished', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'shards-kill-'));
    const common = ['modsum', '--preset', 'tiny', '--out', out];
    const mine = ownedCells(cells, { index: 1, count: 2 });
    // shard 1 is killed as its second cell starts: the first is done, the second is not
    const [killed, other] = await Promise.all([
      experiment([...common, '--shard', '1/2'], (line, child) => {
        if (/ cell 2\/2 .*: model tiny/.test(line)) child.kill('SIGKILL');
      }),
      experiment([...common, '--shard', '2/2']),
    ]);
    expect(killed.signal).toBe('SIGKILL');
    expect(other.code, other.stderr).toBe(0);
    const dir = runDirOf(out);
    const finishedFirst = cells.filter((c) => existsSync(path.join(dir, 'cells', c.id, 'result.json')));
    expect(finishedFirst.map(cellName)).toContain(cellName(mine[0]));
    expect(finishedFirst.map(cellName)).not.toContain(cellName(mine[1]));

    // --merge names its grid like every command (here by the path of its file) and takes no
    // option that would mean nothing beside it
    const beside = await experiment(['modsum', '--merge', dir, '--preset', 'tiny']);
    expect(beside.code).toBe(2);
    expect(beside.stderr).toContain('--merge takes only the grid and the run folder; --preset would do nothing beside it');
    const merged = await experiment([path.resolve(import.meta.dirname, '../../experiments/grids/modsum.json'), '--merge', dir]);
    expect(merged.code, merged.stderr).toBe(0);
    expect(merged.stdout).toContain(`merged ${finishedFirst.length}/${cells.length} finished cells`);
    expect(resultsOf(dir).complete).toBe(false);
    expect(rowKeys(resultsOf(dir).rows)).toEqual(finishedFirst.map((c) => `${cellName(c)} test`).sort());
    // the killed shard's time up to its finished cell counts
    expectShardTimes(resultsOf(dir));
    expect(readFileSync(path.join(dir, 'table.md'), 'utf8')).toContain('# modsum: preset tiny');

    const resumed = await experiment([...common, '--shard', '1/2']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(trained(resumed.stdout)).toEqual([cellName(mine[1])]);
    const results = resultsOf(dir);
    expect(results.complete).toBe(true);
    expect(rowKeys(results.rows)).toEqual(allRowKeys);
    expectShardTimes(results);

    // A copy without its clock files (as the committed reference runs are kept) merges to the
    // times its results.json gave, not to none.
    const copy = mkdtempSync(path.join(tmpdir(), 'merge-copy-'));
    cpSync(dir, copy, { recursive: true });
    for (const f of readdirSync(copy)) if (/^time.*\.json$/.test(f)) rmSync(path.join(copy, f));
    const remerged = await experiment(['modsum', '--merge', copy]);
    expect(remerged.code, remerged.stderr).toBe(0);
    expect(resultsOf(copy).wallSeconds).toBe(results.wallSeconds);
    expect(resultsOf(copy).shardWallSeconds).toEqual(results.shardWallSeconds);
  }, 120_000);
});
