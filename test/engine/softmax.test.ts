import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../../reference/softmax.ts';
import { logSoftmax, softmax } from '../../engine/ops/softmax.ts';
import { checkGradients, expectClose, rand, setupEngine, withRowThreads } from '../helpers.ts';

beforeAll(setupEngine);

const OPS = [
  ['softmax', softmax, false],
  ['logSoftmax', logSoftmax, true],
] as const;

// null: the adapter's choice (one lane per row on lavapipe); the others force the cooperative
// form with barriers that real GPUs use, including one row per 256-lane workgroup.
const LANES = [null, 8, 256];
const SHAPES = [[1], [7], [1, 1], [3, 7], [37, 129], [2, 3, 1031], [1, 4099]];

describe.each(OPS)('%s', (name, op, log) => {
  for (const lanes of LANES) {
    it(`forward and backward match float64 at odd sizes (lanes per row: ${lanes ?? 'auto'})`, () => withRowThreads(lanes, async () => {
      for (const shape of SHAPES) {
        const n = shape.reduce((a, b) => a * b, 1);
        const len = shape[shape.length - 1];
        const xd = rand(n, 3, -4, 4);
        const gd = rand(n, 4);
        const x = E.param(E.tensor(xd, shape));
        const y = op(x);
        E.backward(y, E.tensor(gd, shape));
        expect(y.shape).toEqual(shape);
        expectClose(await y.toArray(), R.softmax(xd, len, log), 1e-5, 1e-6, `${name} ${shape}`);
        expectClose(await x.grad!.toArray(), R.softmaxBackward(xd, gd, len, log), 1e-4, 1e-6, `${name} backward ${shape}`);
        E.dispose([x, x.grad, y]);
      }
    }));
  }

  it('is stable for logits around +-1000 and with -inf entries', async () => {
    for (const lanes of LANES) {
      const shape = [5, 129];
      const xd = rand(5 * 129, 8, -30, 30).map((v, i) => Math.fround(v + (i < 3 * 129 ? 1000 : -1000)));
      const y = withRowThreads(lanes, () => E.tidy(() => op(E.tensor(xd, shape))));
      expectClose(await y.toArray(), R.softmax(xd, 129, log), 1e-5, 1e-6, `${name} large`);
      y.dispose();
    }
    const masked = [0.5, -Infinity, 2, -Infinity];
    const y = E.tidy(() => op(E.tensor(masked, [1, 4])));
    expectClose(await y.toArray(), R.softmax(masked, 4, log), 1e-6, 1e-7, `${name} -inf`);
  });

  it('backward matches finite differences', async () => {
    await checkGradients(op, [{ data: rand(3 * 7, 5, -2, 2), shape: [3, 7] }]);
    await checkGradients(op, [{ data: [0.3], shape: [1, 1] }]);
    await withRowThreads(8, () => checkGradients(op, [{ data: rand(2 * 37, 6, -2, 2), shape: [2, 37] }]));
  });

  it('rejects non-float and scalar inputs', () => {
    expect(() => E.tidy(() => op(E.tensor([1, 2], [2], 'i32')))).toThrow(new RegExp(`${name}: expects an f32 tensor, got i32 \\[2\\]`));
    expect(() => E.tidy(() => op(E.tensor([1], [])))).toThrow(new RegExp(`${name}: needs at least one axis`));
  });
});

describe('forced lanes per row', () => {
  it('accepts only powers of two up to 256', () => {
    expect(() => withRowThreads(3, () => 0)).toThrow(/threadsPerRow must be 'by-length' or a power of two from 1 to 256/);
    expect(() => withRowThreads(512, () => 0)).toThrow(/threadsPerRow must be 'by-length' or a power of two from 1 to 256/);
  });
});
