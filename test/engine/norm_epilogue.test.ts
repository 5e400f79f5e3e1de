// A residual add and the next RMS norm, written as ops after a product (matmul, feedForward),
// riding in the product's pass (engine/ops/held.ts; kernels/matmul_subgroups.wgsl, main_norm):
// both outputs against float64, their gradients against the same ops kept apart (a copy between
// the product and the add) and by finite differences, and the dispatches it saves where the
// kernel folds the norm (N <= 32 on the shared-rows kernel) — and the same answers from the
// unfolded path where it does not.
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { foldsRmsNorm } from '../../engine/ops/matmul.ts';
import { feedForward as ffReference } from '../../reference/feed_forward.ts';
import * as R from '../../reference/matmul.ts';
import { norm as normReference } from '../../reference/norm.ts';
import { checkGradients, expectClose, rand, setupEngine } from '../helpers.ts';

beforeAll(setupEngine);

const EPS = 1e-6;

interface Case {
  op: 'matmul' | 'feedForward';
  /** Leading dims of x (rows = their product), x's last dim k, the output width n, d_ff. */
  lead: number[];
  k: number;
  n: number;
  f: number;
}

// Rows that are no multiple of the kernel's 24-row tile; N = 4, 16, 32 fold, N = 36 (over one
// subgroup's 32 columns) and N = 10 (no multiple of 4) take matmul then rmsNorm.
const CASES: Case[] = [
  { op: 'matmul', lead: [13], k: 9, n: 8, f: 0 },
  { op: 'matmul', lead: [3, 17], k: 20, n: 32, f: 0 },
  { op: 'matmul', lead: [7], k: 5, n: 4, f: 0 },
  { op: 'matmul', lead: [30], k: 12, n: 36, f: 0 },
  { op: 'matmul', lead: [11], k: 6, n: 10, f: 0 },
  { op: 'feedForward', lead: [2, 13], k: 16, n: 16, f: 24 },
  { op: 'feedForward', lead: [29], k: 32, n: 32, f: 12 },
  { op: 'feedForward', lead: [5], k: 10, n: 10, f: 7 },
];

/** [r + product, rmsNorm of that] for the case's op on tensors made from `data`; `apart` puts a
 *  copy between the product and the add, so that nothing rides in the product's pass. */
function run(c: Case, [x, w, r, g]: E.Tensor[], wi?: E.Tensor, apart = false): [E.Tensor, E.Tensor] {
  const product = c.op === 'matmul' ? E.matmul(x, w, { transB: true, alpha: 0.7 }) : E.feedForward(x, wi!, w);
  const sum = E.add(r, apart ? E.copy(product) : product);
  return [sum, E.rmsNorm(sum, g, EPS)];
}

describe.each(CASES)('the next RMS norm in the product\'s pass: $op, x [$lead, $k], N $n', (c) => {
  const rows = c.lead.reduce((a, b) => a * b, 1);
  const data = {
    x: rand(rows * c.k, 1),
    w: rand(c.n * (c.op === 'matmul' ? c.k : c.f), 2),
    wi: rand(c.f * c.k, 3),
    r: rand(rows * c.n, 4),
    g: rand(c.n, 5, 0.5, 1.5),
  };
  const shapes = { x: [...c.lead, c.k], w: c.op === 'matmul' ? [c.n, c.k] : [c.n, c.f], wi: [c.f, c.k], r: [...c.lead, c.n], g: [c.n] };
  it('writes the sum and its norm as float64 does, in one dispatch where it folds', async () => {
    const sum =
      c.op === 'matmul'
        ? R.matmul(data.x, [rows, c.k], data.w, [c.n, c.k], false, true).out.map((v, i) => 0.7 * v + data.r[i])
        : ffReference(Float64Array.from(data.x), Float64Array.from(data.wi), Float64Array.from(data.w), Float64Array.from(data.r), rows, c.k, c.f);
    const normed = normReference(true, sum, data.g, null, new Float64Array(sum.length), EPS).y;
    const [x, w, r, g, wi] = (['x', 'w', 'r', 'g', 'wi'] as const).map((name) => E.tensor(data[name], shapes[name]));
    const folds = foldsRmsNorm(rows, c.n);
    const e = E.engine();
    e.startProfile();
    const [s, h] = run(c, [x, w, r, g], wi);
    // (The test engine fills every new tensor with NaN first: those fills are not the op's.)
    const kernels = (await e.stopProfile()).records.map((rec) => rec.kernel).filter((k) => k !== 'fill.main');
    expect(s.shape).toEqual(shapes.r);
    expect(h.shape).toEqual(shapes.r);
    expectClose(await s.toArray(), sum, 1e-5, 1e-5, 'sum');
    expectClose(await h.toArray(), normed, 1e-4, 1e-5, 'normed');
    // The add rides in the product's pass always; the norm where it folds (after the relu
    // product, for the feed-forward block).
    const product = c.op === 'matmul' ? 1 : 2;
    expect(kernels.length).toBe(folds ? product : product + 1);
    expect(kernels.includes('matmul_subgroups.main_norm')).toBe(folds);
    expect(kernels.some((k) => k.startsWith('elementwise'))).toBe(false);
    E.dispose([x, w, r, g, wi, s, h]);
  });

  it('gives the gradients of the ops kept apart, through both outputs', async () => {
    // The ops kept apart (matmul or feedForward, add, then rmsNorm) are checked by finite
    // differences in their own tests; the relu's kink makes finite differences through the
    // block noisy.
    const names = c.op === 'matmul' ? (['x', 'w', 'r', 'g'] as const) : (['x', 'w', 'r', 'g', 'wi'] as const);
    const up = E.tensor(rand(rows * c.n, 6, -1, 1), shapes.r);
    const grads = async (apart: boolean) => {
      const t = names.map((name) => E.param(E.tensor(data[name], shapes[name])));
      E.tidy(() => {
        const [x, w, r, g, wi] = t;
        const [s, h] = run(c, [x, w, r, g], wi, apart);
        E.backward(E.add(s, E.mulScalar(h, 1.7)), up);
      });
      const out = await Promise.all(t.map(async (p) => Array.from(await p.grad!.toArray())));
      E.dispose(t.flatMap((p) => [p, p.grad]));
      return out;
    };
    const [got, want] = [await grads(false), await grads(true)];
    names.forEach((name, i) => expectClose(got[i], want[i], 1e-4, 1e-5, `gradient of ${name}`));
    up.dispose();
    if (c.op === 'matmul') {
      await checkGradients((...t) => E.add(...(run(c, t) as [E.Tensor, E.Tensor])), names.map((name) => ({ data: data[name], shape: shapes[name] })));
    }
  });
});

it('folds where the shared-rows kernel runs, up to N = 32 columns in multiples of 4', () => {
  const sharedRows = E.engine().adapterProfile.matmul.variant === 'shared-rows';
  expect([4, 8, 32].map((n) => foldsRmsNorm(1120, n))).toEqual([sharedRows, sharedRows, sharedRows]);
  expect([10, 36, 64].map((n) => foldsRmsNorm(1120, n))).toEqual([false, false, false]);
  // A product forced onto another kernel through the adapter profile takes matmul then rmsNorm.
  for (const variant of ['direct', 'tiled'] as const) expect(E.withAdapterProfile({ matmul: { variant } }, () => foldsRmsNorm(1120, 8))).toBe(false);
});
