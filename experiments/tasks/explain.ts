// Explanation targets. Every format but `none` is one line per step followed by
// `Final answer: X`; `medium` is the authors' released format and must match it byte for byte.

import { listOpsSteps, parse, type ListOpsNode, type ListOpsStep } from './listops.ts';
import { MODSUM_MODULUS, isModSumSource, modSumAnswer, modSumSteps, parseModSum } from './modsum.ts';

export const EXPLANATION_FORMATS = ['none', 'short', 'medium', 'long'] as const;
export type ExplanationFormat = (typeof EXPLANATION_FORMATS)[number];

export function isExplanationFormat(value: string): value is ExplanationFormat {
  return (EXPLANATION_FORMATS as readonly string[]).includes(value);
}

const list = (values: readonly number[]): string => `[${values.join(', ')}]`;
const sortedCopy = (values: readonly number[]): number[] => [...values].sort((a, b) => a - b);
const total = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

function withFinal(lines: string[], answer: number): string {
  lines.push(`Final answer: ${answer}`);
  return lines.join('\n');
}

function mediumListOpsLine(s: ListOpsStep): string {
  switch (s.op) {
    case 'MIN':
      return `Min, smallest number of ${list(s.values)} is ${s.result}`;
    case 'MAX':
      return `Max, largest number of ${list(s.values)} is ${s.result}`;
    case 'MED':
      return `MED, sorted list, ${list(sortedCopy(s.values))}, MEDIAN is ${s.result}`;
    case 'SUM':
      return `SUM, add ${list(s.values)}, sum is ${total(s.values)}, answer is ${s.result}`;
  }
}

function longMedianLine(s: ListOpsStep): string {
  const sorted = sortedCopy(s.values);
  const mid = sorted.length >> 1;
  const numbers = `MED operator so we have to sort the numbers ${list(s.values)}`;
  if (sorted.length % 2 === 1) {
    return `${numbers} and pick the middle one, sorted they are ${list(sorted)}, the middle number is ${s.result}, so the answer is ${s.result}`;
  }
  const a = sorted[mid - 1];
  const b = sorted[mid];
  return (
    `${numbers} and, as there is an even number of them, average the two middle ones and round down, ` +
    `sorted they are ${list(sorted)}, (${a} + ${b}) / 2 is ${(a + b) / 2}, rounded down that is ${s.result}, so the answer is ${s.result}`
  );
}

function longListOpsLine(s: ListOpsStep): string {
  switch (s.op) {
    case 'MIN':
      return `MIN operator so we have to find the smallest of the numbers ${list(s.values)}, the smallest is ${s.result}, so the answer is ${s.result}`;
    case 'MAX':
      return `MAX operator so we have to find the largest of the numbers ${list(s.values)}, the largest is ${s.result}, so the answer is ${s.result}`;
    case 'MED':
      return longMedianLine(s);
    case 'SUM':
      return `SUM operator so we have to add the numbers ${list(s.values)}, the sum is ${total(s.values)}, so the answer is ${s.result}`;
  }
}

export function explainListOps(tree: ListOpsNode, format: ExplanationFormat, sumModulus = 10): string {
  const steps = listOpsSteps(tree, sumModulus);
  const answer = steps[steps.length - 1].result;
  switch (format) {
    case 'none':
      return String(answer);
    case 'short':
      return withFinal(steps.map((s) => `${s.op}, ${s.result}`), answer);
    case 'medium':
      return withFinal(steps.map(mediumListOpsLine), answer);
    case 'long':
      return withFinal(steps.map(longListOpsLine), answer);
  }
}

/** Walks the running sum one digit at a time, reducing modulo 10 at every step (modSumSteps). */
export function explainModSum(digits: readonly number[], format: ExplanationFormat): string {
  if (digits.length < 2) throw new Error('modsum explanations need at least 2 digits');
  const answer = modSumAnswer(digits);
  const steps = modSumSteps(digits);
  const lines: string[] = [];
  switch (format) {
    case 'none':
      return String(answer);
    case 'short':
      for (const s of steps) lines.push(`SUM, ${s.result}`);
      break;
    case 'medium':
      for (const s of steps) lines.push(`SUM, add ${list([s.carried, s.digit])}, sum is ${s.sum}, answer is ${s.result}`);
      break;
    case 'long':
      lines.push(`SUM operator so we have to add the numbers ${list(digits)} one at a time, keeping only the last digit`);
      for (const s of steps) lines.push(`${s.carried} plus ${s.digit} is ${s.sum}, and ${s.sum} modulo ${MODSUM_MODULUS} is ${s.result}`);
      lines.push(`so the answer is ${answer}`);
      break;
  }
  return withFinal(lines, answer);
}

/** Renders a target from a source text of either task, recognised by its first token. */
export function explainSource(source: string, format: ExplanationFormat, sumModulus = 10, maxValue = Infinity): string {
  if (isModSumSource(source)) return explainModSum(parseModSum(source), format);
  return explainListOps(parse(source, maxValue), format, sumModulus);
}
