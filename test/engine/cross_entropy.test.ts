import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../../reference/cross_entropy.ts';
import { crossEntropy } from '../../engine/ops/cross_entropy.ts';
import { Rng } from '../../engine/random.ts';
import { checkGradients, expectClose, rand, setupEngine, withRowThreads } from '../helpers.ts';

beforeAll(setupEngine);

function randomTargets(rows: number, len: number, seed: number, ignore = -100, ignoreEvery = 0): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: rows }, (_, r) => (ignoreEvery && r % ignoreEvery === 1 ? ignore : Math.floor(rng.nextFloat() * len)));
}

const CASES: [number[], number][] = [
  [[1], 1],
  [[3], 7],
  [[37], 129],
  [[2, 3], 1031],
  [[1], 4099],
];

describe('crossEntropy', () => {
  for (const reduction of ['mean', 'sum', 'none'] as const) {
    for (const lanes of [null, 8, 256]) {
      it(`${reduction}: loss and gradient match float64 at odd sizes (lanes per row: ${lanes ?? 'auto'})`, () => withRowThreads(lanes, async () => {
        for (const [lead, len] of CASES) {
          for (const hostTargets of [true, false]) {
            const rows = lead.reduce((a, b) => a * b, 1);
            const xd = rand(rows * len, rows + len, -5, 5);
            const td = randomTargets(rows, len, len, -100, 3);
            const up = rand(reduction === 'none' ? rows : 1, 9, 0.5, 2);
            const targets = E.tensor(td, lead, 'i32');
            if (!hostTargets) targets.host = null;
            const logits = E.param(E.tensor(xd, [...lead, len]));
            const loss = crossEntropy(logits, targets, { reduction });
            expect(loss.shape).toEqual(reduction === 'none' ? lead : []);
            E.backward(loss, E.tensor(up, loss.shape));
            const ref = R.crossEntropy(xd, td, len, -100, reduction, up);
            const what = `${reduction} ${lead} x ${len}${hostTargets ? '' : ' (GPU targets)'}`;
            expectClose(await loss.toArray(), ref.loss, 1e-5, 1e-5, what);
            expectClose(await logits.grad!.toArray(), ref.grad, 1e-4, 1e-6, `${what} gradient`);
            E.dispose([logits, logits.grad, loss, targets]);
          }
        }
      }));
    }

    it(`${reduction}: gradient matches finite differences`, async () => {
      const targets = E.tensor([2, -100, 0, 6], [4], 'i32');
      await checkGradients((x) => crossEntropy(x, targets, { reduction }), [{ data: rand(4 * 7, 3, -2, 2), shape: [4, 7] }]);
      await checkGradients((x) => crossEntropy(x, E.tensor([0], [1], 'i32'), { reduction }), [{ data: [0.4], shape: [1, 1] }]);
    });
  }

  it('is stable for logits around +-1000', async () => {
    for (const lanes of [null, 8]) await withRowThreads(lanes, async () => {
      const len = 129;
      const xd = rand(4 * len, 4, -20, 20).map((v, i) => Math.fround(v + (i < 2 * len ? 1000 : -1000)));
      const td = [5, 128, 0, 77];
      const logits = E.param(E.tensor(xd, [4, len]));
      const loss = crossEntropy(logits, E.tensor(td, [4], 'i32'), { reduction: 'none' });
      E.backward(loss, E.ones([4]));
      const ref = R.crossEntropy(xd, td, len, -100, 'none', [1, 1, 1, 1]);
      expectClose(await loss.toArray(), ref.loss, 1e-5, 1e-5, 'large loss');
      expectClose(await logits.grad!.toArray(), ref.grad, 1e-4, 1e-6, 'large gradient');
      E.dispose([logits, logits.grad, loss]);
    });
  });

  it('backward() of the loss itself uses the gradient the forward wrote: no seed fill, no multiply', async () => {
    for (const reduction of ['mean', 'sum'] as const) {
      const [rows, len] = [9, 37];
      const xd = rand(rows * len, 11, -5, 5);
      const td = randomTargets(rows, len, len, -100, 12);
      const logits = E.param(E.tensor(xd, [rows, len]));
      const targets = E.tensor(td, [rows], 'i32');
      const e = E.engine();
      const loss = crossEntropy(logits, targets, { reduction });
      e.startProfile();
      E.backward(loss);
      const kernels = (await e.stopProfile()).records.map((r) => r.kernel);
      expect(kernels).toEqual([]);
      const ref = R.crossEntropy(xd, td, len, -100, reduction, [1]);
      expectClose(await logits.grad!.toArray(), ref.grad, 1e-4, 1e-6, `${reduction} gradient`);
      E.dispose([logits, logits.grad, loss, targets]);
    }
  });

  it('honours a custom ignoreIndex that is also a valid class', async () => {
    const xd = rand(5 * 4, 5, -2, 2);
    const td = [3, 1, 3, 0, 2];
    const logits = E.param(E.tensor(xd, [5, 4]));
    const loss = crossEntropy(logits, E.tensor(td, [5], 'i32'), { ignoreIndex: 3 });
    E.backward(loss);
    const ref = R.crossEntropy(xd, td, 4, 3, 'mean', [1]);
    expectClose(await loss.toArray(), ref.loss, 1e-5, 1e-6, 'loss');
    expectClose(await logits.grad!.toArray(), ref.grad, 1e-4, 1e-6, 'gradient');
    const rowsIgnored = Array.from(await logits.grad!.toArray()).filter((_, i) => td[Math.floor(i / 4)] === 3);
    expect(rowsIgnored.every((v) => v === 0)).toBe(true);
  });

  it('gives a mean of 0 and a zero gradient when every row is ignored', async () => {
    for (const hostTargets of [true, false]) {
      const targets = E.tensor([-100, -100, -100], [3], 'i32');
      if (!hostTargets) targets.host = null;
      const logits = E.param(E.tensor(rand(3 * 5, 6), [3, 5]));
      const loss = crossEntropy(logits, targets);
      E.backward(loss);
      expect(await loss.item()).toBe(0);
      expect(Array.from(await logits.grad!.toArray()).every((v) => v === 0)).toBe(true);
      E.dispose([logits, logits.grad, loss]);
    }
  });

  it('computes the same loss without a gradient (no gradient buffer written)', async () => {
    const xd = rand(37 * 129, 7, -3, 3);
    const td = randomTargets(37, 129, 8, -100, 4);
    const loss = E.noGrad(() => E.tidy(() => crossEntropy(E.param(E.tensor(xd, [37, 129])), E.tensor(td, [37], 'i32'))));
    expect(loss.node).toBe(null);
    expectClose([await loss.item()], R.crossEntropy(xd, td, 129, -100, 'mean', [1]).loss, 1e-5, 1e-6, 'loss');
  });

  it('names the bad target and the class count', () => {
    const logits = E.zeros([3, 10]);
    expect(() => E.tidy(() => crossEntropy(logits, E.tensor([1, 10, -100], [3], 'i32')))).toThrow(
      /crossEntropy logits \[3,10\] targets \[3\]: target 10 at row 1 is out of range for 10 classes/,
    );
    expect(() => E.tidy(() => crossEntropy(logits, E.tensor([1, -1, 2], [3], 'i32')))).toThrow(/target -1 at row 1 is out of range for 10 classes/);
  });

  it('gives NaN, never an out-of-bounds read, for a bad target made on the GPU', async () => {
    const targets = E.tensor([1, 10], [2], 'i32');
    targets.host = null;
    const loss = E.tidy(() => crossEntropy(E.zeros([2, 10]), targets, { reduction: 'none' }));
    const v = await loss.toArray();
    expect(v[0]).toBeCloseTo(Math.log(10), 5);
    expect(Number.isNaN(v[1])).toBe(true);
  });

  it('rejects mismatched shapes, dtypes and options', () => {
    const logits = E.zeros([4, 7]);
    expect(() => E.tidy(() => crossEntropy(logits, E.tensor([0, 1, 2, 3, 4], [5], 'i32')))).toThrow(
      /crossEntropy logits \[4,7\] targets \[5\]: targets must have the shape of logits without its last \(class\) axis/,
    );
    expect(() => E.tidy(() => crossEntropy(logits, E.zeros([4])))).toThrow(/targets must be i32 class ids, got f32/);
    expect(() => E.tidy(() => crossEntropy(E.zeros([4, 7], 'i32'), E.zeros([4], 'i32')))).toThrow(/logits must be f32, got i32/);
    expect(() => E.tidy(() => crossEntropy(logits, E.zeros([4], 'i32'), { reduction: 'avg' as 'mean' }))).toThrow(/unknown reduction 'avg'/);
    expect(() => E.tidy(() => crossEntropy(E.zeros([2, 0]), E.zeros([2], 'i32')))).toThrow(/there are no classes/);
  });
});
