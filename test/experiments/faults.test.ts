// Run folders under faults, as a user's machine produces them: SIGKILL at random points, a torn
// metrics line, two runs on one folder, SIGTERM to a --jobs run, a reader that closes the pipe,
// a damaged cell checkpoint. Every run here is a real process on a tiny grid file of its own.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../engine/random.ts';
import { resolveGrid } from '../../experiments/grid-file.ts';
import { readMetrics, removeLeftovers, startClock, writeAtomic } from '../../experiments/run-folder.ts';
import { runGrid } from '../../experiments/runner.ts';

const root = path.resolve(import.meta.dirname, '../..');
const quiet = () => {};

/** Two cells of 8 steps, a checkpoint every 2: kills land before, between and after checkpoints. */
function gridFile(dir: string): string {
  const modsum = JSON.parse(readFileSync(path.join(root, 'experiments/grids/modsum.json'), 'utf8'));
  const tiny = modsum.presets.tiny;
  const preset = { ...tiny, seeds: 1, arms: [{ ...tiny.arms[0], trainSize: 32 }], training: { ...tiny.training, batchSize: 4, evalEvery: 2 } };
  const file = path.join(dir, 'faults.json');
  writeFileSync(file, JSON.stringify({ description: 'fault tests', presets: { tiny: preset } }));
  return file;
}

/** experiments/run.ts as its own Node process (no tsx wrapper in between, so signals reach it),
 *  or with `npm: true` as a user starts it: npm, a shell and scripts/quiet.mjs above it. */
function start(args: string[], { npm = false } = {}): ChildProcess & { out: string[] } {
  const [command, prefix] = npm ? ['npm', ['run', '--silent', 'experiment', '--']] : [process.execPath, ['--import', 'tsx', 'experiments/run.ts']];
  const child = spawn(command, [...prefix, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & { out: string[] };
  child.out = [];
  let buffered = '';
  child.stdout!.on('data', (d) => {
    buffered += d;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    child.out.push(...lines);
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  Object.defineProperty(child, 'err', { get: () => err });
  return child;
}
const ended = (c: ChildProcess) => new Promise<number | null>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(c.exitCode) : c.once('exit', (code) => resolve(code))));
const stderrOf = (c: ChildProcess) => (c as unknown as { err: string }).err;
const until = async (ok: () => boolean, seconds = 120) => {
  for (const t0 = Date.now(); !ok(); ) {
    if (Date.now() - t0 > seconds * 1000) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};
/** Processes whose command line mentions `text` (the test's own folders are unique to it). */
const processesWith = (text: string) =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(text);
      } catch {
        return false;
      }
    });

const runDirs = (out: string, grid: string) => readdirSync(path.join(out, grid)).map((d) => path.join(out, grid, d));
const rowsOf = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')).rows.map(({ seconds, ...r }: { seconds: number }) => r);
const stepsOf = async (dir: string) => (await readMetrics(path.join(dir, 'metrics.jsonl'), quiet)).map(({ tokensPerSecond, ...m }) => m);

