import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../../reference/norm.ts';
import { layerNorm, rmsNorm } from '../../engine/ops/norm.ts';
import { checkGradients, expectClose, rand, setupEngine, withRowThreads } from '../helpers.ts';

beforeAll(setupEngine);

const LANES = [null, 8, 256];
// Row counts below, between and above the backward's rows per group (8 to 16) and its 256
// groups (4100 rows), with lengths that are not multiples of 4.
const SHAPES = [[1], [1, 1], [3, 7], [37, 129], [2, 3, 130], [1, 1031], [4100, 3]];

describe.each([
  ['layerNorm', false, true],
  ['layerNorm without bias', false, false],
  ['rmsNorm', true, false],
] as const)('%s', (name, rms, withBias) => {
  const run = (x: E.Tensor, w: E.Tensor, b: E.Tensor | null, eps: number) => (rms ? rmsNorm(x, w, eps) : layerNorm(x, w, b, eps));

  for (const lanes of LANES) {
    it(`forward and backward match float64 at odd sizes (lanes per row: ${lanes ?? 'auto'})`, () => withRowThreads(lanes, async () => {
      for (const shape of SHAPES) {
        const n = shape.reduce((a, c) => a * c, 1);
        const len = shape[shape.length - 1];
        const [xd, wd, bd, gd] = [rand(n, 1, -3, 3), rand(len, 2, 0.5, 1.5), rand(len, 3), rand(n, 4)];
        const x = E.param(E.tensor(xd, shape));
        const w = E.param(E.tensor(wd, [len]));
        const b = withBias ? E.param(E.tensor(bd, [len])) : null;
        const y = run(x, w, b, 1e-5);
        E.backward(y, E.tensor(gd, shape));
        const ref = R.norm(rms, xd, wd, withBias ? bd : null, gd, 1e-5);
        expect(y.shape).toEqual(shape);
        expectClose(await y.toArray(), ref.y, 1e-4, 1e-5, `${name} ${shape}`);
        expectClose(await x.grad!.toArray(), ref.dx, 1e-3, 1e-4, `${name} dx ${shape}`);
        expectClose(await w.grad!.toArray(), ref.dw, 1e-4, 1e-4, `${name} dweight ${shape}`);
        if (b) expectClose(await b.grad!.toArray(), ref.db, 1e-4, 1e-4, `${name} dbias ${shape}`);
        E.dispose([x, w, b, x.grad, w.grad, b?.grad, y]);
      }
    }));
  }

  it('adds the gradient x already has from another consumer', async () => {
    for (const lanes of [null, 8]) await withRowThreads(lanes, async () => {
      const shape = [45, 33];
      const [xd, wd, bd, gd] = [rand(45 * 33, 13, -3, 3), rand(33, 14, 0.5, 1.5), rand(33, 15), rand(45 * 33, 16)];
      const x = E.param(E.tensor(xd, shape));
      const w = E.param(E.tensor(wd, [33]));
      const b = withBias ? E.param(E.tensor(bd, [33])) : null;
      // norm(h) + h, h computed (a leaf keeps its own .grad): the residual's gradient reaches h
      // before the norm's backward, which adds into it (ACCUMULATE).
      const y = E.tidy(() => {
        const h = E.mulScalar(x, 1);
        return E.add(run(h, w, b, 1e-5), h);
      });
      E.backward(y, E.tensor(gd, shape));
      const ref = R.norm(rms, xd, wd, withBias ? bd : null, gd, 1e-5);
      expectClose(await x.grad!.toArray(), ref.dx.map((v, i) => v + gd[i]), 1e-3, 1e-4, `${name} dx + g`);
      expectClose(await w.grad!.toArray(), ref.dw, 1e-4, 1e-4, `${name} dweight`);
      if (b) expectClose(await b.grad!.toArray(), ref.db, 1e-4, 1e-4, `${name} dbias`);
      E.dispose([x, w, b, x.grad, w.grad, b?.grad, y]);
    });
  });

  it('is accurate when the mean is large against the spread', async () => {
    const len = 129;
    const xd = rand(3 * len, 5, -1, 1).map((v) => Math.fround(1000 + v));
    const wd = rand(len, 6, 0.5, 1.5);
    const y = E.tidy(() => run(E.tensor(xd, [3, len]), E.tensor(wd, [len]), withBias ? E.tensor(rand(len, 7), [len]) : null, 1e-5));
    const ref = R.norm(rms, xd, wd, withBias ? rand(len, 7) : null, new Float64Array(3 * len), 1e-5);
    expectClose(await y.toArray(), ref.y, 1e-4, 1e-4, `${name} offset`);
    y.dispose();
  });

  it('backward matches finite differences for every input', async () => {
    const inputs = [
      { data: rand(3 * 7, 8, -2, 2), shape: [3, 7] },
      { data: rand(7, 9, 0.5, 1.5), shape: [7] },
      ...(withBias ? [{ data: rand(7, 10), shape: [7] }] : []),
    ];
    const f = (x: E.Tensor, w: E.Tensor, b?: E.Tensor) => run(x, w, b ?? null, 1e-5);
    await checkGradients(f, inputs);
    await withRowThreads(4, () => checkGradients(f, inputs));
  });

  it('names the op and the shapes on bad weights', () => {
    const x = E.zeros([2, 5]);
    expect(() => E.tidy(() => run(x, E.zeros([4]), withBias ? E.zeros([5]) : null, 1e-5))).toThrow(
      new RegExp(`${rms ? 'rmsNorm' : 'layerNorm'} \\[2,5\\] and \\[4\\].*: weight must have shape \\[5\\]`),
    );
    expect(() => E.tidy(() => run(x, E.zeros([5]), withBias ? E.zeros([5]) : null, -1))).toThrow(/eps must be >= 0/);
    x.dispose();
  });
});

