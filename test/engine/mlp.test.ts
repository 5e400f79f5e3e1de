// End to end with the engine alone: a two-layer MLP learns XOR by plain gradient descent.
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { setupEngine } from '../helpers.ts';

beforeAll(setupEngine);

describe('a two-layer MLP', () => {
  it('learns XOR', async () => {
    const x = E.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);
    const y = E.tensor([[0], [1], [1], [0]]);
    const w1 = E.param(E.randn([2, 8], { seed: 1 }));
    const b1 = E.param(E.zeros([8]));
    const w2 = E.param(E.randn([8, 1], { seed: 2, std: 0.5 }));
    const b2 = E.param(E.zeros([1]));
    const params = [w1, b1, w2, b2];
    const forward = () => E.add(E.matmul(E.tanh(E.add(E.matmul(x, w1), b1)), w2), b2);
    let first = 0;
    let last = 0;
    for (let step = 0; step < 800; step++) {
      const loss = E.tidy(() => {
        const l = E.mean(E.powScalar(E.sub(forward(), y), 2));
        E.backward(l);
        E.noGrad(() => {
          for (const p of params) p.assign(E.sub(p, E.mulScalar(p.grad!, 0.2)));
        });
        return l;
      });
      for (const p of params) {
        p.grad!.dispose();
        p.grad = null;
      }
      if (step === 0) first = await loss.item();
      if (step === 799) last = await loss.item();
      loss.dispose();
    }
    expect(first).toBeGreaterThan(0.1);
    expect(last).toBeLessThan(0.01);
    const pred = await E.noGrad(() => E.tidy(forward)).toArray();
    expect(Array.from(pred, (v) => Math.round(v))).toEqual([0, 1, 1, 0]);
  });
});
