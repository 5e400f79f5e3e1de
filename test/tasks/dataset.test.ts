import { describe, expect, it } from 'vitest';
import { parseAnswer } from '../../experiments/tasks/answer.ts';
import { TASK_NAMES, createTask, generateSplits, type Example } from '../../experiments/tasks/dataset.ts';
import { evaluate, parse } from '../../experiments/tasks/listops.ts';
import { modSumAnswer, parseModSum } from '../../experiments/tasks/modsum.ts';
import { Rng } from '../../engine/random.ts';

const sources = (xs: Example[]): string[] => xs.map((e) => e.source);

describe('tasks', () => {
  it('creates a generator per task name with consistent examples', () => {
    const rng = new Rng(8);
    for (const name of TASK_NAMES) {
      const task = createTask(name);
      expect(task.name).toBe(name);
      expect(task.description.length).toBeGreaterThan(20);
      for (let i = 0; i < 50; i++) {
        const e = task.generate(rng, 'medium');
        const truth = name === 'modsum' ? modSumAnswer(parseModSum(e.source)) : evaluate(parse(e.source));
        expect(e.answer).toBe(truth);
        expect(parseAnswer(e.target!)).toBe(e.answer);
      }
    }
    expect(createTask('listops').generate(rng).target).toBeUndefined();
  });

  it('reports length and depth per example', () => {
    const e = createTask('modsum', { length: 6 }).generate(new Rng(1));
    expect(e).toMatchObject({ depth: 1, length: 6 });
    const l = createTask('listops', { layout: 'plain', naming: 'lra' }).generate(new Rng(1));
    expect(l.length).toBe(l.source.split(' ').length);
    expect(l.source).toMatch(/^\[/);
  });

  it('rejects unknown tasks and misspelt options', () => {
    expect(() => createTask('listops', { maxdepth: 3 } as never)).toThrow(/unknown option "maxdepth".*maxDepth/);
    expect(() => createTask('modsum', { maxDepth: 3 } as never)).toThrow(/unknown option "maxDepth" for task modsum/);
    expect(() => createTask('nope' as never)).toThrow(/unknown task "nope".*listops, listops30, modsum/);
  });
});

describe('generateSplits', () => {
  const sizes = { train: 300, validation: 50, test: 50 };

  it('is deterministic per seed', () => {
    const a = generateSplits({ task: 'listops', seed: 123, sizes, format: 'short' });
    const b = generateSplits({ task: 'listops', seed: 123, sizes, format: 'short' });
    const c = generateSplits({ task: 'listops', seed: 124, sizes, format: 'short' });
    expect(a).toEqual(b);
    expect(sources(a.train)).not.toEqual(sources(c.train));
    expect(a.train).toHaveLength(300);
    expect(a.validation).toHaveLength(50);
    expect(a.test).toHaveLength(50);
  });

  it('keeps a split stable when another split grows', () => {
    const small = generateSplits({ task: 'listops', seed: 5, sizes: { train: 10, validation: 20, test: 20 } });
    const big = generateSplits({ task: 'listops', seed: 5, sizes: { train: 10, validation: 20, test: 40 } });
    expect(sources(big.test).slice(0, 20)).toEqual(sources(small.test));
  });

  it('de-duplicates validation and test against train and each other', () => {
    // 1000 possible sources, so without de-duplication collisions are near certain.
    const s = generateSplits({ task: 'modsum', seed: 1, sizes: { train: 600, validation: 100, test: 100 }, options: { length: 3 } });
    const train = new Set(sources(s.train));
    expect(train.size).toBeLessThan(600);
    const val = sources(s.validation);
    const test = sources(s.test);
    expect(new Set(val).size).toBe(100);
    expect(new Set(test).size).toBe(100);
    for (const x of val) expect(train.has(x)).toBe(false);
    for (const x of test) expect(train.has(x) || val.includes(x)).toBe(false);
  });

  it('fails clearly when too few distinct sources exist', () => {
    expect(() => generateSplits({ task: 'modsum', seed: 1, sizes: { train: 1000, validation: 100, test: 10 }, options: { length: 2 } })).toThrow(
      /found only \d+ of 100 validation examples/,
    );
  });

  it('applies per-split overrides for generalization runs', () => {
    const s = generateSplits({
      task: 'listops',
      seed: 9,
      sizes: { train: 100, validation: 20, test: 20 },
      options: { minLength: 0 },
      overrides: { train: { minDepth: 1, maxDepth: 2, maxLength: 60 }, test: { minDepth: 5, maxDepth: 7, minLength: 150, maxLength: 400 } },
    });
    for (const e of s.train) expect(e.depth <= 2 && e.length <= 60).toBe(true);
    for (const e of s.test) expect(e.depth >= 5 && e.length >= 150).toBe(true);
    for (const e of s.validation) expect(e.depth >= 2 && e.depth <= 6).toBe(true);
  });

  it('generates 100k examples quickly', () => {
    const t0 = performance.now();
    const s = generateSplits({ task: 'listops30', seed: 123, sizes: { train: 96000, validation: 2000, test: 2000 }, format: 'long' });
    expect(s.train.length + s.validation.length + s.test.length).toBe(100000);
    expect(performance.now() - t0).toBeLessThan(20000);
  }, 30000);
});
