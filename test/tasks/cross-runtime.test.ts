import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { probe } from '../fixtures/runtime-probe.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const deno = path.join(repoRoot, 'node_modules/.bin/deno');
const probeUrl = pathToFileURL(path.join(repoRoot, 'test/fixtures/runtime-probe.ts')).href;

describe('task layer outside Node', () => {
  // Deno is a dev dependency (npm package `deno`), so it is always there after npm ci.
  it('Deno generates the same data as Node', () => {
    const r = spawnSync(deno, ['eval', '--no-remote', `import { probe } from '${probeUrl}'; console.log(probe());`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const expected = probe();
    expect(expected.length).toBeGreaterThan(1000);
    expect(r.stdout.trim()).toBe(expected);
  }, 30000);
});
