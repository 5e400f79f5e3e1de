import { describe, expect, it } from 'vitest';
import { parseAnswer } from '../../experiments/tasks/answer.ts';
import { createTask } from '../../experiments/tasks/dataset.ts';
import { EXPLANATION_FORMATS, explainListOps, explainModSum, explainSource } from '../../experiments/tasks/explain.ts';
import { parse } from '../../experiments/tasks/listops.ts';
import { Rng } from '../../engine/random.ts';

// Post-order: SUM, MIN, MAX, then the root MED over [4, 2, 2, 8] (even length: floor(6 / 2) = 3).
const TREE = parse('[MED 4 [SM 3 9 ] [MIN 7 2 5 ] [MAX 1 8 ] ]');

describe('ListOps explanations', () => {
  it('none is the bare answer', () => {
    expect(explainListOps(TREE, 'none')).toBe('3');
    expect(explainListOps(parse('[MAX 15 27 1 ]'), 'none')).toBe('27');
  });

  it('short gives operator and result per step', () => {
    expect(explainListOps(TREE, 'short')).toBe(['SUM, 2', 'MIN, 2', 'MAX, 8', 'MED, 3', 'Final answer: 3'].join('\n'));
  });

  it('medium uses the authors\' wording, sorted values for MED only', () => {
    expect(explainListOps(TREE, 'medium')).toBe(
      [
        'SUM, add [3, 9], sum is 12, answer is 2',
        'Min, smallest number of [7, 2, 5] is 2',
        'Max, largest number of [1, 8] is 8',
        'MED, sorted list, [2, 2, 4, 8], MEDIAN is 3',
        'Final answer: 3',
      ].join('\n'),
    );
  });

  it('long walks each operator in a sentence', () => {
    expect(explainListOps(TREE, 'long')).toBe(
      [
        'SUM operator so we have to add the numbers [3, 9], the sum is 12, so the answer is 2',
        'MIN operator so we have to find the smallest of the numbers [7, 2, 5], the smallest is 2, so the answer is 2',
        'MAX operator so we have to find the largest of the numbers [1, 8], the largest is 8, so the answer is 8',
        'MED operator so we have to sort the numbers [4, 2, 2, 8] and, as there is an even number of them, average the two middle ones and round down, ' +
          'sorted they are [2, 2, 4, 8], (2 + 4) / 2 is 3, rounded down that is 3, so the answer is 3',
        'Final answer: 3',
      ].join('\n'),
    );
  });

  it('long reproduces the paper\'s SUM example and explains odd and even medians', () => {
    expect(explainListOps(parse('[SUM 15 27 1 ]'), 'long')).toBe(
      'SUM operator so we have to add the numbers [15, 27, 1], the sum is 43, so the answer is 3\nFinal answer: 3',
    );
    expect(explainListOps(parse('[MED 8 6 5 ]'), 'long')).toBe(
      'MED operator so we have to sort the numbers [8, 6, 5] and pick the middle one, sorted they are [5, 6, 8], the middle number is 6, so the answer is 6\nFinal answer: 6',
    );
    expect(explainListOps(parse('[MED 9 4 ]'), 'long')).toContain('(4 + 9) / 2 is 6.5, rounded down that is 6, so the answer is 6\nFinal answer: 6');
  });

  it('respects the SUM modulus', () => {
    expect(explainListOps(parse('[SUM 9 9 ]'), 'medium', 7)).toBe('SUM, add [9, 9], sum is 18, answer is 4\nFinal answer: 4');
  });
});

describe('modsum explanations', () => {
  const digits = [3, 5, 9, 1];

  it('renders every format with the running sum reduced modulo 10 at each step', () => {
    expect(explainModSum(digits, 'none')).toBe('8');
    expect(explainModSum(digits, 'short')).toBe('SUM, 8\nSUM, 7\nSUM, 8\nFinal answer: 8');
    expect(explainModSum(digits, 'medium')).toBe(
      'SUM, add [3, 5], sum is 8, answer is 8\nSUM, add [8, 9], sum is 17, answer is 7\nSUM, add [7, 1], sum is 8, answer is 8\nFinal answer: 8',
    );
    expect(explainModSum(digits, 'long')).toBe(
      [
        'SUM operator so we have to add the numbers [3, 5, 9, 1] one at a time, keeping only the last digit',
        '3 plus 5 is 8, and 8 modulo 10 is 8',
        '8 plus 9 is 17, and 17 modulo 10 is 7',
        '7 plus 1 is 8, and 8 modulo 10 is 8',
        'so the answer is 8',
        'Final answer: 8',
      ].join('\n'),
    );
  });

  it('needs at least two digits', () => {
    expect(() => explainModSum([4], 'short')).toThrow(/at least 2/);
  });
});

describe('explainSource', () => {
  it('recognises the task from the source', () => {
    expect(explainSource('SUM 3 5 9 1', 'short')).toBe(explainModSum([3, 5, 9, 1], 'short'));
    expect(explainSource('( ( ( [SUM 3 ) 5 ) ] )', 'short')).toBe('SUM, 8\nFinal answer: 8');
    expect(explainSource('[SM 3 5 ]', 'none')).toBe('8');
  });

  it('every format ends in an answer the scorer reads back', () => {
    const rng = new Rng(31);
    for (const name of ['listops', 'listops30', 'modsum'] as const) {
      const task = createTask(name);
      for (let i = 0; i < 100; i++) {
        const e = task.generate(rng);
        for (const format of EXPLANATION_FORMATS) {
          const target = explainSource(e.source, format);
          expect(parseAnswer(target)).toBe(e.answer);
          if (format !== 'none') expect(target.split('\n').at(-1)).toBe(`Final answer: ${e.answer}`);
        }
      }
    }
  });
});
