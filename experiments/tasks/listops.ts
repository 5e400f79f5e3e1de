// ListOps (Nangia & Bowman 2018) with the semantics of the Long Range Arena generator, which the
// authors' released data follows: MED of an even-length list is the floor of the mean of the two
// middle values, SUM is taken modulo a fixed modulus.

import { quote } from './quote.ts';
import type { Rng } from '../../engine/index.ts';

export const LISTOPS_OPS = ['MIN', 'MAX', 'MED', 'SUM'] as const;
export type ListOp = (typeof LISTOPS_OPS)[number];

export interface ListOpsNode {
  op: ListOp;
  args: ListOpsArg[];
}
export type ListOpsArg = number | ListOpsNode;

/** `lra` spells the operators `[MED` and `[SM`; `authors` (their released data) `[MEDIAN` and `[SUM`. */
export type Naming = 'lra' | 'authors';
/**
 * `parens`: LRA's source text, each argument closed by `)` with one `(` per argument before the
 * operator; `plain`: the same tree without grouping tokens, `[MAX 2 9 [MIN 4 7 ] 0 ]`.
 */
export type Layout = 'parens' | 'plain';

const OP_TOKENS: Record<Naming, Record<ListOp, string>> = {
  lra: { MIN: '[MIN', MAX: '[MAX', MED: '[MED', SUM: '[SM' },
  authors: { MIN: '[MIN', MAX: '[MAX', MED: '[MEDIAN', SUM: '[SUM' },
};

const OP_OF_TOKEN: Record<string, ListOp> = {};
for (const naming of Object.values(OP_TOKENS)) {
  for (const op of LISTOPS_OPS) OP_OF_TOKEN[naming[op]] = op;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length % 2 === 1) return sorted[mid];
  return Math.floor((sorted[mid - 1] + sorted[mid]) / 2);
}

export function applyOp(op: ListOp, values: readonly number[], sumModulus: number): number {
  if (values.length === 0) throw new Error(`${op} of an empty list`);
  switch (op) {
    case 'MIN':
      return Math.min(...values);
    case 'MAX':
      return Math.max(...values);
    case 'MED':
      return median(values);
    case 'SUM':
      return values.reduce((a, b) => a + b, 0) % sumModulus;
  }
}

export function evaluate(node: ListOpsNode, sumModulus = 10): number {
  const values = node.args.map((a) => (typeof a === 'number' ? a : evaluate(a, sumModulus)));
  return applyOp(node.op, values, sumModulus);
}

export interface ListOpsStep {
  op: ListOp;
  /** The operator's arguments in source order, nested expressions replaced by their results. */
  values: number[];
  result: number;
}

/** One step per operator, post-order: children before parents, siblings left to right. */
export function listOpsSteps(node: ListOpsNode, sumModulus = 10): ListOpsStep[] {
  const steps: ListOpsStep[] = [];
  const visit = (n: ListOpsNode): number => {
    const values = n.args.map((a) => (typeof a === 'number' ? a : visit(a)));
    const result = applyOp(n.op, values, sumModulus);
    steps.push({ op: n.op, values, result });
    return result;
  };
  visit(node);
  return steps;
}

/** Operator nesting depth; an operator over plain values has depth 1. */
export function depthOf(node: ListOpsNode): number {
  let deepest = 0;
  for (const a of node.args) if (typeof a !== 'number') deepest = Math.max(deepest, depthOf(a));
  return deepest + 1;
}

// Tokens a node adds besides its arguments' own: `[OP` and `]`, plus with parens one `(` per
// argument and one more, one `)` after each argument and one after `]`.
function nodeOverhead(argCount: number, layout: Layout): number {
  return layout === 'parens' ? 2 * argCount + 4 : 2;
}

/** Number of whitespace-separated tokens of the serialized source. */
export function sourceLength(node: ListOpsNode, layout: Layout = 'parens'): number {
  let n = nodeOverhead(node.args.length, layout);
  for (const a of node.args) n += typeof a === 'number' ? 1 : sourceLength(a, layout);
  return n;
}

export interface SerializeOptions {
  naming?: Naming;
  layout?: Layout;
}

