// The statistics of a run (compare.ts) as tables: differences against `none` with both
// intervals, cells against the shortcut baseline, the baselines themselves, and accuracy by depth
// and root operator. Markdown and terminal text share the cells.

import { SETTING, STATISTICS_NOTES, type Comparison, type InitComparison, type ModelComparison, type Statistics } from './compare.ts';
import { FIELD_LABELS, percent, renderMarkdown, renderText, valueLabel, type TableCells } from './table.ts';
import { varyingFields, type FieldValue, type KeyField } from './stats.ts';


/** A difference in percentage points, signed: "+12.3". */
const points = (d: number) => `${d >= 0 ? '+' : '−'}${Math.abs(d * 100).toFixed(1)}`;
const range = (low: number, high: number) => (Number.isNaN(low) ? '–' : `[${points(low)}, ${points(high)}]`);

/** "0.012", "< 0.001", "–" (one seed). */
export function formatP(p: number): string {
  if (Number.isNaN(p)) return '–';
  if (p < 0.001) return '< 0.001';
  return p.toFixed(3);
}

/** The setting fields that vary across these keys, which the tables must name. */
function shownFields(keys: readonly Record<string, FieldValue>[]): KeyField[] {
  return varyingFields(keys as Record<KeyField, FieldValue>[], SETTING);
}

const keyCells = (key: Record<string, FieldValue>, fields: readonly KeyField[], params: ReadonlyMap<string, number>) => fields.map((f) => valueLabel(f, key[f], params));

function comparisonCells(list: readonly Comparison[], params: ReadonlyMap<string, number>, withBootstrap: boolean): TableCells {
  const fields = shownFields(list.map((c) => c.key));
  const sized = list.some((c) => c.againstTrainSize !== undefined);
  const header = [...fields.map((f) => FIELD_LABELS[f]), 'explanation', ...(sized ? ['against none with'] : []), 'difference (points)', 'seed-level 95 % CI', 'p (paired t)'];
  if (withBootstrap) header.push('example-level 95 % CI', 'p (bootstrap)');
  header.push('seeds');
  return {
    header,
    keyColumns: fields.length + 1 + (sized ? 1 : 0),
    lines: list.map((c) => {
      const against = sized ? [c.againstTrainSize === undefined ? '–' : `${valueLabel('trainSize', c.againstTrainSize)} examples`] : [];
      const cells = [...keyCells(c.key, fields, params), c.explanation, ...against, points(c.seedLevel.mean), range(c.seedLevel.low, c.seedLevel.high), formatP(c.seedLevel.p)];
      if (withBootstrap) cells.push(c.exampleLevel ? range(c.exampleLevel.low, c.exampleLevel.high) : '–', c.exampleLevel ? formatP(c.exampleLevel.p) : '–');
      cells.push(String(c.seeds.length));
      return cells;
    }),
  };
}

function modelComparisonCells(list: readonly ModelComparison[], params: ReadonlyMap<string, number>): TableCells {
  const fields = varyingFields(list.map((c) => c.key) as Record<KeyField, FieldValue>[], ['task', 'init', 'trainSize', 'test']);
  return {
    header: [...fields.map((f) => FIELD_LABELS[f]), 'explanation', 'smaller model', 'larger model', 'gain at smaller minus gain at larger (points)', 'seed-level 95 % CI', 'p (paired t)', 'example-level 95 % CI', 'p (bootstrap)', 'seeds'],
    keyColumns: fields.length + 3,
    lines: list.map((c) => [
      ...keyCells(c.key, fields, params),
      c.explanation,
      valueLabel('model', c.smaller, params),
      valueLabel('model', c.larger, params),
      points(c.seedLevel.mean),
      range(c.seedLevel.low, c.seedLevel.high),
      formatP(c.seedLevel.p),
      c.exampleLevel ? range(c.exampleLevel.low, c.exampleLevel.high) : '–',
      c.exampleLevel ? formatP(c.exampleLevel.p) : '–',
      String(c.seeds.length),
    ]),
  };
}

function initComparisonCells(list: readonly InitComparison[], params: ReadonlyMap<string, number>): TableCells {
  const fields = varyingFields(list.map((c) => c.key) as Record<KeyField, FieldValue>[], ['task', 'model', 'trainSize', 'test']);
  const example = (t?: { low: number; high: number }) => (t ? range(t.low, t.high) : '–');
  return {
    header: [...fields.map((f) => FIELD_LABELS[f]), 'explanation', 'pretrained', 'pretrained minus scratch (points)', 'seed-level 95 % CI', 'p (paired t)', 'example-level 95 % CI', 'gain over none, pretrained minus scratch (points)', 'seed-level 95 % CI', 'p (paired t)', 'example-level 95 % CI', 'seeds'],
    keyColumns: fields.length + 2,
    lines: list.map((c) => [
      ...keyCells(c.key, fields, params),
      c.explanation,
      c.init,
      points(c.accuracy.seedLevel.mean),
      range(c.accuracy.seedLevel.low, c.accuracy.seedLevel.high),
      formatP(c.accuracy.seedLevel.p),
      example(c.accuracy.exampleLevel),
      c.gain ? points(c.gain.seedLevel.mean) : '–',
      c.gain ? range(c.gain.seedLevel.low, c.gain.seedLevel.high) : '–',
      c.gain ? formatP(c.gain.seedLevel.p) : '–',
      example(c.gain?.exampleLevel),
      String(c.accuracy.seeds.length),
    ]),
  };
}

