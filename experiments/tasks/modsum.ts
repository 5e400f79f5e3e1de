// Modular sum: the paper's task that models could not learn from bare answers. Its exact
// definition is unpublished; ours is a flat list of digits whose answer is their sum mod 10.
// Sources read `SUM 3 5 9 1`: the bare `SUM` (no `[`) keeps them apart from ListOps sources.

import { quote } from './quote.ts';
import type { Rng } from '../../engine/index.ts';

export const MODSUM_MODULUS = 10;
export const MODSUM_DESCRIPTION =
  'Modular sum: a flat list of digits 0-9, answer = their sum modulo 10. The paper does not publish its ' +
  'definition; this one and the source format `SUM d1 d2 ...` are our choice.';

const HEAD = 'SUM';

export interface ModSumOptions {
  /** Number of digits in the list, drawn uniformly from minLength..maxLength. */
  minLength: number;
  maxLength: number;
}

export const DEFAULT_MODSUM_OPTIONS: ModSumOptions = { minLength: 5, maxLength: 15 };

/** `length` fixes the list length; otherwise minLength/maxLength bound it. */
export function resolveModSumOptions(partial: Partial<ModSumOptions> & { length?: number } = {}): ModSumOptions {
  const { length, ...rest } = partial;
  const o = length === undefined ? { ...DEFAULT_MODSUM_OPTIONS, ...rest } : { minLength: length, maxLength: length };
  if (!Number.isInteger(o.minLength) || o.minLength < 2) throw new Error(`modsum needs lists of at least 2 digits, got minLength ${o.minLength}`);
  if (!Number.isInteger(o.maxLength) || o.maxLength < o.minLength) throw new Error(`modsum maxLength must be an integer >= minLength (${o.minLength}), got ${o.maxLength}`);
  return o;
}

export function generateModSum(rng: Rng, options: ModSumOptions): number[] {
  const n = rng.nextInt(options.minLength, options.maxLength);
  const digits: number[] = [];
  for (let i = 0; i < n; i++) digits.push(rng.nextInt(0, 9));
  return digits;
}

export function serializeModSum(digits: readonly number[]): string {
  return `${HEAD} ${digits.join(' ')}`;
}

export function isModSumSource(source: string): boolean {
  return source.trimStart().split(/\s/, 1)[0] === HEAD;
}

export function parseModSum(source: string): number[] {
  const tokens = source.trim().split(/\s+/).filter((t) => t !== '');
  const fail = (index: number, message: string): Error => {
    const where = index < tokens.length ? `token ${index + 1} (${quote(tokens[index])})` : `end of input (after token ${tokens.length})`;
    return new Error(`modsum parse error at ${where}: ${message}`);
  };
  if (tokens[0] !== HEAD) throw fail(0, `expected "${HEAD}"`);
  if (tokens.length < 3) throw fail(tokens.length, 'expected at least 2 digits');
  const digits: number[] = [];
  for (let i = 1; i < tokens.length; i++) {
    if (!/^\d$/.test(tokens[i])) throw fail(i, 'expected a digit 0-9');
    digits.push(Number(tokens[i]));
  }
  return digits;
}

export interface ModSumStep {
  /** The running value so far (already reduced modulo 10). */
  carried: number;
  digit: number;
  sum: number;
  /** sum modulo 10, carried into the next step. */
  result: number;
}

/**
 * The running sum as explanations walk it: each step adds the next digit to the value carried so
 * far and reduces modulo 10 at once, as the authors' ListOps SUM lines do ("sum is 17, answer is
 * 7") and as a person summing modulo 10 would, so every step is a one-digit addition.
 */
export function modSumSteps(digits: readonly number[]): ModSumStep[] {
  const steps: ModSumStep[] = [];
  let carried = digits[0] % MODSUM_MODULUS;
  for (const digit of digits.slice(1)) {
    const sum = carried + digit;
    const result = sum % MODSUM_MODULUS;
    steps.push({ carried, digit, sum, result });
    carried = result;
  }
  return steps;
}

export function modSumAnswer(digits: readonly number[]): number {
  return digits.reduce((a, b) => a + b, 0) % MODSUM_MODULUS;
}
