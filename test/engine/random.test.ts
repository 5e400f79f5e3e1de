import { describe, expect, it } from 'vitest';
import { Rng, deriveSeed } from '../../engine/random.ts';

const draw = (rng: Rng, n: number): number[] => Array.from({ length: n }, () => rng.nextUint32());

describe('Rng', () => {
  it('matches the published xoshiro128** outputs for state [1, 2, 3, 4]', () => {
    const rng = Rng.fromState([1, 2, 3, 4]);
    expect(draw(rng, 10)).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804]);
  });

  it('is deterministic per seed and differs between seeds', () => {
    expect(draw(new Rng(123), 20)).toEqual(draw(new Rng(123), 20));
    expect(draw(new Rng(123), 20)).not.toEqual(draw(new Rng(124), 20));
    expect(draw(new Rng(0), 20)).not.toEqual(draw(new Rng(2 ** 32), 20));
    expect(draw(new Rng(-1), 20)).not.toEqual(draw(new Rng(0xffffffff), 20));
  });

  it('nextFloat lies in [0, 1) with a mean near 1/2', () => {
    const rng = new Rng(1);
    const xs = Array.from({ length: 20000 }, () => rng.nextFloat());
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.reduce((a, b) => a + b, 0) / xs.length).toBeCloseTo(0.5, 1);
  });

  it('nextInt covers [lo, hi] inclusively and about uniformly', () => {
    const rng = new Rng(2);
    const counts = new Map<number, number>();
    for (let i = 0; i < 30000; i++) {
      const v = rng.nextInt(-2, 3);
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual([-2, -1, 0, 1, 2, 3]);
    for (const c of counts.values()) expect(Math.abs(c - 5000)).toBeLessThan(400);
    expect(rng.nextInt(7, 7)).toBe(7);
  });

  it('rejects bad arguments', () => {
    expect(() => new Rng(1.5)).toThrow(/seed/);
    expect(() => new Rng(1).nextInt(3, 2)).toThrow(/lo <= hi/);
    expect(() => new Rng(1).pick([])).toThrow(/empty/);
    expect(() => Rng.fromState([0, 0, 0, 0])).toThrow(/all zero/);
  });

  it('shuffle permutes in place, deterministically', () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const a = new Rng(9).shuffle([...items]);
    const b = new Rng(9).shuffle([...items]);
    expect(a).toEqual(b);
    expect(a).not.toEqual(items);
    expect([...a].sort((x, y) => x - y)).toEqual(items);
  });

  it('derived seeds give independent streams', () => {
    const seeds = [0, 1, 2, 3].map((s) => deriveSeed(42, s));
    expect(new Set(seeds).size).toBe(4);
    expect(deriveSeed(42, 1)).toBe(deriveSeed(42, 1));
    expect(deriveSeed(42, 1)).not.toBe(deriveSeed(43, 1));
  });
});
