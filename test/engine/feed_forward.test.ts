import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { feedForward as reference } from '../../reference/feed_forward.ts';
import { checkGradients, expectClose, rand, setupEngine } from '../helpers.ts';

beforeAll(setupEngine);

describe('feedForward', () => {
  // d = 8 and 12 take vec4 stores, 7 and 5 scalar ones; rows are no tile multiple.
  for (const [B, L, d, f] of [[2, 7, 8, 12], [3, 5, 7, 10], [1, 9, 12, 5]]) {
    it(`forward matches float64, with and without a residual: x [${B},${L},${d}], d_ff ${f}`, async () => {
      const n = B * L;
      const [x, wi, wo, r] = [rand(n * d, 1), rand(f * d, 2), rand(d * f, 3), rand(n * d, 4)];
      for (const residual of [null, r]) {
        const got = E.tidy(() =>
          E.feedForward(E.tensor(x, [B, L, d]), E.tensor(wi, [f, d]), E.tensor(wo, [d, f]), { residual: residual ? E.tensor(residual, [B, L, d]) : undefined }),
        );
        expect(got.shape).toEqual([B, L, d]);
        expectClose(await got.toArray(), reference(x, wi, wo, residual, n, d, f), 1e-5, 1e-5, `residual ${residual !== null}`);
        got.dispose();
      }
    });
    it(`backward matches finite differences: x [${B},${L},${d}], d_ff ${f}`, async () => {
      const n = B * L;
      // A small step, so that few pre-activations cross the relu's kink between the two probes.
      await checkGradients(
        (x, wi, wo, r) => E.feedForward(x, wi, wo, { residual: r }),
        [
          { data: rand(n * d, 5), shape: [B, L, d] },
          { data: rand(f * d, 6), shape: [f, d] },
          { data: rand(d * f, 7), shape: [d, f] },
          { data: rand(n * d, 8), shape: [B, L, d] },
        ],
        { eps: 1e-3 },
      );
    });
  }

  it('agrees with the composed ops in output and every gradient', async () => {
    const [B, L, d, f] = [2, 6, 8, 16];
    const data = [rand(B * L * d, 9), rand(f * d, 10), rand(d * f, 11), rand(B * L * d, 12)];
    const run = async (fused: boolean) => {
      const [x, wi, wo, r] = [E.param(E.tensor(data[0], [B, L, d])), E.param(E.tensor(data[1], [f, d])), E.param(E.tensor(data[2], [d, f])), E.param(E.tensor(data[3], [B, L, d]))];
      const y = E.tidy(() => {
        const y = fused
          ? E.feedForward(x, wi, wo, { residual: r })
          : E.add(r, E.matmul(E.relu(E.matmul(x, wi, { transB: true })), wo, { transB: true }));
        E.backward(E.sum(E.mul(y, y)));
        return y;
      });
      const out = [await y.toArray(), ...(await Promise.all([x, wi, wo, r].map((t) => t.grad!.toArray())))];
      E.dispose([y, x, wi, wo, r, x.grad, wi.grad, wo.grad, r.grad]);
      return out;
    };
    const [fused, composed] = [await run(true), await run(false)];
    fused.forEach((t, i) => expectClose(t, composed[i], 1e-5, 1e-5, ['y', 'dx', 'dwi', 'dwo', 'dr'][i]));
  });

  it('rejects mismatched shapes, naming them', () => {
    const t = (...s: number[]) => E.zeros(s);
    expect(() => E.feedForward(t(2, 8), t(12, 7), t(8, 12))).toThrow(/feedForward x \[2,8\] wi \[12,7\] wo \[8,12\]: needs x \[\.\.\., d\], wi \[d_ff, d\] and wo \[d, d_ff\]/);
    expect(() => E.feedForward(t(2, 8), t(12, 8), t(8, 12), { residual: t(2, 7) })).toThrow(/the residual must have x's shape/);
  });
});
