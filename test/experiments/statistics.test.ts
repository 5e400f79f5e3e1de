// A run's statistics (experiments/report/compare.ts) and the baselines the rows carry
// (experiments/cell.ts, the tasks' shortcuts): differences paired on seeds and test examples,
// intervals, and their tables in table.md and the terminal.
import { describe, expect, it } from 'vitest';
import { baselinesOf, majorityAnswer, testSetHash } from '../../experiments/cell.ts';
import { createTask, generateSplits } from '../../experiments/tasks/dataset.ts';
import { statistics } from '../../experiments/report/compare.ts';
import { pairedT } from '../../experiments/report/inference.ts';
import { buildReport, textReport, type ResultRow } from '../../experiments/report/index.ts';

function row(explanation: string, seed: number, outcomes: string, extra: Partial<ResultRow> = {}): ResultRow {
  const correct = [...outcomes].filter((c) => c === '1').length;
  return {
    task: 'listops',
    explanation,
    model: 'tiny',
    trainSize: 100,
    seed,
    test: 'test',
    accuracy: correct / outcomes.length,
    steps: 10,
    seconds: 1,
    params: 1000,
    correct,
    total: outcomes.length,
    outcomes,
    testSet: `set${seed}`,
    baselines: { majority: 0.1, shortcut: 0.3 },
    breakdown: { depth: { '2': [correct, outcomes.length] }, root: { MAX: [correct, outcomes.length] } },
    ...extra,
  };
}

const rand = (seed: number) => {
  let s = seed;
  return () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
};
const outcomeString = (n: number, p: number, r: () => number) => Array.from({ length: n }, () => (r() < p ? '1' : '0')).join('');