describe('a run killed at random points', () => {
  it('resumes each time and ends with the results, metrics and weights of an uninterrupted run', async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'faults-'));
    const file = gridFile(tmp);
    const grid = await resolveGrid(file);
    const reference = await runGrid({ grid, preset: 'tiny', out: path.join(tmp, 'reference'), log: quiet });

    const out = path.join(tmp, 'killed');
    const rng = new Rng(11);
    for (let kill = 0; kill < 4; kill++) {
      const child = start([file, '--preset', 'tiny', '--out', out]);
      // a random line of its output (cell start, evaluation, test...) and a random moment after it
      const afterLines = 1 + rng.nextInt(0, 6);
      await until(() => child.out.length >= afterLines || child.exitCode !== null);
      await new Promise((r) => setTimeout(r, rng.nextInt(0, 400)));
      child.kill('SIGKILL');
      await ended(child);
      // once, the kill tears the last metrics line in the middle
      if (kill === 1) appendFileSync(path.join(runDirs(out, 'faults')[0], 'metrics.jsonl'), '{"cell":"modsum-none-tiny-n32-seed1","step":3,"lo');
    }
    const last = start([file, '--preset', 'tiny', '--out', out]);
    expect(await ended(last), stderrOf(last)).toBe(0);
    expect(last.out.join('\n')).toMatch(/cut a torn last line|resuming/);

    const [dir] = runDirs(out, 'faults');
    expect(runDirs(out, 'faults')).toHaveLength(1);
    expect(rowsOf(dir)).toEqual(rowsOf(reference));
    expect(await stepsOf(dir)).toEqual(await stepsOf(reference));
    // every line of the log is whole
    for (const line of readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trimEnd().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    for (const cell of readdirSync(path.join(dir, 'cells'))) {
      const weights = (d: string) => readFileSync(path.join(d, 'cells', cell, 'model', 'model.safetensors'));
      expect(weights(dir).equals(weights(reference)), cell).toBe(true);
    }
    expect(existsSync(path.join(dir, 'lock.json'))).toBe(false);
    // the time of the sessions up to their last save, and the last one's to its end
    const { wallSeconds } = JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8'));
    expect(wallSeconds).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(path.join(dir, 'time.json'), 'utf8')).seconds).toBeGreaterThanOrEqual(wallSeconds);
  }, 300_000);
});

describe('the run clock', () => {
  it('saves as it goes, so that a kill loses only the last moments, and adds up the sessions', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'clock-')), 'time.json');
    const first = await startClock(file, 20);
    expect(first.earlierSeconds).toBe(0);
    // saved by the clock itself, before anyone calls save() or stop(): what a kill leaves behind
    await until(() => existsSync(file), 5);
    expect(JSON.parse(readFileSync(file, 'utf8')).seconds).toBeGreaterThanOrEqual(0);
    await new Promise((r) => setTimeout(r, 100));
    await first.stop();
    const firstSeconds = JSON.parse(readFileSync(file, 'utf8')).seconds;
    expect(firstSeconds).toBeGreaterThanOrEqual(0.1);
    const second = await startClock(file, 20);
    expect(second.earlierSeconds).toBe(firstSeconds);
    await new Promise((r) => setTimeout(r, 100));
    await second.stop();
    // The file holds seconds rounded to 0.1 (0.2 + 0.1 would also be 0.30000000000000004 against
    // a stored 0.3), so the sum may read up to 0.05 below the exact one.
    expect(JSON.parse(readFileSync(file, 'utf8')).seconds).toBeGreaterThanOrEqual(firstSeconds + 0.1 - 0.05);
    expect(readdirSync(path.dirname(file))).toEqual(['time.json']);
  });
});

describe('one run folder, one owner', () => {
  it('a second run on the same folder says who holds it', async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'lock-'));
    const file = gridFile(tmp);
    const first = start([file, '--preset=tiny', '--out', tmp]);
    await until(() => first.out.some((l) => l.startsWith('writing to')));
    const second = start([file, '--preset', 'tiny', '--out', tmp]);
    expect(await ended(second)).toBe(1);
    expect(stderrOf(second)).toMatch(new RegExp(`error: run .*faults.* is in use by process ${first.pid} on host \\S+ since \\d{4}-`));
    expect(await ended(first), stderrOf(first)).toBe(0);
  }, 300_000);

  it('two runs started together never train a cell twice in one folder', async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'twice-'));
    const file = gridFile(tmp);
    const runs = [start([file, '--preset', 'tiny', '--out', tmp]), start([file, '--preset', 'tiny', '--out', tmp])];
    const codes = await Promise.all(runs.map(ended));
    runs.forEach((r, i) => {
      if (codes[i] !== 0) expect(stderrOf(r)).toMatch(/is in use by process \d+ on host/);
    });
    expect(codes).toContain(0);
    for (const dir of runDirs(tmp, 'faults')) {
      const lines = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
      const keys = lines.map((m) => `${m.cell} ${m.step} ${'valAccuracy' in m}`);
      expect(new Set(keys).size, dir).toBe(keys.length);
    }
  }, 300_000);
});

