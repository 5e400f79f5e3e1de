// The statistics behind every interval and p-value of the reports (experiments/report/inference.ts),
// against values from independent implementations (scipy.stats) and against exact small cases.
import { describe, expect, it } from 'vitest';
import { incompleteBeta, meanInterval, pairedBootstrap, pairedT, tQuantile, tTwoSided } from '../../experiments/report/inference.ts';

describe('Student t', () => {
  it('quantiles match tabulated values', () => {
    // scipy.stats.t.ppf
    expect(tQuantile(0.975, 1)).toBeCloseTo(12.70620474, 6);
    expect(tQuantile(0.975, 2)).toBeCloseTo(4.30265273, 7);
    expect(tQuantile(0.975, 4)).toBeCloseTo(2.77644511, 7);
    expect(tQuantile(0.975, 30)).toBeCloseTo(2.04227246, 7);
    expect(tQuantile(0.95, 10)).toBeCloseTo(1.81246112, 7);
    expect(tQuantile(0.999, 3)).toBeCloseTo(10.21453185, 5);
    expect(tQuantile(0.025, 2)).toBeCloseTo(-4.30265273, 7);
    expect(tQuantile(0.5, 7)).toBe(0);
  });

  it('two-sided tails match, for whole and fractional degrees of freedom', () => {
    expect(tTwoSided(2, 5)).toBeCloseTo(0.10193948, 7);
    expect(tTwoSided(-2, 5)).toBeCloseTo(0.10193948, 7);
    expect(tTwoSided(0.3, 1.5)).toBeCloseTo(0.80047220, 6);
    expect(tTwoSided(0, 3)).toBe(1);
    expect(tTwoSided(Infinity, 3)).toBe(0);
  });

  it('the incomplete beta function has its closed forms', () => {
    expect(incompleteBeta(0.5, 2, 3)).toBeCloseTo(0.6875, 12); // 11/16
    expect(incompleteBeta(0.3, 1, 1)).toBeCloseTo(0.3, 12);
    expect(incompleteBeta(0.2, 1, 4)).toBeCloseTo(1 - 0.8 ** 4, 12);
    expect(incompleteBeta(0, 2, 2)).toBe(0);
    expect(incompleteBeta(1, 2, 2)).toBe(1);
  });

  it('refuses quantiles outside (0, 1)', () => {
    expect(() => tQuantile(1, 3)).toThrow(/0 < q < 1/);
    expect(() => tQuantile(0.5, 0)).toThrow(/df > 0/);
  });
});

describe('intervals and paired tests', () => {
  it('the interval of a mean is mean ± t × s / √n', () => {
    const i = meanInterval([0.2, 0.3, 0.4]);
    expect(i.mean).toBeCloseTo(0.3, 12);
    expect(i.std).toBeCloseTo(0.1, 12);
    const half = 4.30265273 * (0.1 / Math.sqrt(3));
    expect(i.low).toBeCloseTo(0.3 - half, 7);
    expect(i.high).toBeCloseTo(0.3 + half, 7);
  });

  it('a single value has no interval', () => {
    const i = meanInterval([0.5]);
    expect(i).toMatchObject({ n: 1, mean: 0.5, std: 0 });
    expect(i.low).toBeNaN();
    expect(pairedT([0.1]).p).toBeNaN();
  });

  it('the paired t test on differences 1, 2, 3 gives t = 2√3 with 2 degrees of freedom', () => {
    const t = pairedT([1, 2, 3]);
    expect(t.mean).toBe(2);
    expect(t.p).toBeCloseTo(0.07417990, 7); // scipy.stats.ttest_1samp([1, 2, 3], 0)
    expect(t.low).toBeLessThan(0);
  });

  it('differences without spread are certain unless they are zero', () => {
    expect(pairedT([0.1, 0.1, 0.1]).p).toBe(0);
    expect(pairedT([0, 0, 0]).p).toBe(1);
  });
});

describe('paired bootstrap', () => {
  const outcomes = (n: number, right: (i: number) => boolean) => Uint8Array.from({ length: n }, (_, i) => (right(i) ? 1 : 0));

  it('a model right wherever the other is wrong differs by exactly 1', () => {
    const b = pairedBootstrap([{ a: outcomes(50, () => true), b: outcomes(50, () => false) }], { resamples: 500 });
    expect(b).toMatchObject({ mean: 1, low: 1, high: 1, p: 0 });
  });

  it('identical models differ by nothing', () => {
    const same = outcomes(40, (i) => i % 3 === 0);
    const b = pairedBootstrap([{ a: same, b: same }], { resamples: 500 });
    expect(b).toMatchObject({ mean: 0, low: 0, high: 0, p: 1 });
  });

  it('matches the normal approximation of a paired difference over many examples', () => {
    // Model a is right on 60 % of 2,000 examples, b on 50 %, b's right answers a subset of a's.
    const n = 2000;
    const a = outcomes(n, (i) => i % 10 < 6);
    const b = outcomes(n, (i) => i % 10 < 5);
    const r = pairedBootstrap([{ a, b }], { resamples: 4000, seed: 3 });
    expect(r.mean).toBeCloseTo(0.1, 12);
    // The differences are 0/1 with mean 0.1: standard error sqrt(0.1 * 0.9 / n).
    const se = Math.sqrt((0.1 * 0.9) / n);
    expect(r.low).toBeGreaterThan(0.1 - 1.96 * se - 0.004);
    expect(r.low).toBeLessThan(0.1 - 1.96 * se + 0.004);
    expect(r.high).toBeGreaterThan(0.1 + 1.96 * se - 0.004);
    expect(r.high).toBeLessThan(0.1 + 1.96 * se + 0.004);
    expect(r.p).toBeLessThan(0.001);
  });

  it('averages the seeds and resamples each one on its own examples', () => {
    const r = pairedBootstrap(
      [
        { a: outcomes(100, () => true), b: outcomes(100, () => false) },
        { a: outcomes(60, () => false), b: outcomes(60, () => false) },
      ],
      { resamples: 300 },
    );
    expect(r.mean).toBeCloseTo(0.5, 12);
    expect(r.low).toBeCloseTo(0.5, 12);
  });

  it('is the same from the same seed', () => {
    const a = outcomes(200, (i) => (i * 7) % 5 < 3);
    const b = outcomes(200, (i) => (i * 3) % 5 < 2);
    expect(pairedBootstrap([{ a, b }], { resamples: 800, seed: 9 })).toEqual(pairedBootstrap([{ a, b }], { resamples: 800, seed: 9 }));
  });

  it('refuses outcome lists that do not pair', () => {
    expect(() => pairedBootstrap([{ a: outcomes(3, () => true), b: outcomes(4, () => true) }])).toThrow(/do not pair/);
  });
});