describe('statistics of a run', () => {
  const r = rand(5);
  const rows = [1, 2, 3].flatMap((seed) => [row('none', seed, outcomeString(200, 0.25, r)), row('medium', seed, outcomeString(200, 0.6, r)), row('short', seed, outcomeString(200, 0.27, r))]);
  const s = statistics(rows);

  it('compares each explained format with none on the same seeds, at the seed level and the example level', () => {
    expect(s.comparisons.map((c) => c.explanation)).toEqual(['short', 'medium']);
    const medium = s.comparisons.find((c) => c.explanation === 'medium')!;
    const diffs = [1, 2, 3].map((seed) => rows.find((x) => x.seed === seed && x.explanation === 'medium')!.accuracy - rows.find((x) => x.seed === seed && x.explanation === 'none')!.accuracy);
    expect(medium.seedLevel).toEqual(pairedT(diffs));
    expect(medium.seeds).toEqual([1, 2, 3]);
    expect(medium.exampleLevel!.mean).toBeCloseTo(medium.seedLevel.mean, 12);
    expect(medium.exampleLevel!.low).toBeGreaterThan(0.2);
    expect(medium.exampleLevel!.p).toBeLessThan(0.001);
    // The example-level interval, blind to training variation, is the narrower one here.
    expect(medium.exampleLevel!.high - medium.exampleLevel!.low).toBeLessThan(medium.seedLevel.high - medium.seedLevel.low);
  });

  it('pairs only seeds present on both sides, and bootstraps only the same test examples', () => {
    const partial = statistics([...rows.filter((x) => !(x.explanation === 'medium' && x.seed === 3)), row('long', 1, '1100', { testSet: 'other' }), row('long', 2, '1010')]);
    const medium = partial.comparisons.find((c) => c.explanation === 'medium')!;
    expect(medium.seeds).toEqual([1, 2]);
    expect(partial.comparisons.find((c) => c.explanation === 'long')!.exampleLevel).toBeUndefined();
  });

  it('compares explained N with plain data of every size (the data-size question), at the seed level', () => {
    const sized = [1, 2, 3].flatMap((seed) => [
      row('medium', seed, outcomeString(100, 0.5, r), { trainSize: 100 }),
      row('none', seed, outcomeString(100, 0.2, r), { trainSize: 100 }),
      row('none', seed, outcomeString(100, 0.45, r), { trainSize: 400, testSet: `big${seed}` }),
    ]);
    const c = statistics(sized).comparisons;
    expect(c.map((x) => [x.explanation, x.key.trainSize, x.againstTrainSize])).toEqual([
      ['medium', 100, 100],
      ['medium', 100, 400],
    ]);
    const at400 = c[1];
    const acc = (e: string, n: number, seed: number) => sized.find((x) => x.explanation === e && x.trainSize === n && x.seed === seed)!.accuracy;
    expect(at400.seedLevel).toEqual(pairedT([1, 2, 3].map((seed) => acc('medium', 100, seed) - acc('none', 400, seed))));
    // Other test examples (a larger training set leaves other sources for the test): no bootstrap.
    expect(at400.exampleLevel).toBeUndefined();
    expect(c[0].exampleLevel).toBeDefined();
    const md = buildReport({ grid: 'g', preset: 'p', adapter: 'a', rows: sized }, [], { rows: ['explanation', 'trainSize'], columns: 'test' })['table.md'];
    expect(md).toContain('| medium | 400 examples |');
  });

  it('compares the gain over none between model sizes, smaller minus larger, per seed', () => {
    // tiny gains about 40 points from long explanations, xs about 10; xs has more parameters
    const sizes = [1, 2, 3].flatMap((seed) => [
      row('none', seed, outcomeString(300, 0.2, r)),
      row('long', seed, outcomeString(300, 0.6, r)),
      row('none', seed, outcomeString(300, 0.4, r), { model: 'xs', params: 5000 }),
      row('long', seed, outcomeString(300, 0.5, r), { model: 'xs', params: 5000 }),
    ]);
    const all = statistics([...sizes, row('long', 4, '1100', { model: 'xs', params: 5000 })]).modelComparisons!;
    expect(all.map((c) => [c.explanation, c.smaller, c.larger, c.seeds])).toEqual([['long', 'tiny', 'xs', [1, 2, 3]]]);
    const acc = (e: string, m: string, seed: number) => sizes.find((x) => x.explanation === e && x.model === m && x.seed === seed)!.accuracy;
    const byHand = [1, 2, 3].map((seed) => acc('long', 'tiny', seed) - acc('none', 'tiny', seed) - (acc('long', 'xs', seed) - acc('none', 'xs', seed)));
    expect(all[0].seedLevel).toEqual(pairedT(byHand));
    expect(all[0].exampleLevel!.mean).toBeCloseTo(all[0].seedLevel.mean, 12);
    expect(all[0].exampleLevel!.low).toBeGreaterThan(0.1);
    // one model size, or no plain row: nothing to compare
    expect(statistics(rows).modelComparisons).toEqual([]);
    const md = buildReport({ grid: 'g', preset: 'p', adapter: 'a', rows: sizes }, [], { rows: ['model'], columns: 'explanation' })['table.md'];
    expect(md).toContain('Between model sizes: the gain over none at the smaller model minus the gain at the larger');
    expect(md).toMatch(/\| long \| tiny \(1k\) \| xs \(5k\) \| [+−]\d+\.\d \| \[/);
  });

  it('compares a pretrained start against scratch: the accuracy per format and the gain over none', () => {
    // from scratch medium gains about 30 points; from the pretrained model about 10
    const pre = { init: 'experiments/pretrained/m' };
    const runs = [1, 2, 3].flatMap((seed) => [
      row('none', seed, outcomeString(300, 0.3, r)),
      row('medium', seed, outcomeString(300, 0.6, r)),
      row('none', seed, outcomeString(300, 0.5, r), pre),
      row('medium', seed, outcomeString(300, 0.6, r), pre),
    ]);
    const all = statistics([...runs, row('medium', 4, '1100', pre)]).initComparisons!;
    expect(all.map((c) => [c.explanation, c.init, c.accuracy.seeds])).toEqual([
      ['none', pre.init, [1, 2, 3]],
      ['medium', pre.init, [1, 2, 3]],
    ]);
    const acc = (e: string, init: string | undefined, seed: number) => runs.find((x) => x.explanation === e && x.init === init && x.seed === seed)!.accuracy;
    const none = all[0];
    expect(none.gain).toBeUndefined();
    expect(none.accuracy.seedLevel).toEqual(pairedT([1, 2, 3].map((seed) => acc('none', pre.init, seed) - acc('none', undefined, seed))));
    expect(none.accuracy.exampleLevel!.mean).toBeCloseTo(none.accuracy.seedLevel.mean, 12);
    const medium = all[1];
    const byHand = [1, 2, 3].map((seed) => acc('medium', pre.init, seed) - acc('none', pre.init, seed) - (acc('medium', undefined, seed) - acc('none', undefined, seed)));
    expect(medium.gain!.seedLevel).toEqual(pairedT(byHand));
    expect(medium.gain!.exampleLevel!.mean).toBeCloseTo(medium.gain!.seedLevel.mean, 12);
    expect(medium.gain!.exampleLevel!.high).toBeLessThan(-0.1);
    // no pretrained rows: nothing to compare
    expect(statistics(rows).initComparisons).toEqual([]);
    const md = buildReport({ grid: 'g', preset: 'p', adapter: 'a', rows: runs }, [], { rows: ['init'], columns: 'explanation' })['table.md'];
    expect(md).toContain('Pretrained against scratch: the accuracy, and the gain over none, from the pretrained model minus from scratch');
    expect(md).toMatch(/\| medium \| experiments\/pretrained\/m \| [+−]\d+\.\d \| \[/);
  });

  it('gives each cell its interval and its baselines', () => {
    const none = s.cells.find((c) => c.key.explanation === 'none')!;
    expect(none.accuracy.n).toBe(3);
    expect(none.accuracy.low).toBeLessThan(none.accuracy.mean);
    expect(none.shortcut!.mean).toBeCloseTo(0.3, 12);
    expect(none.majority!.mean).toBeCloseTo(0.1, 12);
  });

  it('compares every cell with the shortcut on its own test sets', () => {
    const medium = s.baselineComparisons.find((c) => c.explanation === 'medium')!;
    expect(medium.against).toBe('shortcut');
    expect(medium.seedLevel.mean).toBeCloseTo(rows.filter((x) => x.explanation === 'medium').reduce((a, x) => a + x.accuracy - 0.3, 0) / 3, 12);
  });

  it('pools the breakdown by depth and root operator over seeds', () => {
    const b = s.breakdown.filter((x) => x.key.explanation === 'none' && x.by === 'root');
    expect(b).toHaveLength(1);
    expect(b[0].total).toBe(600);
    expect(b[0].correct).toBe(rows.filter((x) => x.explanation === 'none').reduce((a, x) => a + x.correct!, 0));
  });

  it('puts the comparisons, baselines and breakdown in table.md and the terminal', () => {
    const results = { grid: 'g', preset: 'p', adapter: 'a', rows };
    const md = buildReport(results, [], { rows: ['model'], columns: 'explanation', chance: 0.1 })['table.md'];
    expect(md).toContain('Against none');
    expect(md).toContain('example-level 95 % CI');
    expect(md).toContain('shortcut');
    expect(md).toContain('by depth and root operator');
    const text = textReport(results, { rows: ['model'], columns: 'explanation' });
    expect(text).toContain('seed-level 95 % CI');
    expect(text).toMatch(/medium\s+\+\d+\.\d/);
  });

  it('draws the baselines in the accuracy chart', () => {
    const svg = buildReport({ grid: 'g', preset: 'p', adapter: 'a', rows: [...rows, ...rows.map((x) => ({ ...x, model: 'xs' }))] }, [], { rows: ['model'], columns: 'explanation', chance: 0.1 })['accuracy-by-model.svg'];
    expect(svg).toContain('majority answer 10.0 %');
    expect(svg).toContain('shortcut 30.0 %');
  });
});

describe('baselines', () => {
  it('the majority answer is the most common, the smallest of a tie', () => {
    expect(majorityAnswer([3, 1, 3, 1, 2])).toBe(1);
    expect(majorityAnswer([4, 4, 2])).toBe(4);
  });

  it('the ListOps shortcut applies the root operator to its direct digits only', () => {
    const task = createTask('listops', { layout: 'plain', naming: 'lra' });
    expect(task.shortcut!('[MAX 2 9 [MIN 4 7 ] 0 ]')).toBe(9);
    expect(task.shortcut!('[SM 7 8 [MAX 1 2 ] ]')).toBe(5);
    expect(task.shortcut!('[MED [MIN 1 2 ] [MAX 3 4 ] ]')).toBeNull();
    expect(task.rootOperator!('[MED [MIN 1 2 ] 3 ]')).toBe('MED');
    expect(createTask('modsum').shortcut).toBeUndefined();
  });

  it('scores the shortcut on a test set, falling back to the majority answer', () => {
    const task = createTask('listops', { layout: 'plain', naming: 'lra' });
    const ex = (source: string, answer: number) => ({ source, answer, depth: 2, length: 0 });
    const b = baselinesOf([ex('[MAX 2 9 [MIN 4 7 ] 0 ]', 9), ex('[MAX 2 [MAX 9 9 ] ]', 9), ex('[MED [MIN 1 2 ] [MAX 3 4 ] ]', 2), ex('[MIN 5 6 ]', 1)], task, 2);
    expect(b.shortcut).toBe(0.5);
    expect(b.majority).toBe(0.25);
  });

  it('on the main job\'s distribution the shortcut scores about a third, far above guessing', () => {
    const options = { minDepth: 2, maxDepth: 3, maxArgs: 3, layout: 'plain', naming: 'lra', minLength: 0, maxLength: 60 } as const;
    const s = generateSplits({ task: 'listops', seed: 11, sizes: { train: 500, validation: 0, test: 1000 }, options });
    const b = baselinesOf(s.test, createTask('listops', options), majorityAnswer(s.train.map((e) => e.answer)));
    expect(b.shortcut!).toBeGreaterThan(0.3);
    expect(b.shortcut!).toBeLessThan(0.42);
    expect(b.majority).toBeLessThan(0.2);
  });

  it('a test set is known by its sources', () => {
    const ex = (source: string) => ({ source, answer: 0, depth: 1, length: 0 });
    expect(testSetHash([ex('[MIN 1 2 ]'), ex('[MAX 3 ]')])).toBe(testSetHash([ex('[MIN 1 2 ]'), ex('[MAX 3 ]')]));
    expect(testSetHash([ex('[MIN 1 2 ]'), ex('[MAX 3 ]')])).not.toBe(testSetHash([ex('[MAX 3 ]'), ex('[MIN 1 2 ]')]));
  });
});