function baselineCells(s: Statistics, params: ReadonlyMap<string, number>): TableCells | null {
  const withBaselines = s.cells.filter((c) => c.majority);
  if (withBaselines.length === 0) return null;
  // The baselines depend on the test set, not on the explanation, the model or where it started:
  // one line per setting.
  const seen = new Map<string, (typeof withBaselines)[number]>();
  for (const c of withBaselines) {
    const id = JSON.stringify([c.key.task, c.key.trainSize, c.key.test]);
    if (!seen.has(id)) seen.set(id, c);
  }
  const cells = [...seen.values()];
  const fields = shownFields(cells.map((c) => c.key)).filter((f) => f !== 'model' && f !== 'init');
  const hasShortcut = cells.some((c) => c.shortcut);
  const fmt = (x: { mean: number; low: number; high: number; n: number } | undefined) => (x ? (x.n > 1 ? `${percent(x.mean)} [${percent(x.low)}, ${percent(x.high)}]` : percent(x.mean)) : '–');
  return {
    header: [...fields.map((f) => FIELD_LABELS[f]), 'baselines', 'majority answer', ...(hasShortcut ? ['shortcut'] : [])],
    keyColumns: fields.length + 1,
    lines: cells.map((c) => [...keyCells(c.key, fields, params), 'test accuracy (%)', fmt(c.majority), ...(hasShortcut ? [fmt(c.shortcut)] : [])]),
  };
}

function breakdownCells(s: Statistics, params: ReadonlyMap<string, number>): TableCells | null {
  if (s.breakdown.length === 0) return null;
  const columns = [...new Set(s.breakdown.map((b) => `${b.by}\u0000${b.value}`))];
  const lineIds = [...new Set(s.breakdown.map((b) => JSON.stringify(b.key)))];
  const keys = lineIds.map((id) => JSON.parse(id) as Record<string, FieldValue>);
  const fields = shownFields(keys);
  const at = new Map(s.breakdown.map((b) => [`${JSON.stringify(b.key)}\u0000${b.by}\u0000${b.value}`, b]));
  return {
    header: [...fields.map((f) => FIELD_LABELS[f]), 'explanation', ...columns.map((c) => (c.startsWith('depth') ? `depth ${c.split('\u0000')[1]}` : c.split('\u0000')[1]))],
    keyColumns: fields.length + 1,
    lines: keys.map((k, i) => [
      ...keyCells(k, fields, params),
      String(k.explanation),
      ...columns.map((c) => {
        const b = at.get(`${lineIds[i]}\u0000${c}`);
        return b ? `${percent(b.correct / b.total)} (${b.total})` : '–';
      }),
    ]),
  };
}

export interface StatisticsSection {
  title: string;
  /** The per-depth and per-operator table: long, so the terminal and the page leave it to table.md. */
  breakdown?: boolean;
  cells: TableCells;
  note?: string;
}

/** The tables that follow the main one, in reading order. */
export function statisticsSections(s: Statistics, params: ReadonlyMap<string, number>): StatisticsSection[] {
  const out: StatisticsSection[] = [];
  if (s.comparisons.length > 0) {
    out.push({
      title: 'Against none: explained minus plain accuracy, paired on seeds and test examples',
      cells: comparisonCells(s.comparisons, params, true),
      note: s.notes[1],
    });
  }
  if (s.modelComparisons && s.modelComparisons.length > 0) {
    out.push({
      title: 'Between model sizes: the gain over none at the smaller model minus the gain at the larger',
      cells: modelComparisonCells(s.modelComparisons, params),
      note: s.notes[3] ?? STATISTICS_NOTES[3],
    });
  }
  if (s.initComparisons && s.initComparisons.length > 0) {
    out.push({
      title: 'Pretrained against scratch: the accuracy, and the gain over none, from the pretrained model minus from scratch',
      cells: initComparisonCells(s.initComparisons, params),
      note: s.notes[4] ?? STATISTICS_NOTES[4],
    });
  }
  const baselines = baselineCells(s, params);
  if (baselines) out.push({ title: 'Baselines on the same test sets (mean over seeds, 95 % CI)', cells: baselines, note: s.notes[2] });
  if (s.baselineComparisons.length > 0) {
    out.push({ title: 'Against the shortcut: accuracy minus the shortcut on each seed\'s test set', cells: comparisonCells(s.baselineComparisons, params, false) });
  }
  const breakdown = breakdownCells(s, params);
  if (breakdown) out.push({ title: 'Test accuracy (%) by depth and root operator, pooled over seeds (examples in brackets)', cells: breakdown, breakdown: true });
  return out;
}

export function statisticsMarkdown(s: Statistics, params: ReadonlyMap<string, number>): string {
  return statisticsSections(s, params)
    .map((sec) => renderMarkdown(sec.cells, { title: sec.title, note: sec.note }))
    .join('\n');
}

export function statisticsText(s: Statistics, params: ReadonlyMap<string, number>): string {
  return statisticsSections(s, params)
    .filter((sec) => !sec.breakdown)
    .map((sec) => renderText(sec.cells, { title: sec.title }))
    .join('\n');
}
