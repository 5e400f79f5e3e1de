// The paper-style results table in GitHub markdown, and the raw rows as CSV.

import { KEY_FIELDS, distinctValues, isKeyField, modelParams, summarize, withInit, type FieldValue, type KeyField, type ResultRow, type Summary } from './stats.ts';

/** Which row fields make the table's lines and which one its columns (a grid config's `table`). */
export interface TableSpec {
  rows: readonly string[];
  columns: string;
}

export interface TableOptions {
  /** Shown in bold above the table. */
  title?: string;
  /** Shown below the table. */
  note?: string;
}

export const FIELD_LABELS: Record<KeyField, string> = {
  task: 'task',
  init: 'init',
  explanation: 'explanation',
  model: 'model',
  trainSize: 'training examples',
  test: 'test set',
  seed: 'seed',
};

/** 45k, 1.2M: the size a reader compares, not the exact count. */
export function formatParams(p: number): string {
  if (p < 1e3) return String(p);
  if (p < 1e6) return `${Math.round(p / 1e3)}k`;
  if (p < 1e9) return `${(p / 1e6).toFixed(1)}M`;
  return `${(p / 1e9).toFixed(1)}B`;
}

/** 96000 as 96,000; separators written by hand because toLocaleString depends on the runtime's locale. */
export function formatCount(n: number): string {
  if (!Number.isInteger(n)) return String(n);
  const digits = String(Math.abs(n));
  const grouped = digits.replace(/\B(?=(\d{3})+$)/g, ',');
  return n < 0 ? `-${grouped}` : grouped;
}

export const percent = (fraction: number): string => (fraction * 100).toFixed(1);

/** "87.8 ± 1.2 [84.8, 90.8] n=3": mean ± standard deviation, the 95 % interval of the mean, the
 *  number of seeds; a single seed has no spread to show. */
export function formatSummary(s: Summary): string {
  // An accuracy lies in [0, 1]: the symmetric t interval is shown cut there (results.json keeps it whole).
  return s.n > 1 ? `${percent(s.mean)} ± ${percent(s.std)} [${percent(Math.max(0, s.low))}, ${percent(Math.min(1, s.high))}] n=${s.n}` : `${percent(s.mean)} n=1`;
}

/** How a field's value is written in tables and on chart axes; models carry their size. */
export function valueLabel(field: string, value: FieldValue, params: ReadonlyMap<string, number> = new Map()): string {
  if (field === 'model') {
    const p = params.get(String(value));
    return p === undefined ? String(value) : `${value} (${formatParams(p)})`;
  }
  if (typeof value === 'number' && field === 'trainSize') return formatCount(value);
  return String(value);
}

export function checkTableSpec(spec: TableSpec): { rows: KeyField[]; columns: KeyField } {
  const valid = KEY_FIELDS.join(', ');
  for (const f of [...spec.rows, spec.columns]) {
    if (!isKeyField(f)) throw new Error(`table spec: unknown field "${f}"; valid fields: ${valid}`);
  }
  if (spec.rows.length === 0) throw new Error('table spec: "rows" names no field');
  if (spec.rows.includes(spec.columns)) throw new Error(`table spec: "${spec.columns}" is both a row and the column field`);
  return { rows: spec.rows as KeyField[], columns: spec.columns as KeyField };
}

const escapeCell = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const line = (cells: readonly string[]) => `| ${cells.map(escapeCell).join(' | ')} |`;

/** A table's text, cell by cell: the header, then one line per combination of the row fields. */
export interface TableCells {
  header: string[];
  /** How many leading columns name the line; the rest hold accuracies. */
  keyColumns: number;
  lines: string[][];
}

/**
 * One line per combination of the row fields that occurs, one column per value of the column
 * field; each cell is accuracy in percent, mean ± sample std over the rows that fall in it
 * (seeds, when the caller has split off everything else), "–" where none do.
 */