describe('layerNorm', () => {
  it('rejects a bias of the wrong shape and non-float input', () => {
    expect(() => E.tidy(() => layerNorm(E.zeros([2, 5]), E.zeros([5]), E.zeros([1, 5])))).toThrow(
      /layerNorm \[2,5\] and \[5\] and \[1,5\]: bias must have shape \[5\]/,
    );
    expect(() => E.tidy(() => layerNorm(E.zeros([2, 5], 'i32'), E.zeros([5])))).toThrow(/layerNorm .*: x must be f32, got i32/);
  });

  it('computes dweight deterministically', async () => {
    const xd = rand(300 * 37, 11, -2, 2);
    const run = async () => {
      const x = E.param(E.tensor(xd, [300, 37]));
      const w = E.param(E.ones([37]));
      E.backward(layerNorm(x, w), E.tensor(rand(300 * 37, 12), [300, 37]));
      const dw = await w.grad!.toArray();
      E.dispose([x, w, x.grad, w.grad]);
      return dw;
    };
    expect(Array.from(await run())).toEqual(Array.from(await run()));
  });
});

describe('defaults', () => {
  it('uses eps 1e-5 for layerNorm and 1e-6 for rmsNorm (T5)', async () => {
    const ln = E.tidy(() => layerNorm(E.tensor([0.01, -0.01], [1, 2]), E.ones([2])));
    expectClose(await ln.toArray(), [0.01 / Math.sqrt(1e-4 + 1e-5), -0.01 / Math.sqrt(1e-4 + 1e-5)], 1e-5, 0);
    const rms = E.tidy(() => rmsNorm(E.tensor([0.001, -0.001], [1, 2]), E.ones([2])));
    expectClose(await rms.toArray(), [0.001 / Math.sqrt(2e-6), -0.001 / Math.sqrt(2e-6)], 1e-5, 0);
    E.dispose([ln, rms]);
  });
});
