// What a run's rows say beyond their means: each cell's interval, each explained format against
// the plain one (`none`) trained on the same seeds, each cell against the baselines that need no
// trained model, and accuracy by depth and root operator. results.json keeps all of it, computed
// from unrounded values; table.md and the terminal show it.

import { groupBy, modelParams, summarize, withInit, type FieldValue, type KeyField, type ResultRow, type Summary } from './stats.ts';
import { pairedBootstrap, pairedT, type BootstrapTest, type PairedTest } from './inference.ts';

/** What a comparison holds fixed: everything but the explanation and the seed (so explained
 *  against none within each starting point, scratch or pretrained). */
export const SETTING: readonly KeyField[] = ['task', 'init', 'model', 'trainSize', 'test'];
export const PLAIN = 'none';

export interface CellStatistics {
  key: Record<string, FieldValue>;
  /** Test accuracy over seeds, 0..1. */
  accuracy: Summary;
  /** The same over the same seeds' test sets, for the baselines the rows carry. */
  majority?: Summary;
  shortcut?: Summary;
}

export interface Comparison {
  /** The setting both sides share, and the explained format compared. */
  key: Record<string, FieldValue>;
  explanation: string;
  /** `none`, or a baseline's name. */
  against: string;
  /** The training-set size of the `none` side, when the grid varies it: explained N against
   *  plain N, 4N, 16N... (the data-size question). */
  againstTrainSize?: number;
  /** The seeds present on both sides. */
  seeds: number[];
  /** Per-seed differences (explained minus the other side, 0..1), paired t across seeds. */
  seedLevel: PairedTest;
  /** Paired bootstrap over test examples within each seed (against `none` only, when every
   *  seed's two rows scored the same test set). */
  exampleLevel?: BootstrapTest;
}

/** An explained format's gain over `none` at a smaller model against its gain at a larger one
 *  (the model-size question: do explanations help the smallest model most?). */
export interface ModelComparison {
  /** The setting both models share: task, training-set size, test set. */
  key: Record<string, FieldValue>;
  explanation: string;
  smaller: string;
  larger: string;
  /** The seeds with all four rows (both formats at both models). */
  seeds: number[];
  /** Per seed: (explained - none) at the smaller model minus the same at the larger, 0..1;
   *  paired t across seeds. */
  seedLevel: PairedTest;
  /** The same difference of differences, bootstrapped over test examples within each seed (when
   *  all four rows of every seed scored the same test set). */
  exampleLevel?: BootstrapTest;
}

/** A pretrained starting point against training from scratch, at the same task, model, training
 *  size and test set (the pretraining question: does pretraining change what explanations do?). */
export interface InitComparison {
  key: Record<string, FieldValue>;
  explanation: string;
  /** The pretrained starting point (a grid arm's init). */
  init: string;
  /** Per seed: accuracy from `init` minus accuracy from scratch, paired t across seeds; and the
   *  paired bootstrap over test examples when both rows of every seed scored the same ones. */
  accuracy: PairedDifference;
  /** For an explained format: its gain over none from `init` minus its gain from scratch. */
  gain?: PairedDifference;
}

export interface BreakdownRow {
  key: Record<string, FieldValue>;
  /** 'depth' or 'root'. */
  by: string;
  value: string;
  correct: number;
  total: number;
}

export interface Statistics {
  cells: CellStatistics[];
  /** Explained formats against `none` at the same setting. */
  comparisons: Comparison[];
  /** Every cell against the shortcut baseline on its own test sets. */
  baselineComparisons: Comparison[];
  /** Gains over `none` compared between model sizes, smaller against larger. Absent in results
   *  written before it was computed. */
  modelComparisons?: ModelComparison[];
  /** Each pretrained starting point against scratch. Absent in results written before it was
   *  computed. */
  initComparisons?: InitComparison[];
  /** Right answers by depth and by root operator, pooled over seeds. */
  breakdown: BreakdownRow[];
  notes: string[];
}

const BOOTSTRAP = { resamples: 10000, seed: 1 };

export const STATISTICS_NOTES = [
  'Intervals are 95 %. A cell: mean over seeds ± sample standard deviation, and the Student t interval of the mean.',
  'Against none: the mean over seeds of each seed\'s accuracy difference (same seed, same test examples). Seed-level: paired t across seeds, n - 1 degrees of freedom; it counts the variation between training runs and is the conservative one. Example-level: paired bootstrap over test examples within each seed (10,000 resamples, percentile interval); it holds the trained models fixed, so it only measures the finite test set.',
  'Baselines need no trained model: majority, always the training split\'s most common answer; shortcut (ListOps), the root operator applied to its direct digits, nested expressions ignored (the majority answer where the root has none).',
  'Between model sizes: per seed, the explained format\'s gain over none at the smaller model minus its gain at the larger (every row of a seed scores the same test examples). Seed-level: paired t across seeds; example-level: paired bootstrap over test examples of that difference of differences, as above.',
  'Pretrained against scratch: per seed, the accuracy from the pretrained model minus the accuracy from scratch, and for an explained format its gain over none from the pretrained model minus its gain from scratch. Seed-level: paired t across seeds; example-level: paired bootstrap over test examples, as above.',
];

