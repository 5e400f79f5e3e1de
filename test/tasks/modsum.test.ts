import { describe, expect, it } from 'vitest';
import { generateModSum, isModSumSource, modSumAnswer, parseModSum, resolveModSumOptions, modSumSteps, serializeModSum } from '../../experiments/tasks/modsum.ts';
import { Rng } from '../../engine/random.ts';

describe('modsum', () => {
  it('answers the sum modulo 10', () => {
    expect(modSumAnswer([3, 5, 9, 1])).toBe(8);
    expect(modSumAnswer([9, 9, 9, 9, 9])).toBe(5);
    expect(modSumAnswer([0, 0])).toBe(0);
    expect(modSumSteps([3, 5, 9, 1])).toEqual([
      { carried: 3, digit: 5, sum: 8, result: 8 },
      { carried: 8, digit: 9, sum: 17, result: 7 },
      { carried: 7, digit: 1, sum: 8, result: 8 },
    ]);
  });

  it('writes and reads its source format', () => {
    expect(serializeModSum([3, 5, 9, 1])).toBe('SUM 3 5 9 1');
    expect(parseModSum('SUM 3 5 9 1')).toEqual([3, 5, 9, 1]);
    expect(isModSumSource('SUM 3 5')).toBe(true);
    expect(isModSumSource('[SUM 3 5 ]')).toBe(false);
    expect(isModSumSource('( ( ( [SUM 3 ) 5 ) ] )')).toBe(false);
    expect(() => parseModSum('SUM 3 12 4')).toThrow(/token 3 \("12"\)/);
    expect(() => parseModSum('ADD 3 4')).toThrow(/token 1/);
    expect(() => parseModSum('SUM 3')).toThrow(/at least 2 digits/);
  });

  it('draws list lengths in the requested range', () => {
    const rng = new Rng(4);
    const fixed = resolveModSumOptions({ length: 7 });
    const ranged = resolveModSumOptions({ minLength: 3, maxLength: 5 });
    const lengths = new Set<number>();
    for (let i = 0; i < 300; i++) {
      expect(generateModSum(rng, fixed)).toHaveLength(7);
      const d = generateModSum(rng, ranged);
      lengths.add(d.length);
      for (const x of d) expect(x >= 0 && x <= 9).toBe(true);
    }
    expect([...lengths].sort()).toEqual([3, 4, 5]);
    expect(() => resolveModSumOptions({ length: 1 })).toThrow(/at least 2/);
    expect(() => resolveModSumOptions({ minLength: 6, maxLength: 5 })).toThrow(/maxLength/);
  });
});