export function tableCells(given: readonly ResultRow[], spec: TableSpec): TableCells {
  const { rows: rowFields, columns } = checkTableSpec(spec);
  const rows = withInit(given);
  const params = modelParams(rows);
  const columnValues = distinctValues(rows, columns);
  const cells = new Map<string, number[]>();
  const lineKeys = new Map<string, FieldValue[]>();
  for (const r of rows) {
    const key = rowFields.map((f) => r[f]);
    const id = JSON.stringify(key);
    lineKeys.set(id, key);
    const cellId = JSON.stringify([id, r[columns]]);
    const values = cells.get(cellId) ?? [];
    values.push(r.accuracy);
    cells.set(cellId, values);
  }
  const orders = rowFields.map((f) => distinctValues(rows, f));
  const lines = [...lineKeys.entries()].sort(([, a], [, b]) => {
    for (let i = 0; i < a.length; i++) {
      const d = orders[i].indexOf(a[i]) - orders[i].indexOf(b[i]);
      if (d !== 0) return d;
    }
    return 0;
  });
  return {
    header: [...rowFields.map((f) => FIELD_LABELS[f]), ...columnValues.map((v) => valueLabel(columns, v, params))],
    keyColumns: rowFields.length,
    lines: lines.map(([id, key]) => [
      ...key.map((v, i) => valueLabel(rowFields[i], v, params)),
      ...columnValues.map((c) => {
        const accuracies = cells.get(JSON.stringify([id, c]));
        return accuracies ? formatSummary(summarize(accuracies)) : '–';
      }),
    ]),
  };
}

/** Any TableCells in GitHub markdown: names left-aligned, figures right-aligned. */
export function renderMarkdown(t: TableCells, options: TableOptions = {}): string {
  const out: string[] = [];
  if (options.title) out.push(`**${options.title}**`, '');
  out.push(line(t.header));
  out.push(`| ${t.header.map((_, i) => (i < t.keyColumns ? '---' : '---:')).join(' | ')} |`);
  for (const l of t.lines) out.push(line(l));
  if (options.note) out.push('', options.note);
  return out.join('\n') + '\n';
}

/** Any TableCells as plain text in aligned columns, for a terminal. */
export function renderText(t: TableCells, options: TableOptions = {}): string {
  const widths = t.header.map((_, i) => Math.max(...[t.header, ...t.lines].map((l) => l[i].length)));
  // Names to the left, figures to the right, as the markdown table aligns them.
  const format = (l: readonly string[]) => l.map((c, i) => (i < t.keyColumns ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const out: string[] = [];
  if (options.title) out.push(options.title, '');
  out.push(format(t.header), widths.map((w) => '-'.repeat(w)).join('  '), ...t.lines.map(format));
  if (options.note) out.push('', options.note);
  return out.join('\n') + '\n';
}

/** The paper-style table (see tableCells) in GitHub markdown. */
export function markdownTable(rows: readonly ResultRow[], spec: TableSpec, options: TableOptions = {}): string {
  return renderMarkdown(tableCells(rows, spec), options);
}

/** The paper-style table (see tableCells) as plain text in aligned columns, for a terminal. */
export function textTable(rows: readonly ResultRow[], spec: TableSpec, options: TableOptions = {}): string {
  return renderText(tableCells(rows, spec), options);
}

const CSV_COLUMNS = [...KEY_FIELDS, 'accuracy', 'steps', 'seconds', 'params'];

function csvField(v: unknown): string {
  const s = v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The rows as CSV, quoted as RFC 4180 says: the known fields first, then any others in order of appearance. */
export function csv(given: readonly ResultRow[]): string {
  const rows = withInit(given);
  const columns = [...CSV_COLUMNS];
  // Per-example outcomes are predictions.jsonl's business, not a spreadsheet's.
  for (const r of rows) for (const k of Object.keys(r)) if (!columns.includes(k) && k !== 'outcomes') columns.push(k);
  const lines = [columns.join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvField((r as unknown as Record<string, unknown>)[c])).join(','));
  return lines.join('\n') + '\n';
}