export function serialize(node: ListOpsNode, options: SerializeOptions = {}): string {
  const names = OP_TOKENS[options.naming ?? 'authors'];
  const parens = (options.layout ?? 'parens') === 'parens';
  const out: string[] = [];
  // LRA builds ((((OP a0) a1) a2) END) as nested pairs and prints each pair as `( x y )`.
  const emit = (n: ListOpsNode): void => {
    if (parens) for (let i = 0; i <= n.args.length; i++) out.push('(');
    out.push(names[n.op]);
    for (const a of n.args) {
      if (typeof a === 'number') out.push(String(a));
      else emit(a);
      if (parens) out.push(')');
    }
    out.push(']');
    if (parens) out.push(')');
  };
  emit(node);
  return out.join(' ');
}

/**
 * Reads either spelling of the operators, with or without the grouping parentheses. The
 * parentheses carry no structure, so they are only checked for balance. Operands above
 * `maxValue` (the task's largest value) are an error.
 */
export function parse(source: string, maxValue = Infinity): ListOpsNode {
  const tokens = source.trim().split(/\s+/).filter((t) => t !== '');
  function fail(index: number, message: string): never {
    const where = index < tokens.length ? `token ${index + 1} (${quote(tokens[index])})` : `end of input (after token ${tokens.length})`;
    throw new Error(`ListOps parse error at ${where}: ${message}`);
  }
  if (tokens.length === 0) fail(0, 'empty source');

  const open: { node: ListOpsNode; at: number }[] = [];
  let root: ListOpsNode | null = null;
  let parenDepth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    if (tok === '(') {
      parenDepth++;
    } else if (tok === ')') {
      if (--parenDepth < 0) fail(i, 'unmatched ")"');
    } else if (root !== null) {
      fail(i, 'unexpected token after the end of the expression');
    } else if (tok.startsWith('[')) {
      const op = OP_OF_TOKEN[tok];
      if (op === undefined) fail(i, `unknown operator, expected one of ${Object.keys(OP_OF_TOKEN).join(' ')}`);
      open.push({ node: { op, args: [] }, at: i });
    } else if (tok === ']') {
      const top = open.pop();
      if (top === undefined) fail(i, '"]" without an open operator');
      else if (top.node.args.length === 0) fail(i, `operator opened at token ${top.at + 1} has no arguments`);
      else if (open.length > 0) open[open.length - 1].node.args.push(top.node);
      else root = top.node;
    } else if (/^\d+$/.test(tok)) {
      if (open.length === 0) fail(i, 'number outside any operator');
      if (Number(tok) > maxValue) fail(i, `operand out of range: this task's values are 0-${maxValue}`);
      open[open.length - 1].node.args.push(Number(tok));
    } else {
      fail(i, 'unexpected token, expected "(", ")", "]", an operator or a non-negative integer');
    }
  }
  if (open.length > 0) fail(tokens.length, `operator opened at token ${open[open.length - 1].at + 1} is never closed`);
  if (root === null) return fail(tokens.length, 'no operator found');
  if (parenDepth !== 0) fail(tokens.length, `${parenDepth} "(" never closed`);
  return root;
}

export interface ListOpsOptions {
  /** Operator nesting depth of generated trees (root = 1); each tree draws its depth uniformly. */
  minDepth: number;
  maxDepth: number;
  /** Each operator takes 2..maxArgs arguments. */
  maxArgs: number;
  /** Values are drawn from 0..maxValue. */
  maxValue: number;
  sumModulus: number;
  /** Bounds on source tokens in the chosen layout. */
  minLength: number;
  maxLength: number;
  /** Chance that an argument is a value where nesting is still allowed (LRA: 0.75). */
  leafProbability: number;
  naming: Naming;
  layout: Layout;
}

// The authors' generator settings are unpublished. These give depths and lengths in the range of
// their released sample (depths 3 to 6, 64 to 127 source tokens); a depth-1 tree cannot reach
// 60 tokens, hence minDepth 2.
export const DEFAULT_LISTOPS_OPTIONS: ListOpsOptions = {
  minDepth: 2,
  maxDepth: 6,
  maxArgs: 10,
  maxValue: 9,
  sumModulus: 10,
  minLength: 60,
  maxLength: 130,
  leafProbability: 0.85,
  naming: 'authors',
  layout: 'parens',
};