function outcomes(row: ResultRow): Uint8Array | null {
  if (row.outcomes === undefined) return null;
  return Uint8Array.from(row.outcomes, (c) => (c === '1' ? 1 : 0));
}

function compareRows(key: Record<string, FieldValue>, explanation: string, mine: readonly ResultRow[], theirs: readonly ResultRow[]): Comparison | null {
  const bySeed = new Map(theirs.map((r) => [r.seed, r]));
  const mineBySeed = new Map(mine.map((r) => [r.seed, r]));
  const d = pairedOver(
    mine.map((r) => r.seed),
    (seed) => (bySeed.has(seed) ? [[mineBySeed.get(seed)!, bySeed.get(seed)!]] : null),
  );
  return d && { key, explanation, against: PLAIN, ...d };
}

/** One seed's rows, explained (or pretrained) first: [plus, minus]. */
type Pair = [ResultRow, ResultRow];

/** A difference paired on seeds, and on test examples where it can be. */
interface PairedDifference {
  seeds: number[];
  seedLevel: PairedTest;
  exampleLevel?: BootstrapTest;
}

/**
 * Per seed, plus minus minus of one pair of rows, or the first pair's difference minus the
 * second's (a difference of differences), over the seeds `sides` gives rows for: paired t across
 * seeds, and the paired bootstrap over test examples when every row of a seed scored the same
 * test set.
 */
function pairedOver(seeds: readonly number[], sides: (seed: number) => Pair[] | null): PairedDifference | null {
  const found = seeds.flatMap((seed) => {
    const q = sides(seed);
    return q ? [{ seed, q }] : [];
  });
  if (found.length === 0) return null;
  const gap = ([plus, minus]: Pair) => plus.accuracy - minus.accuracy;
  const diff = (q: Pair[]) => (q.length === 1 ? gap(q[0]) : gap(q[0]) - gap(q[1]));
  const out: PairedDifference = { seeds: found.map((f) => f.seed), seedLevel: pairedT(found.map((f) => diff(f.q))) };
  const lists = found.map(({ q }) => q.flat().map(outcomes));
  const paired = found.every(({ q }, k) => q.flat().every((r) => r.testSet !== undefined && r.testSet === q[0][0].testSet) && lists[k].every((l) => l !== null && l.length === lists[k][0]!.length));
  if (paired) {
    // Two pairs: each pair's difference per example, values in -1..1.
    const perExample = (a: Uint8Array, b: Uint8Array) => Int8Array.from(a, (x, n) => x - b[n]);
    out.exampleLevel = pairedBootstrap(
      lists.map((l) => (l.length === 2 ? { a: l[0]!, b: l[1]! } : { a: perExample(l[0]!, l[1]!), b: perExample(l[2]!, l[3]!) })),
      BOOTSTRAP,
    );
  }
  return out;
}

/** Each pretrained starting point against scratch, per format, at the same task, model, training
 *  size and test set; for explained formats also the gain over none, from each. */
function initComparisons(rows: readonly ResultRow[]): InitComparison[] {
  const out: InitComparison[] = [];
  for (const setting of groupBy(rows, ['task', 'model', 'trainSize', 'test'])) {
    const at = new Map(setting.rows.map((r) => [JSON.stringify([r.explanation, r.init, r.seed]), r]));
    const row = (explanation: string, init: string, seed: number) => at.get(JSON.stringify([explanation, init, seed]));
    const inits = [...new Set(setting.rows.map((r) => String(r.init)))].filter((i) => i !== 'scratch');
    const formats = [...new Set(setting.rows.map((r) => r.explanation))];
    const seeds = [...new Set(setting.rows.map((r) => r.seed))].sort((a, b) => a - b);
    const both = (...pair: (ResultRow | undefined)[]) => (pair.every((r) => r !== undefined) ? (pair as [ResultRow, ResultRow]) : null);
    for (const init of inits) {
      for (const explanation of formats) {
        const accuracy = pairedOver(seeds, (seed) => {
          const p = both(row(explanation, init, seed), row(explanation, 'scratch', seed));
          return p && [p];
        });
        if (!accuracy) continue;
        const c: InitComparison = { key: setting.key, explanation, init, accuracy };
        if (explanation !== PLAIN) {
          const gain = pairedOver(seeds, (seed) => {
            const [from, scratch] = [both(row(explanation, init, seed), row(PLAIN, init, seed)), both(row(explanation, 'scratch', seed), row(PLAIN, 'scratch', seed))];
            return from && scratch && [from, scratch];
          });
          if (gain) c.gain = gain;
        }
        out.push(c);
      }
    }
  }
  return out;
}

/**
 * For each explained format and each pair of model sizes at the same setting, the gain over
 * `none` at the smaller model minus the gain at the larger, on the seeds that have all four rows.
 */
