// scripts/quiet.mjs, the launcher of the npm scripts: it drops exactly Dawn's two "artificially
// reduced" lines from stderr, and is otherwise invisible (output, status, signals).
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const quiet = path.join(root, 'scripts/quiet.mjs');
const child = path.join(root, 'test/fixtures/noisy-child.mjs');
const WARNING = /artificially reduced/;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

it('drops the two warning lines and keeps every other byte and the status', () => {
  const r = spawnSync(process.execPath, [quiet, child, '3'], { cwd: root, timeout: 60_000 });
  expect(r.status).toBe(3);
  expect(r.stdout.toString()).toBe('to stdout\n');
  const kept = Buffer.concat([
    Buffer.from('before\nafter\n'),
    Buffer.from('Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit. twice\n'),
    Buffer.from([0xff, 0xfe, 0x0a]),
    Buffer.from('progress 1/2\rprogress 2/2\rcut off at exit'),
  ]);
  expect(r.stderr.equals(kept), JSON.stringify(r.stderr.toString('latin1'))).toBe(true);
});

it('`npm run doctor` prints no warning, and everything else', () => {
  const r = spawnSync('npm', ['run', '--silent', 'doctor'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^adapter: /m);
  expect(r.stderr).not.toMatch(WARNING);
  // and the lines are there without the launcher: the test is not vacuous
  const direct = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/doctor.ts'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  expect(direct.stderr.match(new RegExp(WARNING, 'g'))?.length).toBe(2);
  expect(r.stderr).toBe(direct.stderr.split('\n').filter((l) => !WARNING.test(l)).join('\n'));
}, 240_000);

it('`npm test` prints no warning either: its test files open WebGPU devices under the launcher', () => {
  // One engine test file through the README's test command, nested in this run.
  const r = spawnSync('npm', ['test', '--', 'test/engine/tidy-alone.test.ts'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  expect(r.status, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toMatch(/1 passed/);
  expect(r.stdout + r.stderr).not.toMatch(WARNING);
}, 240_000);

async function startWaiting(...mode: string[]) {
  const run = spawn(process.execPath, [quiet, child, 'wait', ...mode], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = await new Promise<number>((resolve) => run.stdout.once('data', (d: Buffer) => resolve(Number(d.toString()))));
  const ended = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => run.on('exit', (code, signal) => resolve([code, signal])));
  return { run, pid, ended };
}

it('SIGTERM reaches the child, and the launcher ends by it too', async () => {
  const { run, pid, ended } = await startWaiting();
  expect(alive(pid)).toBe(true);
  run.kill('SIGTERM');
  expect(await ended).toEqual([null, 'SIGTERM']);
  expect(alive(pid)).toBe(false);
}, 60_000);

it('a child that handles SIGTERM decides the status', async () => {
  const { run, pid, ended } = await startWaiting('handle');
  run.kill('SIGTERM');
  expect(await ended).toEqual([143, null]);
  expect(alive(pid)).toBe(false);
}, 60_000);

it('a parent killed by SIGKILL (npm, its shell) takes the launcher and the child with it', async () => {
  // dash keeps itself between: sh is the launcher's parent.
  const sh = spawn('sh', ['-c', `"${process.execPath}" "${quiet}" "${child}" wait; true`], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = await new Promise<number>((resolve) => sh.stdout.once('data', (d: Buffer) => resolve(Number(d.toString()))));
  expect(alive(pid)).toBe(true);
  sh.kill('SIGKILL');
  for (const t0 = Date.now(); alive(pid) && Date.now() - t0 < 5000; ) await new Promise((r) => setTimeout(r, 50));
  expect(alive(pid)).toBe(false);
}, 60_000);
