import { describe, expect, it } from 'vitest';
import {
  LISTOPS_PRESETS,
  depthOf,
  evaluate,
  generateTree,
  median,
  parse,
  resolveListOpsOptions,
  serialize,
  sourceLength,
  type ListOpsArg,
  type ListOpsNode,
} from '../../experiments/tasks/listops.ts';
import { Rng } from '../../engine/random.ts';

const evalText = (source: string, sumModulus = 10): number => evaluate(parse(source), sumModulus);

function values(node: ListOpsNode): number[] {
  return node.args.flatMap((a: ListOpsArg) => (typeof a === 'number' ? [a] : values(a)));
}
function argCounts(node: ListOpsNode): number[] {
  return [node.args.length, ...node.args.flatMap((a) => (typeof a === 'number' ? [] : argCounts(a)))];
}

describe('ListOps semantics', () => {
  it('median floors the mean of the two middle values for even lengths', () => {
    expect(median([4, 9])).toBe(6);
    expect(median([9, 4])).toBe(6);
    expect(median([0, 1, 2, 3, 5, 6])).toBe(2);
    expect(median([9, 5, 6, 1])).toBe(5);
    expect(median([8, 6, 5])).toBe(6);
    expect(median([7])).toBe(7);
  });

  it('evaluates MIN, MAX, MED and SUM modulo 10', () => {
    expect(evalText('[MIN 5 8 0 7 ]')).toBe(0);
    expect(evalText('[MAX 2 9 [MIN 4 7 ] 0 ]')).toBe(9);
    expect(evalText('[MED 4 9 ]')).toBe(6);
    expect(evalText('[SM 5 6 4 ]')).toBe(5);
    expect(evalText('[SUM 9 9 9 9 ]')).toBe(6);
    expect(evalText('[MED [SM 9 9 ] 1 4 ]')).toBe(4);
    expect(evalText('[SUM 9 9 9 9 ]', 7)).toBe(1);
  });

  it('handles listops30 values (0-29) with SUM still modulo 10', () => {
    expect(evalText('[SUM 15 27 1 ]')).toBe(3);
    expect(evalText('[MAX 15 27 1 ]')).toBe(27);
    expect(evalText('[MED 29 10 ]')).toBe(19);
    expect(evalText('[MIN 29 [MAX 12 28 ] ]')).toBe(28);
  });

  it('measures depth', () => {
    expect(depthOf(parse('[MAX 1 2 ]'))).toBe(1);
    expect(depthOf(parse('[MAX 1 [MIN 2 [SM 3 4 ] ] [MED 5 6 ] ]'))).toBe(3);
  });
});

describe('ListOps text format', () => {
  const tree = parse('[MAX 2 9 [MIN 4 7 ] 0 ]');

  it('writes the LRA parenthesized layout', () => {
    expect(serialize(tree)).toBe('( ( ( ( ( [MAX 2 ) 9 ) ( ( ( [MIN 4 ) 7 ) ] ) ) 0 ) ] )');
    expect(serialize(tree, { layout: 'plain' })).toBe('[MAX 2 9 [MIN 4 7 ] 0 ]');
  });

  it('spells operators per naming style', () => {
    const t = parse('[SUM 1 [MEDIAN 2 3 ] ]');
    expect(serialize(t, { naming: 'lra', layout: 'plain' })).toBe('[SM 1 [MED 2 3 ] ]');
    expect(serialize(t, { naming: 'authors', layout: 'plain' })).toBe('[SUM 1 [MEDIAN 2 3 ] ]');
    expect(serialize(t, { naming: 'lra' })).toBe('( ( ( [SM 1 ) ( ( ( [MED 2 ) 3 ) ] ) ) ] )');
  });

  it('parses both spellings and both layouts into the same tree', () => {
    const expected: ListOpsNode = { op: 'SUM', args: [1, { op: 'MED', args: [2, 3] }] };
    for (const text of [
      '[SM 1 [MED 2 3 ] ]',
      '[SUM 1 [MEDIAN 2 3 ] ]',
      '( ( ( [SM 1 ) ( ( ( [MED 2 ) 3 ) ] ) ) ] )',
      '  ( ( ( [SUM 1 )\n( ( ( [MEDIAN 2 ) 3 ) ] ) ) ] )  ',
    ]) {
      expect(parse(text)).toEqual(expected);
    }
  });

  it('counts source tokens in either layout', () => {
    for (const layout of ['parens', 'plain'] as const) {
      expect(sourceLength(tree, layout)).toBe(serialize(tree, { layout }).split(' ').length);
    }
    expect(sourceLength(tree, 'plain')).toBe(9);
  });

  it('names the token position in parse errors', () => {
    expect(() => parse('')).toThrow(/empty source/);
    expect(() => parse('[MAX 2 x ]')).toThrow(/token 3 \("x"\)/);
    expect(() => parse('[FOO 1 2 ]')).toThrow(/token 1 \("\[FOO"\).*unknown operator/);
    expect(() => parse('[MAX 2 [MIN ] ]')).toThrow(/token 4 \("\]"\).*opened at token 3 has no arguments/);
    expect(() => parse('[MAX 2 9')).toThrow(/end of input \(after token 3\).*opened at token 1 is never closed/);
    expect(() => parse('( [MAX 1 2 ] ) )')).toThrow(/token 7 \("\)"\).*unmatched/);
    expect(() => parse('[MAX 1 ] 3')).toThrow(/token 4 \("3"\).*after the end/);
    expect(() => parse('3')).toThrow(/token 1 \("3"\).*outside any operator/);
    expect(() => parse('] [MAX 1 ]')).toThrow(/token 1 .*without an open operator/);
    expect(() => parse('( ( [MAX 1 2 ] )')).toThrow(/"\(" never closed/);
  });
});

