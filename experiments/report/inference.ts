// Uncertainty for the reports: Student t intervals of a mean, paired t tests of a difference
// across seeds, and a paired bootstrap over test examples.
//
// Two intervals answer two questions. The seed-level one (paired differences across seeds, t with
// n - 1 degrees of freedom) asks whether training again with another seed would keep the
// difference; with three seeds it is wide, and it is the one a claim should rest on. The
// example-level bootstrap keeps each seed's trained models fixed and resamples the test examples,
// so it only says how much a finite test set moves the difference: narrower, and blind to the
// variation between training runs.

import { Rng } from '../../engine/index.ts';

/** ln Γ(x) for x > 0 (Lanczos, g = 7, nine terms: about 15 significant digits). */
function lnGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  const z = x - 1;
  let sum = c[0];
  for (let i = 1; i < 9; i++) sum += c[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** The continued fraction of the incomplete beta function, evaluated by the modified Lentz method. */
function betaFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let f = d;
  for (let m = 1; m <= 500; m++) {
    // even term, then odd term of the fraction
    for (const num of [(m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m)), (-(a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1))]) {
      d = 1 + num * d;
      if (Math.abs(d) < tiny) d = tiny;
      c = 1 + num / c;
      if (Math.abs(c) < tiny) c = tiny;
      d = 1 / d;
      f *= c * d;
    }
    if (Math.abs(c * d - 1) < 1e-15) break;
  }
  return f;
}

/** The regularized incomplete beta function I_x(a, b), 0 <= x <= 1. */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // The fraction converges fast on this side of the mean; the other side by symmetry.
  if (x < (a + 1) / (a + b + 2)) return (front * betaFraction(x, a, b)) / a;
  return 1 - (front * betaFraction(1 - x, b, a)) / b;
}

/** P(|T| >= |t|) for Student's t with `df` degrees of freedom: a two-sided p-value. */
export function tTwoSided(t: number, df: number): number {
  if (!Number.isFinite(t)) return Number.isNaN(t) ? NaN : 0;
  return incompleteBeta(df / (df + t * t), df / 2, 0.5);
}

/** The q-quantile of Student's t (0 < q < 1), found by bisection on the two-sided tail. */
export function tQuantile(q: number, df: number): number {
  if (!(q > 0 && q < 1) || !(df > 0)) throw new Error(`tQuantile: needs 0 < q < 1 and df > 0, got q=${q}, df=${df}`);
  if (q === 0.5) return 0;
  const tail = 2 * Math.min(q, 1 - q);
  let lo = 0;
  let hi = 1;
  while (tTwoSided(hi, df) > tail) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-13 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (tTwoSided(mid, df) > tail) lo = mid;
    else hi = mid;
  }
  const t = (lo + hi) / 2;
  return q > 0.5 ? t : -t;
}

export interface Interval {
  n: number;
  mean: number;
  /** Sample standard deviation; 0 for n = 1. */
  std: number;
  /** 95 % interval; NaN bounds for n = 1, where nothing is known of the spread. */
  low: number;
  high: number;
}

/** Mean, standard deviation and the 95 % Student t interval of the mean. */
export function meanInterval(values: readonly number[], level = 0.95): Interval {
  const n = values.length;
  if (n === 0) throw new Error('meanInterval: no values');
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  if (n === 1) return { n, mean, std, low: NaN, high: NaN };
  const half = tQuantile(1 - (1 - level) / 2, n - 1) * (std / Math.sqrt(n));
  return { n, mean, std, low: mean - half, high: mean + half };
}

export interface PairedTest extends Interval {
  /** Two-sided p-value of "the mean difference is 0"; NaN for n = 1. */
  p: number;
}

/** Paired t test on per-seed differences: the interval of their mean and its p-value. */
export function pairedT(differences: readonly number[], level = 0.95): PairedTest {
  const i = meanInterval(differences, level);
  if (i.n === 1) return { ...i, p: NaN };
  // No spread (beyond rounding): the difference is certain if it is not zero.
  if (i.std <= 1e-12) return { ...i, p: Math.abs(i.mean) <= 1e-12 ? 1 : 0 };
  return { ...i, p: tTwoSided(i.mean / (i.std / Math.sqrt(i.n)), i.n - 1) };
}

export interface BootstrapTest {
  /** The observed difference: the mean over seeds of each seed's accuracy difference. */
  mean: number;
  low: number;
  high: number;
  /** Two-sided: twice the share of resamples on the far side of zero, at most 1. */
  p: number;
  resamples: number;
}

/**
 * Paired bootstrap over test examples. `pairs` holds, per seed, the per-example scores of the
 * two sides on the same test examples in the same order: outcomes (1 right, 0 wrong) of two
 * models, or two models' gains over their plain counterparts (-1, 0, 1). Each resample draws every
 * seed's examples with replacement (the same draw for both models of that seed) and takes the
 * mean over seeds of the accuracy difference; the interval is the percentile one.
 */
export function pairedBootstrap(pairs: readonly { a: ArrayLike<number>; b: ArrayLike<number> }[], o: { resamples?: number; seed?: number; level?: number } = {}): BootstrapTest {
  const resamples = o.resamples ?? 10000;
  const level = o.level ?? 0.95;
  if (pairs.length === 0) throw new Error('pairedBootstrap: no seeds');
  const diffs = pairs.map(({ a, b }) => {
    if (a.length !== b.length || a.length === 0) throw new Error(`pairedBootstrap: outcome lists of ${a.length} and ${b.length} examples do not pair`);
    return Int8Array.from({ length: a.length }, (_, i) => a[i] - b[i]);
  });
  const mean = diffs.reduce((s, d) => s + d.reduce((x, y) => x + y, 0) / d.length, 0) / diffs.length;
  const rng = new Rng(o.seed ?? 1);
  const stats = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let total = 0;
    for (const d of diffs) {
      let sum = 0;
      for (let i = 0; i < d.length; i++) sum += d[(rng.nextUint32() % d.length) >>> 0];
      total += sum / d.length;
    }
    stats[r] = total / diffs.length;
  }
  stats.sort();
  const at = (q: number) => stats[Math.min(resamples - 1, Math.max(0, Math.round(q * (resamples - 1))))];
  const below = stats.filter((s) => s <= 0).length / resamples;
  const above = stats.filter((s) => s >= 0).length / resamples;
  return { mean, low: at((1 - level) / 2), high: at(1 - (1 - level) / 2), p: Math.min(1, 2 * Math.min(below, above)), resamples };
}