export function resolveListOpsOptions(partial: Partial<ListOpsOptions> = {}): ListOpsOptions {
  const o = { ...DEFAULT_LISTOPS_OPTIONS, ...partial };
  const int = (name: keyof ListOpsOptions, min: number): void => {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new Error(`ListOps option ${name} must be an integer >= ${min}, got ${v}`);
  };
  int('minDepth', 1);
  int('maxDepth', o.minDepth);
  int('maxArgs', 2);
  int('maxValue', 0);
  int('sumModulus', 1);
  int('minLength', 0);
  if (o.maxLength !== Infinity) int('maxLength', Math.max(o.minLength, 1));
  if (!(o.leafProbability >= 0 && o.leafProbability <= 1)) throw new Error(`ListOps option leafProbability must lie in [0, 1], got ${o.leafProbability}`);
  if (!(o.naming in OP_TOKENS)) throw new Error(`ListOps option naming must be lra or authors, got ${o.naming}`);
  if (o.layout !== 'parens' && o.layout !== 'plain') throw new Error(`ListOps option layout must be parens or plain, got ${o.layout}`);
  return o;
}

const MAX_ATTEMPTS = 10000;

/**
 * Draws a target depth, grows a tree whose deepest branch reaches exactly that depth, and
 * rejects trees outside the length bounds. Growth stops as soon as the token budget is
 * exceeded, so rejected attempts stay cheap.
 */
export function generateTree(rng: Rng, options: ListOpsOptions): ListOpsNode {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const target = rng.nextInt(options.minDepth, options.maxDepth);
    const budget = { used: 0 };
    const tree = grow(rng, options, 1, target, true, budget);
    if (tree !== null && budget.used >= options.minLength) return tree;
  }
  throw new Error(
    `ListOps: no tree with depth ${options.minDepth}..${options.maxDepth} and length ${options.minLength}..${options.maxLength} ` +
      `in ${MAX_ATTEMPTS} attempts; widen the length bounds or change maxArgs/leafProbability`,
  );
}

function grow(rng: Rng, o: ListOpsOptions, level: number, target: number, onSpine: boolean, budget: { used: number }): ListOpsNode | null {
  const argCount = rng.nextInt(2, o.maxArgs);
  budget.used += nodeOverhead(argCount, o.layout);
  if (budget.used > o.maxLength) return null;
  const op = rng.pick(LISTOPS_OPS);
  const canNest = level < target;
  // One argument on the spine carries the tree down to the target depth.
  const spineArg = onSpine && canNest ? rng.nextInt(0, argCount - 1) : -1;
  const args: ListOpsArg[] = [];
  for (let i = 0; i < argCount; i++) {
    if (i === spineArg || (canNest && rng.nextFloat() >= o.leafProbability)) {
      const child = grow(rng, o, level + 1, target, i === spineArg, budget);
      if (child === null) return null;
      args.push(child);
    } else {
      if (++budget.used > o.maxLength) return null;
      args.push(rng.nextInt(0, o.maxValue));
    }
  }
  return { op, args };
}

export interface ListOpsPreset {
  description: string;
  options: Partial<ListOpsOptions>;
}

export const LISTOPS_PRESETS = {
  listops: {
    description: 'ListOps as in LRA and the authors\' data: values 0-9, 2-10 arguments per operator, SUM modulo 10 (10 answer classes).',
    options: { maxValue: 9, sumModulus: 10 },
  },
  listops30: {
    description:
      'ListOps with 30 answer classes: values 0-29, SUM modulo 10. The paper\'s exact rule is unpublished; ' +
      'values 0-29 with SUM still modulo 10 is our choice, following its only worked example (add [15, 27, 1], sum 43, answer 3).',
    options: { maxValue: 29, sumModulus: 10 },
  },
} satisfies Record<string, ListOpsPreset>;
