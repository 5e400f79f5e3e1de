// The engine under Deno: same ops, same answers as the float64 reference.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectClose } from '../helpers.ts';

const root = path.resolve(import.meta.dirname, '../..');

function smoke(env: Record<string, string>, args: string[] = ['-A']) {
  return spawnSync(path.join(root, 'node_modules/.bin/deno'), ['run', ...args, 'test/deno/engine-smoke.ts'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', ...env },
    timeout: 120_000,
  });
}

describe('engine under Deno', () => {
  it.each([
    ['Dawn (the default)', {}, 'dawn'],
    ["Deno's own WebGPU (WEBGPU_IMPL=builtin)", { WEBGPU_IMPL: 'builtin' }, 'deno-builtin'],
  ])('runs ops and backward on %s', (_name, env, implementation) => {
    const r = smoke(env);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.runtime).toBe('deno');
    expect(out.implementation).toBe(implementation);

    const x = [[0.5, -1, 2], [1.5, 0.25, -0.75]];
    const w = [0.3, -0.2, 0.1];
    let loss = 0;
    const gx = x.map((r) => r.map(() => 0));
    const gw = [0, 0, 0];
    x.forEach((row, i) =>
      row.forEach((v, j) => {
        const y = Math.tanh(v * w[j]);
        loss += (y * y) / 6;
        const dy = (2 * y) / 6;
        const dz = dy * (1 - y * y);
        gx[i][j] = dz * w[j];
        gw[j] += dz * v;
      }),
    );
    expectClose([out.loss], [loss], 1e-5, 1e-7, 'loss');
    expectClose(out.gradX, gx.flat(), 1e-4, 1e-6, 'dx');
    expectClose(out.gradW, gw, 1e-4, 1e-6, 'dw');
    expectClose(out.sumAxis0, [2, -0.75, 1.25], 1e-6, 1e-6, 'sum');
    const gram = x.flatMap((a) => x.map((b) => a.reduce((s, v, i) => s + v * b[i], 0)));
    expectClose(out.gram, gram, 1e-6, 1e-6, 'matmul');
  }, 130_000);

  it('falls back to the built-in WebGPU when Dawn may not load, and says why when Dawn was asked for', () => {
    // Without --allow-ffi, Deno refuses the native addon.
    const limited = ['--allow-read', '--allow-env', '--allow-write'];
    const r = smoke({}, limited);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!).implementation).toBe('deno-builtin');
    const forced = smoke({ WEBGPU_IMPL: 'dawn' }, limited);
    expect(forced.status).not.toBe(0);
    expect(forced.stderr).toMatch(/WEBGPU_IMPL=dawn, but the npm package 'webgpu' \(Dawn\) could not be loaded/);
  }, 130_000);
});