describe('ListOps generation', () => {
  it('respects depth, length, argument and value bounds', () => {
    const o = resolveListOpsOptions({ minDepth: 2, maxDepth: 4, minLength: 40, maxLength: 120, maxArgs: 5 });
    const rng = new Rng(11);
    const depths = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const t = generateTree(rng, o);
      const d = depthOf(t);
      depths.add(d);
      expect(d).toBeGreaterThanOrEqual(2);
      expect(d).toBeLessThanOrEqual(4);
      const len = serialize(t).split(' ').length;
      expect(len).toBeGreaterThanOrEqual(40);
      expect(len).toBeLessThanOrEqual(120);
      for (const c of argCounts(t)) expect(c >= 2 && c <= 5).toBe(true);
      for (const v of values(t)) expect(v >= 0 && v <= 9).toBe(true);
      expect(parse(serialize(t))).toEqual(t);
    }
    expect([...depths].sort()).toEqual([2, 3, 4]);
  });

  it('separates shallow/short from deep/long sets', () => {
    const rng = new Rng(3);
    const shallow = resolveListOpsOptions({ minDepth: 1, maxDepth: 2, minLength: 0, maxLength: 60 });
    const deep = resolveListOpsOptions({ minDepth: 6, maxDepth: 8, minLength: 200, maxLength: 400 });
    for (let i = 0; i < 200; i++) {
      const s = generateTree(rng, shallow);
      expect(depthOf(s)).toBeLessThanOrEqual(2);
      expect(sourceLength(s)).toBeLessThanOrEqual(60);
      const d = generateTree(rng, deep);
      expect(depthOf(d)).toBeGreaterThanOrEqual(6);
      expect(sourceLength(d)).toBeGreaterThanOrEqual(200);
    }
  });

  it('listops30 draws values up to 29, listops up to 9', () => {
    const rng = new Rng(5);
    const v30 = new Set<number>();
    const v10 = new Set<number>();
    const o30 = resolveListOpsOptions(LISTOPS_PRESETS.listops30.options);
    const o10 = resolveListOpsOptions(LISTOPS_PRESETS.listops.options);
    for (let i = 0; i < 300; i++) {
      for (const v of values(generateTree(rng, o30))) v30.add(v);
      for (const v of values(generateTree(rng, o10))) v10.add(v);
    }
    expect(Math.max(...v30)).toBe(29);
    expect(Math.min(...v30)).toBe(0);
    expect(v30.size).toBe(30);
    expect(Math.max(...v10)).toBe(9);
    expect(LISTOPS_PRESETS.listops30.description).toMatch(/unpublished/);
    expect(LISTOPS_PRESETS.listops30.description).toMatch(/our choice/);
  });

  it('reports infeasible settings and invalid options', () => {
    expect(() => generateTree(new Rng(1), resolveListOpsOptions({ minDepth: 1, maxDepth: 1, minLength: 100, maxLength: 200 }))).toThrow(/no tree/);
    expect(() => resolveListOpsOptions({ maxArgs: 1 })).toThrow(/maxArgs/);
    expect(() => resolveListOpsOptions({ minDepth: 3, maxDepth: 2 })).toThrow(/maxDepth/);
    expect(() => resolveListOpsOptions({ leafProbability: 2 })).toThrow(/leafProbability/);
  });
});
