// Grouping and summary statistics over experiment results, and the order in which a field's
// values are shown: every table and chart sorts through here, so they agree with one another.

import { meanInterval, type Interval } from './inference.ts';

/** One test-set evaluation of one trained cell (as experiments/train-cell.ts writes it). */
export interface ResultRow {
  task: string;
  /** Where the model started: "scratch", or the pretrained model (folder or hf:...) as the grid
   *  names it. Rows from before pretraining lack it and read as scratch (withInit). */
  init?: string;
  explanation: string;
  model: string;
  trainSize: number;
  seed: number;
  test: string;
  /** Fraction correct, 0..1. */
  accuracy: number;
  steps: number;
  seconds: number;
  params: number;
  /** Right answers and test examples behind `accuracy`. */
  correct?: number;
  total?: number;
  /** One character per test example in test-set order, "1" right, "0" wrong: what the paired
   *  bootstrap resamples. */
  outcomes?: string;
  /** A hash of the test set's sources: two rows are paired only when they scored the same examples. */
  testSet?: string;
  /** Accuracy, 0..1, of answers that need no trained model, on the same test set. */
  baselines?: Baselines;
  /** [right, total] per depth and per root operator of the test sources. */
  breakdown?: Breakdown;
}

export interface Baselines {
  /** Always the most common answer of the training split. */
  majority: number;
  /** The task's shortcut (ListOps: the root operator over its direct digits, nested expressions
   *  ignored; the majority answer where the root has none). */
  shortcut?: number;
}

export interface Breakdown {
  depth: Record<string, [number, number]>;
  root?: Record<string, [number, number]>;
}

/** One line of metrics.jsonl: a training step (loss) or an evaluation (valAccuracy). */
export interface MetricRecord {
  cell: string;
  /** As ResultRow's; lines from before pretraining lack it. */
  init?: string;
  explanation: string;
  model: string;
  trainSize: number;
  seed: number;
  step: number;
  loss?: number;
  /** Fraction correct, 0..1. */
  valAccuracy?: number;
  tokensPerSecond?: number;
}

/** The fields that say which experiment a row belongs to, as opposed to what it measured. */
export const KEY_FIELDS = ['task', 'init', 'explanation', 'model', 'trainSize', 'test', 'seed'] as const;
export type KeyField = (typeof KEY_FIELDS)[number];

export function isKeyField(name: string): name is KeyField {
  return (KEY_FIELDS as readonly string[]).includes(name);
}

export type FieldValue = string | number;

/** Rows (or metrics lines) with their starting point, "scratch" where they say none, as rows and
 *  lines from before pretraining do; every report reads rows through this. */
export function withInit<T extends { init?: string }>(rows: readonly T[]): (T & { init: string })[] {
  return rows.map((r) => (r.init === undefined ? { ...r, init: 'scratch' } : (r as T & { init: string })));
}

export interface Summary extends Interval {
  min: number;
  max: number;
}

/** n, mean, sample standard deviation (0 for a single value, whose spread is unknown, so show n
 *  with it), the 95 % Student t interval of the mean (NaN bounds for one value), min and max. */
export function summarize(values: readonly number[]): Summary {
  return { ...meanInterval(values), min: Math.min(...values), max: Math.max(...values) };
}

// Paper order rather than alphabetical: explanations by length, models by size.
const KNOWN_ORDER: Record<string, readonly string[]> = {
  init: ['scratch'],
  explanation: ['none', 'short', 'medium', 'long'],
  model: ['tiny', 'xs', 's', 'm', 't5-small'],
};

/**
 * Sorts the distinct values of one field: numbers numerically, explanations and models in the
 * paper's order (models it does not know by parameter count), other strings in order of first
 * appearance, which for a runner's output is the grid config's order (test sets "same depth",
 * "deeper", "longer" read better that way than alphabetically).
 */
export function orderValues(field: string, values: Iterable<FieldValue>, paramsOf: ReadonlyMap<string, number> = new Map()): FieldValue[] {
  const distinct = [...new Set(values)];
  const firstSeen = new Map(distinct.map((v, i) => [v, i]));
  const known = KNOWN_ORDER[field] ?? [];
  const rank = (v: FieldValue) => {
    const i = known.indexOf(String(v));
    return i < 0 ? known.length : i;
  };
  return distinct.sort((a, b) => {
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    if (typeof a === 'number' || typeof b === 'number') return typeof a === 'number' ? -1 : 1;
    const byRank = rank(a) - rank(b);
    if (byRank !== 0) return byRank;
    if (field === 'model') {
      const byParams = (paramsOf.get(a) ?? Infinity) - (paramsOf.get(b) ?? Infinity);
      if (byParams !== 0 && !Number.isNaN(byParams)) return byParams;
    }
    return firstSeen.get(a)! - firstSeen.get(b)!;
  });
}

/** Parameter count per model name; the largest where it varies (the vocabulary differs by task). */
export function modelParams(rows: readonly { model: string; params?: number }[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of rows) if (r.params !== undefined) out.set(r.model, Math.max(out.get(r.model) ?? 0, r.params));
  return out;
}

export function distinctValues<T extends object>(rows: readonly T[], field: keyof T & string): FieldValue[] {
  const params = modelParams(rows as readonly { model: string; params?: number }[]);
  return orderValues(field, rows.map((r) => r[field] as FieldValue), params);
}

/** Key fields whose value is not the same in every row. */
export function varyingFields<T extends object, F extends keyof T & string>(rows: readonly T[], fields: readonly F[]): F[] {
  return fields.filter((f) => new Set(rows.map((r) => r[f])).size > 1);
}

export interface Group<T> {
  key: Record<string, FieldValue>;
  rows: T[];
}

/** Rows grouped by the values of `fields`, groups in the order of orderValues, field by field. */
export function groupBy<T extends object>(rows: readonly T[], fields: readonly (keyof T & string)[]): Group<T>[] {
  const groups = new Map<string, Group<T>>();
  for (const row of rows) {
    const values = fields.map((f) => row[f] as FieldValue);
    const id = JSON.stringify(values);
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { key: Object.fromEntries(fields.map((f, i) => [f, values[i]])), rows: [] }));
    g.rows.push(row);
  }
  const orders = fields.map((f) => distinctValues(rows, f));
  const position = (g: Group<T>) => fields.map((f, i) => orders[i].indexOf(g.key[f]));
  return [...groups.values()].sort((a, b) => {
    const pa = position(a);
    const pb = position(b);
    for (let i = 0; i < pa.length; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
    return 0;
  });
}

export interface SummaryGroup<T> extends Group<T> {
  summary: Summary;
}

/** groupBy, then summarize a measure (accuracy by default) within each group, typically over seeds. */
export function summarizeBy(
  rows: readonly ResultRow[],
  fields: readonly KeyField[],
  value: (row: ResultRow) => number = (r) => r.accuracy,
): SummaryGroup<ResultRow>[] {
  return groupBy(rows, fields).map((g) => ({ ...g, summary: summarize(g.rows.map(value)) }));
}
