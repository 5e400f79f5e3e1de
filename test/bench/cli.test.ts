// The bench CLI ends a bad command with one line that says why, never a stack trace.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

it('an unknown model preset is one error line naming the valid ones', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', 'train', '--presets', 'tiny,huge'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  expect(r.status).toBe(1);
  expect(r.stderr.trim()).toMatch(/^error: --presets: unknown model preset "huge"; valid presets: tiny, xs, s, m/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
});

it.each([
  ['train', '--bogus'],
  ['attention', '--iter', '3'],
  ['matmul', '--size', '64'],
  ['profile', '--modle', 'tiny'],
  ['runtimes', '--round', '2'],
])('%s %s: an unknown option is refused, naming the valid ones', (name, ...args) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', name, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(new RegExp(`^error: bench ${name}: unknown option ${args[0]}; valid options: --`, 'm'));
});