function modelComparisons(rows: readonly ResultRow[]): ModelComparison[] {
  const params = modelParams(rows);
  const out: ModelComparison[] = [];
  for (const setting of groupBy(rows, ['task', 'init', 'trainSize', 'test'])) {
    const at = new Map(setting.rows.map((r) => [JSON.stringify([r.explanation, r.model, r.seed]), r]));
    const row = (explanation: string, model: string, seed: number) => at.get(JSON.stringify([explanation, model, seed]));
    const models = [...new Set(setting.rows.map((r) => r.model))].sort((a, b) => (params.get(a) ?? 0) - (params.get(b) ?? 0));
    const formats = [...new Set(setting.rows.map((r) => r.explanation))].filter((e) => e !== PLAIN);
    const seeds = [...new Set(setting.rows.map((r) => r.seed))].sort((a, b) => a - b);
    for (const explanation of formats) {
      for (let i = 0; i < models.length; i++) {
        for (let j = i + 1; j < models.length; j++) {
          const gain = pairedOver(seeds, (seed) => {
            const [plus, minus] = [row(explanation, models[i], seed), row(PLAIN, models[i], seed)];
            const [plus2, minus2] = [row(explanation, models[j], seed), row(PLAIN, models[j], seed)];
            return plus && minus && plus2 && minus2 ? [[plus, minus], [plus2, minus2]] : null;
          });
          if (!gain) continue;
          const c: ModelComparison = { key: setting.key, explanation, smaller: models[i], larger: models[j], ...gain };
          out.push(c);
        }
      }
    }
  }
  return out;
}

function tally(rows: readonly ResultRow[], by: 'depth' | 'root'): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const r of rows) {
    for (const [value, [right, total]] of Object.entries(r.breakdown?.[by] ?? {})) {
      const t = out.get(value) ?? [0, 0];
      out.set(value, [t[0] + right, t[1] + total]);
    }
  }
  return out;
}

export function statistics(given: readonly ResultRow[]): Statistics {
  const rows = withInit(given);
  const cells = groupBy(rows, ['task', 'init', 'explanation', 'model', 'trainSize', 'test']).map((g): CellStatistics => {
    const c: CellStatistics = { key: g.key, accuracy: summarize(g.rows.map((r) => r.accuracy)) };
    if (g.rows.every((r) => r.baselines)) {
      c.majority = summarize(g.rows.map((r) => r.baselines!.majority));
      if (g.rows.every((r) => r.baselines!.shortcut !== undefined)) c.shortcut = summarize(g.rows.map((r) => r.baselines!.shortcut!));
    }
    return c;
  });
  const comparisons: Comparison[] = [];
  const baselineComparisons: Comparison[] = [];
  const breakdown: BreakdownRow[] = [];
  // Against none at every training-set size of the same task, model and test set: at the same
  // size the paper's main comparison, at others the data-size one.
  const plainBySize = new Map<string, ResultRow[]>();
  for (const r of rows) {
    if (r.explanation !== PLAIN) continue;
    const id = JSON.stringify([r.task, r.init, r.model, r.test]);
    const list = plainBySize.get(id) ?? [];
    list.push(r);
    plainBySize.set(id, list);
  }
  for (const setting of groupBy(rows, [...SETTING])) {
    const byFormat = groupBy(setting.rows, ['explanation']);
    const plainRows = plainBySize.get(JSON.stringify([setting.key.task, setting.key.init, setting.key.model, setting.key.test])) ?? [];
    const plainSizes = groupBy(plainRows, ['trainSize']);
    const varied = plainSizes.length > 1 || (plainSizes.length === 1 && plainSizes[0].key.trainSize !== setting.key.trainSize);
    for (const f of byFormat) {
      const explanation = String(f.key.explanation);
      if (explanation !== PLAIN) {
        for (const plain of plainSizes) {
          const c = compareRows(setting.key, explanation, f.rows, plain.rows);
          if (!c) continue;
          if (varied) c.againstTrainSize = Number(plain.key.trainSize);
          comparisons.push(c);
        }
      }
      const withShortcut = f.rows.filter((r) => r.baselines?.shortcut !== undefined);
      if (withShortcut.length > 0) {
        baselineComparisons.push({
          key: setting.key,
          explanation,
          against: 'shortcut',
          seeds: withShortcut.map((r) => r.seed),
          seedLevel: pairedT(withShortcut.map((r) => r.accuracy - r.baselines!.shortcut!)),
        });
      }
      for (const by of ['depth', 'root'] as const) {
        const counts = [...tally(f.rows, by)].sort(([a], [b]) => (by === 'depth' ? Number(a) - Number(b) : a.localeCompare(b)));
        for (const [value, [correct, total]] of counts) breakdown.push({ key: { ...setting.key, explanation }, by, value, correct, total });
      }
    }
  }
  return { cells, comparisons, baselineComparisons, modelComparisons: modelComparisons(rows), initComparisons: initComparisons(rows), breakdown, notes: STATISTICS_NOTES };
}