describe('signals and pipes', () => {
  it('SIGTERM to a --jobs 2 run ends its workers too', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'sigterm-'));
    const file = gridFile(out);
    const run = start([file, '--preset', 'tiny', '--jobs', '2', '--out', out]);
    await until(() => run.out.filter((l) => / parameters, vocabulary /.test(l)).length >= 2);
    expect(processesWith(out).length).toBeGreaterThanOrEqual(3);
    run.kill('SIGTERM');
    expect(await ended(run)).toBe(143);
    await until(() => processesWith(out).length === 0, 5);
    // and a rerun resumes the same folder
    const again = start([file, '--preset', 'tiny', '--out', out]);
    expect(await ended(again), stderrOf(again)).toBe(0);
    expect(runDirs(out, 'faults')).toHaveLength(1);
  }, 300_000);

  it('SIGTERM to `npm run experiment -- --jobs 2` ends every process under it', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'npm-sigterm-'));
    const file = gridFile(out);
    const run = start([file, '--preset', 'tiny', '--jobs', '2', '--out', out], { npm: true });
    await until(() => run.out.filter((l) => / parameters, vocabulary /.test(l)).length >= 2);
    expect(processesWith(out).length).toBeGreaterThanOrEqual(4); // npm, the launcher, the run, its workers
    run.kill('SIGTERM');
    expect(await ended(run)).toBe(143); // npm waited for the run's own shutdown
    await until(() => processesWith(out).length === 0, 5);
    expect(stderrOf(run)).not.toMatch(/artificially reduced/);
  }, 300_000);

  it('a SIGKILLed parent takes its workers with it', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'orphans-'));
    const file = gridFile(out);
    const run = start([file, '--preset', 'tiny', '--jobs', '2', '--out', out]);
    await until(() => run.out.filter((l) => / parameters, vocabulary /.test(l)).length >= 2);
    run.kill('SIGKILL');
    await ended(run);
    await until(() => processesWith(out).length === 0, 5);
  }, 300_000);

  it('`| head -2` ends the run quietly', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'head-'));
    const file = gridFile(out);
    const r = spawnSync('sh', ['-c', `"${process.execPath}" --import tsx experiments/run.ts "${file}" --preset tiny --out "${out}" | head -2; echo "status $?"`], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout.trimEnd().split('\n')).toEqual([expect.stringMatching(/^writing to /), expect.stringMatching(/cell 1\/2/), 'status 0']);
    expect(r.stderr).not.toMatch(/EPIPE|Error|error/);
  });

  it('`npm run experiment ... | head -2` ends quietly too', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'npm-head-'));
    const file = gridFile(out);
    const r = spawnSync('sh', ['-c', `npm run --silent experiment -- "${file}" --preset tiny --out "${out}" | head -2; echo "status $?"`], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout.trimEnd().split('\n')).toEqual([expect.stringMatching(/^writing to /), expect.stringMatching(/cell 1\/2/), 'status 0']);
    expect(r.stderr).toBe('');
  });
});

