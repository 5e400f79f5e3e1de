// A run folder's report: table.md (the paper-style table and links to the charts), the charts as
// SVG, and the rows as CSV, as file name -> content. Which charts there are follows from what
// varies in the rows, so one function serves every grid.

import { KEY_FIELDS, groupBy, modelParams, orderValues, varyingFields, withInit, type FieldValue, type Group, type KeyField, type MetricRecord, type ResultRow } from './stats.ts';
import { FIELD_LABELS, checkTableSpec, csv, formatCount, markdownTable, percent, textTable, valueLabel, type TableSpec } from './table.ts';
import { barChart, lineChart, seriesStyles, xyChart, type Reference } from './svg.ts';
import { statistics, type Statistics } from './compare.ts';
import { statisticsMarkdown, statisticsText } from './statistics-tables.ts';

export { summarize, summarizeBy, groupBy, orderValues, withInit, type ResultRow, type MetricRecord, type Summary } from './stats.ts';
export { markdownTable, textTable, tableCells, csv, type TableSpec, type TableCells } from './table.ts';
export { barChart, lineChart, xyChart, seriesStyles, escapeXml } from './svg.ts';
export { statistics, type Statistics, type Comparison } from './compare.ts';

export interface Results {
  grid: string;
  preset: string;
  adapter: string;
  /** false while the grid is still running. */
  complete?: boolean;
  /** Wall-clock time the run has taken so far (see publish.ts). */
  wallSeconds?: number;
  rows: readonly ResultRow[];
  /** Computed from the rows when results.json is written (statistics()). */
  statistics?: Statistics;
}

/** Results whose rows all say where their models started (withInit). */
const normalized = (r: Results): Results => ({ ...r, rows: withInit(r.rows) });

/** The statistics results.json carries, or computed from its rows (results from before it carried them). */
const statisticsOf = (r: Results) => r.statistics ?? statistics(r.rows);

/** The grid config's table, with what the charts and the text around the table may use. */
export interface ReportSpec extends TableSpec {
  /** Accuracy of guessing, 0..1, drawn as a reference line. */
  chance?: number;
  description?: string;
}

const FACET_FIELDS: readonly KeyField[] = KEY_FIELDS.filter((f) => f !== 'seed');

function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** Free text for markdown: angle brackets would otherwise be taken for HTML and dropped (adapter names such as "<vulkan>"). */
const mdText = (s: string) => s.replace(/</g, '&lt;').replace(/>/g, '&gt;');

function duration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

const describe = (key: Record<string, FieldValue>, params: ReadonlyMap<string, number>) =>
  Object.entries(key).map(([f, v]) => (f === 'trainSize' ? `${formatCount(Number(v))} training examples` : `${FIELD_LABELS[f as KeyField]} ${valueLabel(f, v, params)}`));

/** Groups of rows that differ in `facets`, or all rows as one group when there are none. */
function facetsOf<T extends object>(rows: readonly T[], facets: readonly (keyof T & string)[]): Group<T>[] {
  return facets.length === 0 ? [{ key: {}, rows: [...rows] }] : groupBy(rows, facets);
}

interface Chart {
  file: string;
  alt: string;
  svg: string;
}

/**
 * The reference lines of an accuracy chart: guessing, and the baselines the rows carry, as their
 * mean over the chart's rows. A chart whose x axis is the test set would mix test sets of
 * different difficulty in one line, so it draws guessing only.
 */
function referencesOf(rows: readonly ResultRow[], chance: Reference | undefined, x: KeyField): Reference[] {
  const refs: Reference[] = chance ? [chance] : [];
  if (x === 'test' || rows.length === 0 || !rows.every((r) => r.baselines)) return refs;
  const mean = (f: (r: ResultRow) => number) => rows.reduce((a, r) => a + f(r), 0) / rows.length;
  const majority = mean((r) => r.baselines!.majority);
  refs.push({ value: majority, label: `majority answer ${percent(majority)} %` });
  if (rows.every((r) => r.baselines!.shortcut !== undefined)) {
    const shortcut = mean((r) => r.baselines!.shortcut!);
    refs.push({ value: shortcut, label: `shortcut ${percent(shortcut)} %` });
  }
  return refs;
}

