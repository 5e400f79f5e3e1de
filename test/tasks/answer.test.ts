import { describe, expect, it } from 'vitest';
import { isCorrect, parseAnswer } from '../../experiments/tasks/answer.ts';

describe('parseAnswer', () => {
  it('reads multi-digit answers after Final answer:', () => {
    expect(parseAnswer('MED, sorted list, [4, 9], MEDIAN is 6\nFinal answer: 23')).toBe(23);
    expect(parseAnswer('Final answer:7')).toBe(7);
    expect(parseAnswer('Final answer: 3.')).toBe(3);
  });

  it('takes the last of several Final answer lines', () => {
    expect(parseAnswer('Final answer: 7\nSUM, 2\nFinal answer: 12')).toBe(12);
    expect(parseAnswer('Final answer: 4\nFinal answer:')).toBeNull();
  });

  it('reads a bare number for the none format', () => {
    expect(parseAnswer('17')).toBe(17);
    expect(parseAnswer(' 5 \n')).toBe(5);
  });

  it('returns null when nothing parses', () => {
    expect(parseAnswer('')).toBeNull();
    expect(parseAnswer('the answer is 5')).toBeNull();
    expect(parseAnswer('SUM, 5')).toBeNull();
    expect(parseAnswer('Final answer: x')).toBeNull();
    expect(parseAnswer('Final answer: 12abc')).toBeNull();
    expect(parseAnswer('5 6')).toBeNull();
  });

  it('compares whole numbers, not last characters', () => {
    expect(isCorrect('Final answer: 13', 3)).toBe(false);
    expect(isCorrect('Final answer: 3', 13)).toBe(false);
    expect(isCorrect('Final answer: 13', 13)).toBe(true);
    expect(isCorrect('23', 3)).toBe(false);
    expect(isCorrect('garbage', 0)).toBe(false);
  });
});
