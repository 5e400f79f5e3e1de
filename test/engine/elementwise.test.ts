import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../../reference/elementwise.ts';
import { checkGradients, expectClose, rand, setupEngine, sizeOfShape } from '../helpers.ts';

beforeAll(setupEngine);

const UNARY: [string, (x: E.Tensor) => E.Tensor, (x: number) => number, [number, number]][] = [
  ['neg', E.neg, R.unary.neg, [-2, 2]],
  ['exp', E.exp, R.unary.exp, [-2, 2]],
  ['log', E.log, R.unary.log, [0.2, 3]],
  ['sqrt', E.sqrt, R.unary.sqrt, [0.2, 3]],
  ['rsqrt', E.rsqrt, R.unary.rsqrt, [0.2, 3]],
  ['relu', E.relu, R.unary.relu, [-2, 2]],
  ['gelu', E.gelu, R.unary.gelu, [-3, 3]],
  ['tanh', E.tanh, R.unary.tanh, [-2, 2]],
  ['reciprocal', E.reciprocal, R.unary.reciprocal, [0.3, 2]],
  ['addScalar', (x) => E.addScalar(x, 1.5), (x) => R.unary.addScalar(x, 1.5), [-2, 2]],
  ['mulScalar', (x) => E.mulScalar(x, -0.7), (x) => R.unary.mulScalar(x, -0.7), [-2, 2]],
  ['powScalar', (x) => E.powScalar(x, 3), (x) => R.unary.powScalar(x, 3), [-2, 2]],
];

describe('unary ops', () => {
  for (const [name, op, ref, [lo, hi]] of UNARY) {
    it(`${name} forward matches float64 at odd sizes`, async () => {
      for (const shape of [[1], [7], [3, 37], [2, 5, 131]]) {
        const data = rand(sizeOfShape(shape), 7, lo, hi);
        const y = await E.tidy(() => op(E.tensor(data, shape))).toArray();
        expectClose(y, Array.from(data, ref), 2e-6, 1e-6, `${name} ${shape}`);
      }
    });
    it(`${name} backward matches finite differences`, async () => {
      // keep away from relu's kink
      const data = rand(11, 3, lo, hi).map((v) => (name === 'relu' && Math.abs(v) < 0.05 ? v + 0.2 : v));
      await checkGradients(op, [{ data, shape: [11] }]);
    });
  }
});

const BINARY: [string, (a: E.Tensor, b: E.Tensor) => E.Tensor, (a: number, b: number) => number][] = [
  ['add', E.add, R.binary.add],
  ['sub', E.sub, R.binary.sub],
  ['mul', E.mul, R.binary.mul],
  ['div', E.div, R.binary.div],
  ['pow', E.pow, R.binary.pow],
  ['maximum', E.maximum, R.binary.maximum],
];

describe('binary ops with broadcasting', () => {
  const cases: [number[], number[]][] = [
    [[13], [13]],
    [[3, 5], [5]],
    [[3, 1, 7], [1, 4, 7]],
    [[2, 3, 5], [1]],
    [[1], [2, 17]],
    // one value broadcast over the other: the contiguous path reading element 0
    [[4, 9], []],
    [[], [3, 3]],
  ];
  for (const [name, op, ref] of BINARY) {
    it(`${name} forward`, async () => {
      for (const [as, bs] of cases) {
        const a = rand(sizeOfShape(as), 5, 0.5, 2);
        const b = rand(sizeOfShape(bs), 6, 0.5, 2);
        const t = E.tidy(() => op(E.tensor(a, as), E.tensor(b, bs)));
        const { out, res } = R.broadcast(a, as, b, bs, ref);
        expect(t.shape).toEqual(out);
        expectClose(await t.toArray(), res, 3e-6, 1e-6, `${name} ${as} ${bs}`);
      }
    });
    it(`${name} backward (broadcast) matches finite differences`, async () => {
      // a and b interleave but never come within the finite-difference step (maximum's kink)
      await checkGradients(op, [
        { data: [0.6, 1.45, 1.9, 1.05, 0.75, 1.6], shape: [2, 3] },
        { data: [0.9, 1.2, 1.75], shape: [3] },
      ]);
    });
  }

  it('names the op and both shapes on mismatch', () => {
    expect(() => E.tidy(() => E.add(E.zeros([2, 3]), E.zeros([4])))).toThrow(/add: shapes \[2,3\] and \[4\] cannot be broadcast/);
  });
});

describe('where', () => {
  it('selects with a broadcast mask and routes gradients', async () => {
    const cond = E.tensor([1, 0, 0, 1, 0, 1], [2, 3]);
    const a = rand(6, 1);
    const b = rand(3, 2);
    const y = await E.tidy(() => E.where(cond, E.tensor(a, [2, 3]), E.tensor(b, [3]))).toArray();
    expectClose(y, [a[0], b[1], b[2], a[3], b[1], a[5]].map(Math.fround), 0, 0);
    await checkGradients((x, z) => E.where(cond, x, z), [
      { data: a, shape: [2, 3] },
      { data: b, shape: [3] },
    ]);
  });
  it('accepts integer masks', async () => {
    const y = await E.tidy(() => E.maskedFill(E.tensor([1, 2, 3]), E.tensor([0, 1, 0], [3], 'i32'), -9)).toArray();
    expect(Array.from(y)).toEqual([1, -9, 3]);
  });
});
