// The engine under Deno: same ops, same answers as the float64 reference.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectClose } from '../helpers.ts';

const root = path.resolve(import.meta.dirname, '../..');

describe('engine under Deno', () => {
  it('runs ops and backward on Deno\'s own WebGPU', () => {
    const r = spawnSync(path.join(root, 'node_modules/.bin/deno'), ['run', '-A', 'test/deno/engine-smoke.ts'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.runtime).toBe('deno');

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
});