describe('damaged files', () => {
  it('a damaged cell checkpoint is named, and --restart-damaged trains that cell again', async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'damaged-'));
    const grid = await resolveGrid(gridFile(tmp));
    const dir = await runGrid({ grid, preset: 'tiny', out: tmp, log: quiet });
    const before = rowsOf(dir);
    // as if killed mid-cell after a checkpoint whose trainer.json was cut short
    const cell = readdirSync(path.join(dir, 'cells'))[0];
    const cellDir = path.join(dir, 'cells', cell);
    rmSync(path.join(cellDir, 'result.json'));
    const results = JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8'));
    writeFileSync(path.join(dir, 'results.json'), JSON.stringify({ ...results, complete: false }));
    spawnSync('cp', ['-r', path.join(cellDir, 'model'), path.join(cellDir, 'checkpoint')]);
    writeFileSync(path.join(cellDir, 'checkpoint', 'trainer.json'), '{"config": {"batchSize"');
    await expect(runGrid({ grid, preset: 'tiny', out: tmp, log: quiet })).rejects.toThrow(
      `${path.join(cellDir, 'checkpoint')} is damaged (`,
    );
    await expect(runGrid({ grid, preset: 'tiny', out: tmp, log: quiet })).rejects.toThrow(/delete that folder or run the same command with --restart-damaged/);
    const lines: string[] = [];
    expect(await runGrid({ grid, preset: 'tiny', out: tmp, log: (l) => lines.push(l), restartDamaged: true })).toBe(dir);
    expect(lines.some((l) => l.includes('restarting the cell from its first step'))).toBe(true);
    expect(rowsOf(dir)).toEqual(before);
  }, 300_000);

  it('the end of a run is one step: a run killed while writing its end is resumed and ended, not trained again', async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'end-'));
    const grid = await resolveGrid(gridFile(tmp));
    const dir = await runGrid({ grid, preset: 'tiny', out: tmp, log: quiet });
    const before = rowsOf(dir);
    const table = readFileSync(path.join(dir, 'table.md'), 'utf8');
    const results = JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8'));
    // a process that held the lock and died: its pid names no live process
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const staleLock = () => writeFileSync(path.join(dir, 'lock.json'), JSON.stringify({ pid: Number(dead), host: hostname(), since: new Date().toISOString() }));
    const damages: [string, () => void][] = [
      ['results.json not yet complete', () => writeFileSync(path.join(dir, 'results.json'), JSON.stringify({ ...results, complete: false }))],
      ['a complete run whose lock was left behind', staleLock],
      ['a complete run without its table', () => rmSync(path.join(dir, 'table.md'))],
    ];
    for (const [what, damage] of damages) {
      damage();
      const lines: string[] = [];
      expect(await runGrid({ grid, preset: 'tiny', out: tmp, log: (l) => lines.push(l) }), what).toBe(dir);
      expect(lines.filter((l) => / step \d+\//.test(l)), `${what}: nothing trains`).toEqual([]);
      expect(runDirs(tmp, 'faults'), `${what}: no second folder`).toEqual([dir]);
      expect(JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')).complete, what).toBe(true);
      expect(rowsOf(dir), what).toEqual(before);
      // the same tables; only the line with the run's time may differ
      const untimed = (t: string) => t.replace(/^.*wall-clock.*$/m, '');
      expect(untimed(readFileSync(path.join(dir, 'table.md'), 'utf8')), what).toBe(untimed(table));
      expect(existsSync(path.join(dir, 'lock.json')), what).toBe(false);
    }
  }, 300_000);

  it('a description edit resumes the run; a changed setting starts a new one and names the unfinished one it leaves', async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'identity-'));
    const file = gridFile(tmp);
    const dir = await runGrid({ grid: await resolveGrid(file), preset: 'tiny', out: tmp, log: quiet });
    const results = JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8'));
    writeFileSync(path.join(dir, 'results.json'), JSON.stringify({ ...results, complete: false }));
    const edited = JSON.parse(readFileSync(file, 'utf8'));
    edited.presets.tiny.description = 'reworded';
    writeFileSync(file, JSON.stringify(edited));
    const lines: string[] = [];
    expect(await runGrid({ grid: await resolveGrid(file), preset: 'tiny', out: tmp, log: (l) => lines.push(l) })).toBe(dir);
    expect(lines[0]).toBe(`resuming ${dir}`);

    writeFileSync(path.join(dir, 'results.json'), JSON.stringify({ ...results, complete: false }));
    edited.presets.tiny.training.lr = 0.002;
    writeFileSync(file, JSON.stringify(edited));
    lines.length = 0;
    const other = await runGrid({ grid: await resolveGrid(file), preset: 'tiny', out: tmp, log: (l) => lines.push(l) });
    expect(other).not.toBe(dir);
    expect(lines[0]).toBe(`the unfinished run ${dir} of preset tiny ran other settings (training.lr); it stays as it is, and this run starts a new folder`);
    expect(existsSync(path.join(dir, 'config.json'))).toBe(true);
  }, 300_000);

  it('a diverging cell stops the run naming the cell, the step and the rule, and no result is recorded for it', async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'diverge-'));
    const file = gridFile(tmp);
    const g = JSON.parse(readFileSync(file, 'utf8'));
    Object.assign(g.presets.tiny.training, { lr: 10, maxGradNorm: 0 });
    writeFileSync(file, JSON.stringify(g));
    const run = runGrid({ grid: await resolveGrid(file), preset: 'tiny', out: tmp, log: quiet });
    await expect(run).rejects.toThrow(/^cell modsum-none-tiny-n32-seed1: training diverged at step \d+: the loss (is NaN|is Infinity|\S+ is above \S+, 2 times the larger of the first step's .*); lower the learning rate \(training\.lr is 10\); the finished cells are kept$/);
    const [dir] = runDirs(tmp, 'faults');
    expect(existsSync(path.join(dir, 'cells', 'modsum-none-tiny-n32-seed1', 'result.json'))).toBe(false);
  }, 300_000);

  it('a failed write names the file and the reason and leaves no temporary file; leftovers of dead processes are cleared', async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'leftovers-'));
    // a "folder" that is a file: every write under it fails
    writeFileSync(path.join(tmp, 'plain'), 'x');
    await expect(writeAtomic(path.join(tmp, 'plain', 'results.json'), '{}')).rejects.toThrow(`${path.join(tmp, 'plain', 'results.json')}: cannot write (a part of the path is a file, not a folder)`);
    expect(readdirSync(tmp)).toEqual(['plain']);
    // a results root under a file: the reason, not a bare ENOTDIR
    const grid = await resolveGrid(gridFile(mkdtempSync(path.join(tmpdir(), 'leftovers-grid-'))));
    await expect(runGrid({ grid, preset: 'tiny', out: path.join(tmp, 'plain', 'results'), log: quiet })).rejects.toThrow(
      `${path.join(tmp, 'plain', 'results', 'faults')}: cannot create the results folder (a part of the path is a file, not a folder)`,
    );

    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const cell = (c: string) => path.join(tmp, 'cells', c);
    mkdirSync(path.join(cell('a'), `checkpoint.tmp-${dead}`), { recursive: true });
    mkdirSync(path.join(cell('b'), `checkpoint.old-${dead}`), { recursive: true });
    writeFileSync(path.join(cell('b'), `checkpoint.old-${dead}`, 'trainer.json'), '{}');
    mkdirSync(path.join(cell('c'), `checkpoint.tmp-${process.pid}`), { recursive: true });
    writeFileSync(path.join(tmp, `time.json.tmp-${dead}-3`), '{');
    const removed = await removeLeftovers(tmp);
    expect(removed.sort()).toEqual([path.join(tmp, `time.json.tmp-${dead}-3`), path.join(cell('a'), `checkpoint.tmp-${dead}`), path.join(cell('b'), `checkpoint.old-${dead}`)].sort());
    expect(readdirSync(cell('a'))).toEqual([]);
    // an old checkpoint whose replacement never landed is the checkpoint
    expect(readFileSync(path.join(cell('b'), 'checkpoint', 'trainer.json'), 'utf8')).toBe('{}');
    // a live process's own temporary folder stays
    expect(readdirSync(cell('c'))).toEqual([`checkpoint.tmp-${process.pid}`]);
  });

  it('a metrics log: a torn last line is dropped with a warning, a damaged middle line is an error', async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'metrics-'));
    const file = path.join(tmp, 'metrics.jsonl');
    writeFileSync(file, '{"cell":"a","step":1,"loss":2}\n{"cell":"a","step":2,"loss":1}\n{"cell":"a","st');
    const warnings: string[] = [];
    expect(await readMetrics(file, (l) => warnings.push(l))).toEqual([
      { cell: 'a', step: 1, loss: 2 },
      { cell: 'a', step: 2, loss: 1 },
    ]);
    expect(warnings).toEqual([`${file}: dropped a torn last line (15 bytes without a line ending)`]);
    writeFileSync(file, '{"cell":"a","step":1,"loss":2}\n{"cell":"a",\n{"cell":"a","step":2,"loss":1}\n');
    await expect(readMetrics(file, quiet)).rejects.toThrow(`${file}:2: not a JSON record`);
  });
});