/** What varies across the rows and what does not, which the tables, the charts and their titles follow. */
function shapeOf(rows: readonly ResultRow[], spec: ReportSpec) {
  const table = checkTableSpec(spec);
  const params = modelParams(rows);
  const varying = varyingFields(rows, FACET_FIELDS);
  // A lone test set named "test" is the ordinary held-out split, and models that all started
  // from scratch the ordinary case, neither worth a mention.
  const ordinary = (f: KeyField) => (f === 'test' && rows[0].test === 'test') || (f === 'init' && rows[0].init === 'scratch');
  const constants = FACET_FIELDS.filter((f) => rows.length > 0 && !varying.includes(f) && !ordinary(f));
  const first = (f: KeyField): [KeyField, FieldValue] => [f, rows[0][f] as FieldValue];
  const context = describe(Object.fromEntries(constants.map(first)), params);
  const tableContext = describe(Object.fromEntries(constants.filter((f) => !table.rows.includes(f) && f !== table.columns).map(first)), params);
  const chancePercent = spec.chance === undefined ? undefined : `${Number((spec.chance * 100).toFixed(1))} %`;
  return { table, params, varying, context, tableContext, chancePercent };
}

/** The words and tables of table.md, for markdown (buildReport) or a terminal (textReport) to lay out. */
function overview(results: Results, spec: ReportSpec) {
  const rows = results.rows;
  const { table, params, varying, tableContext, chancePercent } = shapeOf(rows, spec);
  const text = {
    heading: `${results.grid}: preset ${results.preset}`,
    description: spec.description,
    adapter: results.adapter,
    running: results.complete === false,
    count: 'No cell has finished yet.',
    tables: [] as { title: string; rows: ResultRow[] }[],
    note: undefined as string | undefined,
  };
  if (rows.length === 0) return text;
  const runs = groupBy(rows, ['task', 'init', 'explanation', 'model', 'trainSize', 'seed']);
  const seconds = runs.reduce((a, g) => a + g.rows[0].seconds, 0);
  const wall = results.wallSeconds === undefined ? '' : `, ${duration(results.wallSeconds)} wall-clock`;
  const perCell = groupBy(rows, FACET_FIELDS).map((g) => g.rows.length);
  const [fewest, most] = [Math.min(...perCell), Math.max(...perCell)];
  const seeds = fewest === most ? `${most}` : `${fewest} to ${most}`;
  text.count = `${runs.length} trained models, ${duration(seconds)} of training${wall}; ${seeds} seed${most > 1 ? 's' : ''} per table cell.`;
  const sectionFields = varying.filter((f) => !table.rows.includes(f) && f !== table.columns);
  text.tables = facetsOf(rows, sectionFields).map((g) => ({ title: ['Test accuracy (%)', ...tableContext, ...describe(g.key, params)].join(' · '), rows: g.rows }));
  text.note = `Accuracy in %: mean ± sample standard deviation over seeds [95 % Student t interval of the mean], and the number of seeds n.${chancePercent ? ` Guessing scores ${chancePercent}.` : ''}`;
  return text;
}

/** table.md's words and tables as plain text for a terminal, without the charts. */
export function textReport(given: Results, spec: ReportSpec): string {
  const results = normalized(given);
  const text = overview(results, spec);
  const out = [text.heading, ''];
  if (text.description) out.push(text.description, '');
  out.push(`Adapter: ${text.adapter}.`, '');
  if (text.running) out.push('Still running: this covers the cells finished so far.', '');
  out.push(text.count, '');
  for (const t of text.tables) out.push(textTable(t.rows, spec, { title: t.title }));
  if (text.note) out.push(text.note);
  if (results.rows.length > 0) out.push('', statisticsText(statisticsOf(results), modelParams(results.rows)));
  return out.join('\n');
}

