import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../../reference/reduce.ts';
import { sumFirstAxisPlus } from '../../engine/ops/reduce_kernel.ts';
import { checkGradients, expectClose, rand, setupEngine, sizeOfShape } from '../helpers.ts';

beforeAll(setupEngine);

const CASES: [number[], number[]][] = [
  [[1], [0]],
  [[7], [0]],
  [[3, 37], [1]],
  [[3, 37], [0]],
  [[2, 5, 7], [0, 2]],
  [[2, 5, 7], [1, 2]],
  [[4, 3, 2, 5], [0, 1, 2, 3]],
  [[5000], [0]], // long axis: the chunked two-pass path
  [[3, 2999], [1]],
];

describe('reductions', () => {
  for (const op of ['sum', 'mean', 'max'] as const) {
    const f = { sum: E.sum, mean: E.mean, max: E.max }[op];
    it(`${op} forward over any axes`, async () => {
      for (const [shape, axes] of CASES) {
        const data = rand(sizeOfShape(shape), shape.length + axes.length);
        const t = E.tensor(data, shape);
        const got = E.tidy(() => f(t, axes, true));
        expect(got.shape).toEqual(shape.map((d, i) => (axes.includes(i) ? 1 : d)));
        expectClose(await got.toArray(), R.reduce(data, shape, axes, op), 1e-5, 1e-5, `${op} ${shape} ${axes}`);
        const dropped = E.tidy(() => f(t, axes));
        expect(dropped.shape).toEqual(shape.filter((_, i) => !axes.includes(i)));
      }
    });
    it(`${op} backward`, async () => {
      await checkGradients((x) => f(x, [1]), [{ data: rand(15, 3), shape: [3, 5] }]);
      await checkGradients((x) => f(x, [0, 2]), [{ data: rand(24, 4), shape: [2, 3, 4] }]);
      await checkGradients((x) => f(x), [{ data: rand(7, 5), shape: [7] }]);
    });
  }
  it('sums over the first axis plus an addend in the same pass (the bias gradient of attention)', async () => {
    // [3, 7, 5]: one pass; [600, 3]: few outputs and a long axis, so the addend rides on the
    // second of two passes.
    for (const shape of [[3, 7, 5], [600, 3], [1, 4]]) {
      const x = rand(sizeOfShape(shape), shape[0]);
      const rest = shape.slice(1);
      const addend = rand(sizeOfShape(rest), 7);
      const want = R.reduce(x, shape, [0], 'sum').map((v, i) => v + addend[i]);
      const [tx, ta] = [E.tensor(x, shape), E.tensor(addend, rest)];
      const got = sumFirstAxisPlus(tx, ta);
      expect(got.shape).toEqual(rest);
      expectClose(await got.toArray(), want, 1e-5, 1e-5, `sum of ${shape} plus addend`);
      E.dispose([tx, ta, got]);
    }
    const [x, wrong] = [E.zeros([3, 4]), E.zeros([5])];
    expect(() => sumFirstAxisPlus(x, wrong)).toThrow(/sumFirstAxisPlus: addend \[5\] does not match the sum of \[3,4\] over its first axis/);
    E.dispose([x, wrong]);
  });

  it('names the op on a bad axis', () => {
    expect(() => E.sum(E.zeros([2, 3]), 2)).toThrow(/sum: axis 2 is out of range for rank 2/);
  });
});
