import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { dropout } from '../../engine/ops/dropout.ts';
import { setupEngine } from '../helpers.ts';

beforeAll(setupEngine);

describe('dropout', () => {
  it('drops about p of the elements, scales the rest, and is reproducible by seed', async () => {
    const n = 20011;
    const x = E.full([n], 2);
    const a = await E.tidy(() => dropout(x, 0.3, 1234)).toArray();
    const b = await E.tidy(() => dropout(x, 0.3, 1234)).toArray();
    const c = await E.tidy(() => dropout(x, 0.3, 99)).toArray();
    const kept = a.filter((v) => v !== 0);
    expect(Math.abs(1 - kept.length / n - 0.3)).toBeLessThan(0.015);
    for (const v of kept) expect(v).toBeCloseTo(2 / 0.7, 5);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  it('backward applies the same mask', async () => {
    const x = E.param(E.tensor(Array.from({ length: 101 }, (_, i) => i + 1)));
    const y = E.tidy(() => {
      const out = dropout(x, 0.5, 7);
      E.backward(E.sum(out));
      return out;
    });
    const fwd = await y.toArray();
    const grad = await x.grad!.toArray();
    fwd.forEach((v, i) => expect(grad[i]).toBe(v === 0 ? 0 : 2));
  });

  it('rejects a bad probability', () => {
    expect(() => dropout(E.zeros([2]), 1, 0)).toThrow(/dropout: p must be in \[0, 1\)/);
  });
});