export function buildReport(given: Results, givenMetrics: readonly MetricRecord[], spec: ReportSpec): Record<string, string> {
  const results = normalized(given);
  const metrics = withInit(givenMetrics);
  const rows = results.rows;
  const { params, varying, context, chancePercent } = shapeOf(rows, spec);
  const styles = seriesStyles(orderValues('explanation', [...rows, ...metrics].map((r) => r.explanation)));
  const chance: Reference | undefined = spec.chance === undefined ? undefined : { value: spec.chance, label: `chance ${chancePercent}` };
  const subtitleFor = (key: Record<string, FieldValue>) => [...context, ...describe(key, params), `${results.grid} grid, preset ${results.preset}`].join(' · ');

  const charts: Chart[] = [];
  const add = (base: string, key: Record<string, FieldValue>, alt: string, svg: string) => {
    const parts = Object.entries(key).map(([f, v]) => `${f}-${v}`);
    let file = slug([base, ...parts].join('-'));
    for (let i = 2; charts.some((c) => c.file === `${file}.svg`); i++) file = slug(`${base}-${parts.join('-')}-${i}`);
    charts.push({ file: `${file}.svg`, alt: [alt, ...describe(key, params)].join(', '), svg });
  };
  const accuracyCharts = (x: KeyField, base: string, title: string, draw: (rows: ResultRow[], title: string, subtitle: string, refs: Reference[]) => string) => {
    for (const g of facetsOf(rows, varying.filter((f) => f !== x && f !== 'explanation'))) add(base, g.key, title, draw(g.rows, title, subtitleFor(g.key), referencesOf(g.rows, chance, x)));
  };
  if (varying.includes('model')) {
    accuracyCharts('model', 'accuracy-by-model', 'Test accuracy by model size and explanation', (r, title, subtitle, refs) => barChart(r, { title, subtitle, x: 'model', series: 'explanation', reference: refs, styles }));
  }
  if (varying.includes('trainSize')) {
    accuracyCharts('trainSize', 'accuracy-by-train-size', 'Test accuracy against the number of training examples', (r, title, subtitle, refs) => xyChart(r, { title, subtitle, x: 'trainSize', series: 'explanation', reference: refs, styles }));
  }
  if (varying.includes('test')) {
    accuracyCharts('test', 'accuracy-by-test-set', 'Accuracy by test set and explanation', (r, title, subtitle, refs) => barChart(r, { title, subtitle, x: 'test', series: 'explanation', reference: refs, styles }));
  }
  if (charts.length === 0 && rows.length > 0) {
    accuracyCharts('explanation', 'accuracy', 'Test accuracy by explanation', (r, title, subtitle, refs) => barChart(r, { title, subtitle, x: 'explanation', series: 'explanation', reference: refs, styles }));
  }
  const curveFacets = varyingFields(metrics, ['init', 'model', 'trainSize']);
  for (const g of facetsOf(metrics, curveFacets)) {
    const subtitle = subtitleFor(g.key);
    if (g.rows.some((r) => r.valAccuracy !== undefined)) {
      const title = 'Validation accuracy during training';
      add('curves-accuracy', g.key, title, lineChart(g.rows, { title, subtitle, metric: 'valAccuracy', series: 'explanation', reference: referencesOf(rows.filter((r) => Object.entries(g.key).every(([f, v]) => r[f as KeyField] === v)), chance, 'model'), styles }));
    }
    if (g.rows.some((r) => r.loss !== undefined)) {
      const title = 'Training loss';
      add('curves-loss', g.key, title, lineChart(g.rows, { title, subtitle, metric: 'loss', series: 'explanation', logY: true, styles }));
    }
  }

  const text = overview(results, spec);
  const md: string[] = [`# ${mdText(text.heading)}`, ''];
  if (text.description) md.push(mdText(text.description), '');
  md.push(`Adapter: ${mdText(text.adapter)}.`, '');
  if (text.running) md.push('**Still running**: this covers the cells finished so far.', '');
  md.push(text.count, '');
  for (const t of text.tables) md.push(markdownTable(t.rows, spec, { title: t.title }));
  if (text.note) md.push(text.note, '');
  if (rows.length > 0) md.push(statisticsMarkdown(statisticsOf(results), params));
  if (charts.length > 0) {
    md.push('## Charts', '');
    for (const c of charts) md.push(`[![${c.alt.replace(/[[\]]/g, '')}](${c.file})](${c.file})`, '');
  }
  md.push('Raw rows: [results.csv](results.csv).', '');

  const files: Record<string, string> = { 'table.md': md.join('\n'), 'results.csv': csv(rows) };
  for (const c of charts) files[c.file] = c.svg;
  return files;
}
