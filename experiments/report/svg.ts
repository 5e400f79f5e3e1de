// Charts as standalone SVG strings, with no dependencies so they render the same from Node, Deno
// or a browser. Every chart is 720x420 on a white background (GitHub's dark theme would
// otherwise show dark text on dark), in the system font, coloured from the Okabe-Ito palette,
// which stays distinguishable under the common colour-vision deficiencies; lines also differ in
// dash so they survive greyscale printing. Output depends only on the input: coordinates are
// rounded to 0.1 px and nothing random or time-dependent is read.

import { distinctValues, groupBy, modelParams, summarize, type FieldValue, type KeyField, type MetricRecord, type ResultRow } from './stats.ts';
import { FIELD_LABELS, formatCount, formatParams, percent, valueLabel } from './table.ts';

export const WIDTH = 720;
export const HEIGHT = 420;
const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
// Okabe-Ito without its yellow, which is too light to read as a line on white.
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#000000'];
const DASHES = [undefined, '7 3', '2 3', '9 3 2 3', '4 4', '1 2', '12 4'];
const INK = '#222222';
const MUTED = '#666666';
const GRID = '#e6e6e6';
const AXIS = '#999999';

export interface SeriesStyle {
  color: string;
  /** stroke-dasharray for lines; undefined is solid. */
  dash?: string;
}

/** Styles by series value, in order; pass the same map to several charts so a series keeps its colour across them. */
export function seriesStyles(values: readonly FieldValue[]): Record<string, SeriesStyle> {
  return Object.fromEntries(values.map((v, i) => [String(v), { color: PALETTE[i % PALETTE.length], dash: DASHES[i % DASHES.length] }]));
}

export interface ChartText {
  title: string;
  /** A line of context under the title (task, test set, preset). */
  subtitle?: string;
}

/** A dashed horizontal line, such as the accuracy of guessing or of a baseline. */
export interface Reference {
  /** In the data's units: a fraction 0..1 for accuracy. */
  value: number;
  label: string;
}

/** One reference line or several; each of several gets a dash pattern of its own. */
export type References = Reference | readonly Reference[] | undefined;

const REFERENCE_DASHES = ['5 4', '2 3', '10 3 2 3', '1 5'];
const referenceList = (r: References): readonly Reference[] => (r === undefined ? [] : Array.isArray(r) ? r : [r as Reference]);

// ---- text and elements ------------------------------------------------------------------------

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function num(x: number): string {
  const r = Math.round(x * 10) / 10;
  return Object.is(r, -0) ? '0' : String(r);
}

type Attrs = Record<string, string | number | undefined>;

function tag(name: string, attrs: Attrs, content?: string): string {
  const a = Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${typeof v === 'number' ? num(v) : escapeXml(v!)}"`)
    .join('');
  return content === undefined ? `<${name}${a}/>` : `<${name}${a}>${content}</${name}>`;
}

function text(x: number, y: number, content: string, attrs: Attrs = {}): string {
  return tag('text', { x, y, 'font-size': 12, fill: INK, ...attrs }, escapeXml(content));
}

/** Text with a white outline, readable where it crosses bars or lines. */
function haloText(x: number, y: number, content: string, attrs: Attrs = {}): string {
  return text(x, y, content, { stroke: '#ffffff', 'stroke-width': 3, 'stroke-linejoin': 'round', 'paint-order': 'stroke', ...attrs });
}

function line(x1: number, y1: number, x2: number, y2: number, attrs: Attrs): string {
  return tag('line', { x1, y1, x2, y2, ...attrs });
}

function polyline(points: readonly [number, number][], attrs: Attrs): string {
  return tag('polyline', { points: points.map(([x, y]) => `${num(x)},${num(y)}`).join(' '), fill: 'none', 'stroke-linejoin': 'round', 'stroke-linecap': 'round', ...attrs });
}

/** Width of a label in the system font, estimated: there is no font metrics API common to every runtime. */
function textWidth(s: string, size: number): number {
  let w = 0;
  for (const ch of s) w += /[il.,:;'|! ()]/.test(ch) ? 0.32 : /[A-Zmw%@]/.test(ch) ? 0.75 : /[0-9]/.test(ch) ? 0.62 : 0.56;
  return w * size;
}

/** The text, cut short with an ellipsis where it would run past `width`. */
function fit(s: string, size: number, width: number): string {
  if (textWidth(s, size) <= width) return s;
  const chars = [...s];
  while (chars.length > 0 && textWidth(chars.join('') + '…', size) > width) chars.pop();
  return chars.join('').trimEnd() + '…';
}

// ---- numbers and scales -----------------------------------------------------------------------

const clean = (x: number) => Number(x.toPrecision(12));

/** 2500 as 2.5k, 96000 as 96k: tick labels stay short. */
export function compactNumber(v: number): string {
  const a = Math.abs(v);
  const short = (x: number) => String(Number(x.toPrecision(3)));
  if (a >= 1e6) return `${short(v / 1e6)}M`;
  if (a >= 1e3) return `${short(v / 1e3)}k`;
  return short(v);
}

/** Tick labels for one axis: all compact (2k, 4k) once they reach 10,000, else written out (1,000) so labels on one axis agree. */
function tickLabels(values: readonly number[]): string[] {
  const big = Math.max(...values.map(Math.abs)) >= 1e4;
  return values.map((v) => (big ? compactNumber(v) : Number.isInteger(v) ? formatCount(v) : String(v)));
}

interface Ticks {
  domain: [number, number];
  values: number[];
}

/** Round-numbered ticks (steps of 1, 2 or 5 times a power of ten, at least `minStep`) covering [min, max]. */
export function linearTicks(min: number, max: number, count = 5, minStep = 0): Ticks {
  if (!(max > min)) {
    const pad = min === 0 ? 1 : Math.abs(min) / 2;
    return linearTicks(min - pad, max + pad, count, minStep);
  }
  const raw = Math.max((max - min) / count, minStep);
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * power;
  const lo = Math.floor(min / step);
  const hi = Math.ceil(max / step);
  const values: number[] = [];
  for (let i = lo; i <= hi; i++) values.push(clean(i * step));
  return { domain: [values[0], values[values.length - 1]], values };
}

/** Ticks at 1, 2 and 5 times powers of ten, thinned to decades when there are many; min > 0. */
export function logTicks(min: number, max: number): Ticks {
  const candidates: number[] = [];
  for (let k = Math.floor(Math.log10(min)) - 1; k <= Math.ceil(Math.log10(max)) + 1; k++) {
    for (const m of [1, 2, 5]) candidates.push(clean(m * 10 ** k));
  }
  let lo = Math.max(...candidates.filter((c) => c <= min));
  let hi = Math.min(...candidates.filter((c) => c >= max));
  let values = candidates.filter((c) => c >= lo && c <= hi);
  if (values.length > 9) {
    lo = clean(10 ** Math.floor(Math.log10(min)));
    hi = clean(10 ** Math.ceil(Math.log10(max)));
    values = candidates.filter((c) => c >= lo && c <= hi && Number(c.toExponential().split('e')[0]) === 1);
  }
  if (values.length < 3) {
    // A narrow range (a loss that barely moved) between two round numbers: finer linear ticks say more.
    const fine = linearTicks(min, max, 4);
    if (fine.domain[0] > 0) return fine;
    return logTicks(min / 2, max * 2);
  }
  return { domain: [lo, hi], values };
}

function scale(domain: [number, number], range: [number, number], log = false): (v: number) => number {
  const f = log ? Math.log10 : (v: number) => v;
  const [d0, d1] = [f(domain[0]), f(domain[1])];
  return (v) => range[0] + ((f(v) - d0) / (d1 - d0)) * (range[1] - range[0]);
}

// ---- frame: title, legend, axes ---------------------------------------------------------------

interface LegendItem {
  label: string;
  style: SeriesStyle;
  /** A line with a point on it where the chart marks its points, a bare line where it does not. */
  kind: 'bar' | 'line' | 'point-line' | 'reference';
}

interface XTick {
  x: number;
  lines: string[];
  grid: boolean;
}

interface YTick {
  y: number;
  label: string;
}

interface FrameSpec extends ChartText {
  legend: LegendItem[];
  xLabel: string;
  yLabel: string;
  /** Lines under the x axis saying how to read the marks. */
  caption?: string;
  /** Most lines any x tick label has. */
  xTickLines: number;
}

interface Plot {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

const PLOT_LEFT = 64;
const TEXT_LEFT = 20;
const PLOT_RIGHT = WIDTH - 24;
const LEGEND_ROW = 18;

interface PlacedLegend {
  item: LegendItem;
  x: number;
  y: number;
}

function placeLegend(items: readonly LegendItem[], top: number): { placed: PlacedLegend[]; rows: number } {
  const placed: PlacedLegend[] = [];
  let x = PLOT_LEFT;
  let row = 0;
  for (const item of items) {
    const w = 26 + textWidth(item.label, 12) + 18;
    if (x + w > PLOT_RIGHT && x > PLOT_LEFT) {
      row++;
      x = PLOT_LEFT;
    }
    placed.push({ item, x, y: top + row * LEGEND_ROW });
    x += w;
  }
  return { placed, rows: items.length === 0 ? 0 : row + 1 };
}

function layout(spec: FrameSpec): { plot: Plot; legend: PlacedLegend[] } {
  const legendTop = spec.subtitle ? 64 : 46;
  const { placed, rows } = placeLegend(spec.legend, legendTop);
  const top = legendTop + rows * LEGEND_ROW + (rows > 0 ? 4 : 0);
  const bottom = HEIGHT - (spec.caption ? 20 : 4) - 22 - spec.xTickLines * 14 - 10;
  return { plot: { left: PLOT_LEFT, right: PLOT_RIGHT, top, bottom }, legend: placed };
}

function legendSwatch({ item, x, y }: PlacedLegend): string {
  const { color, dash } = item.style;
  const mid = y - 4;
  if (item.kind === 'bar') return tag('rect', { x, y: mid - 6, width: 18, height: 12, rx: 2, fill: color });
  if (item.kind === 'reference') return line(x, mid, x + 20, mid, { stroke: color, 'stroke-width': 1.5, 'stroke-dasharray': dash ?? REFERENCE_DASHES[0] });
  const stroke = line(x, mid, x + 20, mid, { stroke: color, 'stroke-width': 2.5, 'stroke-dasharray': dash });
  if (item.kind === 'line') return stroke;
  return [stroke, tag('circle', { cx: x + 10, cy: mid, r: 3.5, fill: color, stroke: '#ffffff', 'stroke-width': 1 })].join('');
}

function render(spec: FrameSpec, plot: Plot, legend: readonly PlacedLegend[], yTicks: readonly YTick[], xTicks: readonly XTick[], body: readonly string[]): string {
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="${escapeXml(FONT)}" role="img">`,
    tag('title', {}, escapeXml(spec.subtitle ? `${spec.title} (${spec.subtitle})` : spec.title)),
    tag('rect', { width: WIDTH, height: HEIGHT, fill: '#ffffff' }),
    text(TEXT_LEFT, 26, fit(spec.title, 16 * 1.1, PLOT_RIGHT - TEXT_LEFT), { 'font-size': 16, 'font-weight': 'bold' }),
  );
  if (spec.subtitle) out.push(text(TEXT_LEFT, 45, fit(spec.subtitle, 12, PLOT_RIGHT - TEXT_LEFT), { fill: MUTED }));
  for (const p of legend) out.push(tag('g', {}, legendSwatch(p) + text(p.x + 26, p.y, p.item.label)));
  for (const t of yTicks) {
    out.push(line(plot.left, t.y, plot.right, t.y, { stroke: GRID, 'stroke-width': 1 }));
    out.push(text(plot.left - 8, t.y + 4, t.label, { 'text-anchor': 'end', fill: MUTED, 'font-size': 11 }));
  }
  for (const t of xTicks) {
    if (t.grid) out.push(line(t.x, plot.top, t.x, plot.bottom, { stroke: GRID, 'stroke-width': 1 }));
    t.lines.forEach((l, i) => out.push(text(t.x, plot.bottom + 17 + i * 14, l, { 'text-anchor': 'middle', fill: i === 0 ? INK : MUTED, 'font-size': i === 0 ? 12 : 10.5 })));
  }
  out.push(line(plot.left, plot.bottom, plot.right, plot.bottom, { stroke: AXIS, 'stroke-width': 1 }));
  out.push(line(plot.left, plot.top, plot.left, plot.bottom, { stroke: AXIS, 'stroke-width': 1 }));
  const yMid = (plot.top + plot.bottom) / 2;
  out.push(text(18, yMid, spec.yLabel, { 'text-anchor': 'middle', fill: MUTED, transform: `rotate(-90 18 ${num(yMid)})` }));
  const xLabelY = plot.bottom + 17 + spec.xTickLines * 14 + 8;
  out.push(text((plot.left + plot.right) / 2, xLabelY, spec.xLabel, { 'text-anchor': 'middle', fill: MUTED }));
  if (spec.caption) out.push(text(PLOT_RIGHT, HEIGHT - 10, fit(spec.caption, 10.5, PLOT_RIGHT - TEXT_LEFT), { 'text-anchor': 'end', fill: MUTED, 'font-size': 10.5 }));
  out.push(...body);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function noData(plot: Plot): string {
  return text((plot.left + plot.right) / 2, (plot.top + plot.bottom) / 2, 'no data yet', { 'text-anchor': 'middle', fill: MUTED, 'font-size': 14 });
}

function referenceMarks(refs: References, y: (v: number) => number, plot: Plot): string[] {
  // Labelled in the legend only: a label on the line would sit under the bars of the last group.
  return referenceList(refs).map((ref, i) => {
    const ry = y(ref.value);
    return line(plot.left, ry, plot.right, ry, { stroke: MUTED, 'stroke-width': 1.5, 'stroke-dasharray': REFERENCE_DASHES[i % REFERENCE_DASHES.length] });
  });
}

function referenceLegend(refs: References): LegendItem[] {
  return referenceList(refs).map((ref, i) => ({ label: ref.label, style: { color: MUTED, dash: REFERENCE_DASHES[i % REFERENCE_DASHES.length] }, kind: 'reference' as const }));
}

/** y axis 0..100 %, with headroom above 100 for the value labels. */
function accuracyAxis(plot: Plot): { y: (fraction: number) => number; ticks: YTick[] } {
  const y = scale([0, 1], [plot.bottom, plot.top + 16]);
  return { y, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1].map((v) => ({ y: y(v), label: String(Math.round(v * 100)) })) };
}

function tickLines(field: KeyField, value: FieldValue, params: ReadonlyMap<string, number>): string[] {
  if (field === 'model' && params.has(String(value))) return [String(value), `${formatParams(params.get(String(value))!)} params`];
  return [valueLabel(field, value, params)];
}

function resolveStyles(values: readonly FieldValue[], given?: Readonly<Record<string, SeriesStyle>>): (v: FieldValue) => SeriesStyle {
  const own = seriesStyles(values);
  return (v) => given?.[String(v)] ?? own[String(v)];
}

/** A vertical error bar from y `lo` to `hi` with caps `cap` wide each side. */
function whisker(x: number, lo: number, hi: number, cap: number, color: string): string {
  const stroke = { stroke: color, 'stroke-width': 1.4 };
  return tag('g', { class: 'whisker' }, line(x, lo, x, hi, stroke) + line(x - cap, hi, x + cap, hi, stroke) + line(x - cap, lo, x + cap, lo, stroke));
}

const tooltip = (s: string) => tag('title', {}, escapeXml(s));

// ---- bar chart ---------------------------------------------------------------------------------

export interface BarChartOptions extends ChartText {
  /** Field whose values make the groups along x (e.g. model). */
  x: KeyField;
  /** Field whose values make the bars within a group, by colour (e.g. explanation). */
  series: KeyField;
  reference?: References;
  styles?: Readonly<Record<string, SeriesStyle>>;
}

/**
 * Grouped bars of accuracy: each bar the mean over the rows of its group and series (the seeds),
 * with a whisker over the 95 % interval of the mean, the single values as dots and the mean
 * written above it.
 */
export function barChart(rows: readonly ResultRow[], o: BarChartOptions): string {
  const params = modelParams(rows);
  const groups = distinctValues(rows, o.x);
  const series = distinctValues(rows, o.series);
  const style = resolveStyles(series, o.styles);
  const xTickLines = Math.max(1, ...groups.map((g) => tickLines(o.x, g, params).length));
  const spec: FrameSpec = {
    ...o,
    legend: [...series.map((s) => ({ label: valueLabel(o.series, s, params), style: style(s), kind: 'bar' as const })), ...referenceLegend(o.reference)],
    xLabel: FIELD_LABELS[o.x],
    yLabel: 'accuracy (%)',
    caption: 'bar: mean over seeds · whisker: 95 % interval of the mean · dots: single seeds',
    xTickLines,
  };
  const { plot, legend } = layout(spec);
  const { y, ticks } = accuracyAxis(plot);
  const groupWidth = (plot.right - plot.left) / Math.max(1, groups.length);
  const cells = groupBy(rows, [o.x, o.series]);
  const perGroup = Math.max(1, ...groups.map((g) => cells.filter((c) => c.key[o.x] === g).length));
  const slot = Math.min((groupWidth * 0.8) / perGroup, 64);
  const barWidth = Math.max(2, slot - 3);
  const labelSize = barWidth >= 30 ? 11 : 9.5;
  // All bars get their value written or none do; where the widest would not fit, the tooltips still say it.
  const labelled = textWidth('100.0', labelSize) <= slot - 2;
  const body: string[] = [];
  const labels: string[] = [];
  const xTicks: XTick[] = groups.map((g, gi) => {
    const inGroup = cells.filter((c) => c.key[o.x] === g);
    const center = plot.left + groupWidth * (gi + 0.5);
    inGroup.forEach((c, i) => {
      const cx = center + (i - (inGroup.length - 1) / 2) * slot;
      const values = c.rows.map((r) => r.accuracy);
      const s = summarize(values);
      const st = style(c.key[o.series]);
      const top = y(s.mean);
      const name = `${valueLabel(o.x, g, params)}, ${valueLabel(o.series, c.key[o.series], params)}`;
      const spread = s.n > 1 ? ` ± ${percent(s.std)}` : '';
      body.push(
        tag('rect', { class: 'bar', x: cx - barWidth / 2, y: top, width: barWidth, height: y(0) - top, fill: st.color }, tooltip(`${name}: ${percent(s.mean)}${spread} %${s.n > 1 ? `, 95 % CI ${percent(s.low)}-${percent(s.high)}` : ''} (n=${s.n})`)),
      );
      let highest = top;
      if (s.n > 1) {
        const hi = y(Math.min(1, s.high));
        const lo = y(Math.max(0, s.low));
        const cap = Math.min(10, barWidth * 0.4) / 2;
        body.push(whisker(cx, lo, hi, cap, INK));
        highest = Math.min(highest, hi);
      }
      values.forEach((v, k) => {
        const dx = values.length > 1 ? (k / (values.length - 1) - 0.5) * Math.min(barWidth * 0.5, 16) : 0;
        body.push(tag('circle', { class: 'seed', cx: cx + dx, cy: y(v), r: 2.6, fill: '#ffffff', stroke: INK, 'stroke-width': 1.1 }));
        highest = Math.min(highest, y(v));
      });
      if (labelled) labels.push(haloText(cx, highest - 5, percent(s.mean), { 'text-anchor': 'middle', 'font-size': labelSize }));
    });
    return { x: center, lines: tickLines(o.x, g, params), grid: false };
  });
  if (rows.length === 0) body.push(noData(plot));
  return render(spec, plot, legend, ticks, xTicks, [...referenceMarks(o.reference, y, plot), ...body, ...labels]);
}

// ---- accuracy against a numeric field ----------------------------------------------------------

export interface XyChartOptions extends ChartText {
  /** Numeric field along x (e.g. trainSize). */
  x: 'trainSize' | 'seed';
  series: KeyField;
  /** Logarithmic x axis; default true, as sizes usually grow geometrically. */
  logX?: boolean;
  reference?: References;
  styles?: Readonly<Record<string, SeriesStyle>>;
}

/**
 * Accuracy against a numeric field, one line per series through the means over seeds, with
 * whiskers over the 95 % interval of the mean and the single seeds as faint dots. A series measured at a single x is drawn
 * as a dashed level across the whole chart, so it can be read against every x of the others
 * (the data-size experiment: a few explained examples against many plain ones).
 */
export function xyChart(rows: readonly ResultRow[], o: XyChartOptions): string {
  const log = o.logX ?? true;
  const params = modelParams(rows);
  const series = distinctValues(rows, o.series);
  const style = resolveStyles(series, o.styles);
  const xs = distinctValues(rows, o.x) as number[];
  const spec: FrameSpec = {
    ...o,
    legend: [...series.map((s) => ({ label: valueLabel(o.series, s, params), style: style(s), kind: 'point-line' as const })), ...referenceLegend(o.reference)],
    xLabel: `${FIELD_LABELS[o.x]}${log ? ' (log scale)' : ''}`,
    yLabel: 'accuracy (%)',
    caption: 'point: mean over seeds · whisker: 95 % interval of the mean · faint dots: single seeds',
    xTickLines: 1,
  };
  const { plot, legend } = layout(spec);
  const { y, ticks } = accuracyAxis(plot);
  let domain: [number, number];
  if (xs.length === 0) domain = [1, 10];
  else if (log) {
    const [lo, hi] = [Math.min(...xs), Math.max(...xs)];
    const pad = lo === hi ? 2 : (hi / lo) ** 0.06;
    domain = [lo / pad, hi * pad];
  } else {
    const t = linearTicks(Math.min(...xs), Math.max(...xs));
    domain = t.domain;
  }
  const x = scale(domain, [plot.left, plot.right], log);
  const xLabels = tickLabels(xs);
  const xTicks: XTick[] = xs.map((v, i) => ({ x: x(v), lines: [xLabels[i]], grid: true }));
  const body: string[] = [];
  const labels: string[] = [];
  series.forEach((s, si) => {
    const st = style(s);
    const dodge = (si - (series.length - 1) / 2) * 5;
    const points = groupBy(
      rows.filter((r) => r[o.series] === s),
      [o.x],
    ).map((g) => ({ at: g.key[o.x] as number, values: g.rows.map((r) => r.accuracy), summary: summarize(g.rows.map((r) => r.accuracy)) }));
    const marks: string[] = [];
    if (points.length === 1) {
      const level = y(points[0].summary.mean);
      marks.push(line(plot.left, level, plot.right, level, { stroke: st.color, 'stroke-width': 1.8, 'stroke-dasharray': '2 4', 'stroke-linecap': 'round' }));
      const label = `${valueLabel(o.series, s, params)} at ${compactNumber(points[0].at)}: ${percent(points[0].summary.mean)} %`;
      // Beside its own point rather than at the far end, where the other series, with more data, tend to climb to the level.
      labels.push(haloText(x(points[0].at) + dodge + 10, level - 7, label, { fill: st.color, 'font-size': 11 }));
    } else {
      marks.push(polyline(points.map((p) => [x(p.at) + dodge, y(p.summary.mean)]), { stroke: st.color, 'stroke-width': 2.5, 'stroke-dasharray': st.dash }));
    }
    for (const p of points) {
      const px = x(p.at) + dodge;
      for (const v of p.values) marks.push(tag('circle', { class: 'seed', cx: px, cy: y(v), r: 2.2, fill: st.color, 'fill-opacity': '0.45' }));
      if (p.summary.n > 1) {
        const hi = y(Math.min(1, p.summary.high));
        const lo = y(Math.max(0, p.summary.low));
        marks.push(whisker(px, lo, hi, 4, st.color));
      }
      const name = `${valueLabel(o.series, s, params)}, ${valueLabel(o.x, p.at, params)}`;
      const spread = p.summary.n > 1 ? ` ± ${percent(p.summary.std)}` : '';
      marks.push(
        tag('circle', { class: 'point', cx: px, cy: y(p.summary.mean), r: 4.5, fill: st.color, stroke: '#ffffff', 'stroke-width': 1.5 }, tooltip(`${name}: ${percent(p.summary.mean)}${spread} % (n=${p.summary.n})`)),
      );
    }
    body.push(tag('g', { class: 'series' }, marks.join('')));
  });
  if (rows.length === 0) body.push(noData(plot));
  return render(spec, plot, legend, ticks, xTicks, [...referenceMarks(o.reference, y, plot), ...body, ...labels]);
}

// ---- learning curves ---------------------------------------------------------------------------

export interface LineChartOptions extends ChartText {
  metric: 'valAccuracy' | 'loss';
  /** Field of the records whose values make the lines (e.g. explanation). */
  series: 'explanation' | 'model' | 'trainSize';
  /** Logarithmic y axis (loss only). */
  logY?: boolean;
  /** Longer curves are averaged into this many buckets of steps, which also smooths a noisy loss. */
  maxPoints?: number;
  reference?: References;
  styles?: Readonly<Record<string, SeriesStyle>>;
}

type Point = [step: number, value: number];

/** Curves with at most this many points (evaluations, typically) get a marker on each. */
const MARKED_POINTS = 30;

function bucketed(points: readonly Point[], maxPoints: number): Point[] {
  if (points.length <= maxPoints) return [...points];
  const first = points[0][0];
  const width = (points[points.length - 1][0] - first + 1) / maxPoints;
  const buckets = new Map<number, Point[]>();
  for (const p of points) {
    const b = Math.floor((p[0] - first) / width);
    const list = buckets.get(b) ?? [];
    list.push(p);
    buckets.set(b, list);
  }
  return [...buckets.values()].map((list) => [list.reduce((a, p) => a + p[0], 0) / list.length, list.reduce((a, p) => a + p[1], 0) / list.length]);
}

/**
 * Learning curves: per series, a thick line through the mean over runs at each step and, when
 * there are several runs (seeds), each run as a thin faint line. A run logged twice at one step
 * (it resumed from a checkpoint) counts with its later value.
 */
export function lineChart(records: readonly MetricRecord[], o: LineChartOptions): string {
  const maxPoints = o.maxPoints ?? 200;
  const isAccuracy = o.metric === 'valAccuracy';
  const log = !isAccuracy && (o.logY ?? false);
  const usable = records.filter((r) => {
    const v = r[o.metric];
    return typeof v === 'number' && Number.isFinite(v) && (!log || v > 0);
  });
  const series = distinctValues(usable, o.series);
  const style = resolveStyles(series, o.styles);
  const toY = (v: number) => (isAccuracy ? v * 100 : v);

  const curves = series.map((s) => {
    const runs = new Map<string, Map<number, number>>();
    // Runs in seed order, whatever order the records came in, so the drawing order is stable.
    const ofSeries = usable.filter((r) => r[o.series] === s).map((r, i) => ({ r, i }));
    ofSeries.sort((a, b) => a.r.seed - b.r.seed || (a.r.cell < b.r.cell ? -1 : a.r.cell > b.r.cell ? 1 : 0) || a.i - b.i);
    for (const { r } of ofSeries) {
      const id = JSON.stringify([r.cell, r.seed]);
      const run = runs.get(id) ?? new Map<number, number>();
      run.set(r.step, toY(r[o.metric]!));
      runs.set(id, run);
    }
    const sorted = (m: Map<number, number>): Point[] => [...m.entries()].sort((a, b) => a[0] - b[0]);
    const byStep = new Map<number, number[]>();
    for (const run of runs.values()) for (const [step, v] of run) byStep.set(step, [...(byStep.get(step) ?? []), v]);
    const mean = new Map([...byStep].map(([step, vs]) => [step, vs.reduce((a, b) => a + b, 0) / vs.length]));
    return { series: s, runs: [...runs.values()].map((r) => bucketed(sorted(r), maxPoints)), mean: bucketed(sorted(mean), maxPoints) };
  });

  const spec: FrameSpec = {
    ...o,
    legend: [
      ...curves.map((c) => ({ label: valueLabel(o.series, c.series), style: style(c.series), kind: c.mean.length <= MARKED_POINTS ? ('point-line' as const) : ('line' as const) })),
      ...(isAccuracy ? referenceLegend(o.reference) : []),
    ],
    xLabel: 'training step',
    yLabel: isAccuracy ? 'validation accuracy (%)' : `training loss${log ? ' (log scale)' : ''}`,
    caption: curves.some((c) => c.runs.length > 1) ? 'thick: mean over seeds · thin: single seeds' : undefined,
    xTickLines: 1,
  };
  const { plot, legend } = layout(spec);
  const steps = usable.map((r) => r.step);
  const xt = linearTicks(Math.min(0, ...steps), steps.length ? Math.max(...steps) : 1, 6, 1);
  const x = scale(xt.domain, [plot.left, plot.right]);
  const xLabels = tickLabels(xt.values);
  const xTicks: XTick[] = xt.values.map((v, i) => ({ x: x(v), lines: [xLabels[i]], grid: true }));

  let y: (v: number) => number;
  let yTicks: YTick[];
  if (isAccuracy) {
    const axis = accuracyAxis(plot);
    y = (v) => axis.y(v / 100);
    yTicks = axis.ticks;
  } else {
    const values = usable.map((r) => r.loss!);
    const [lo, hi] = values.length ? [Math.min(...values), Math.max(...values)] : [0.1, 1];
    const t = log ? logTicks(lo, hi) : linearTicks(Math.min(0, lo), hi);
    y = scale(t.domain, [plot.bottom, plot.top + 6], log);
    const yLabels = tickLabels(t.values);
    yTicks = t.values.map((v, i) => ({ y: y(v), label: yLabels[i] }));
  }

  const body: string[] = [];
  for (const c of curves) {
    const st = style(c.series);
    const marks: string[] = [];
    if (c.runs.length > 1) for (const run of c.runs) marks.push(polyline(run.map(([s, v]) => [x(s), y(v)]), { class: 'run', stroke: st.color, 'stroke-width': 1, 'stroke-opacity': '0.35' }));
    marks.push(polyline(c.mean.map(([s, v]) => [x(s), y(v)]), { class: 'mean', stroke: st.color, 'stroke-width': 2.5, 'stroke-dasharray': st.dash }));
    if (c.mean.length <= MARKED_POINTS) for (const [s, v] of c.mean) marks.push(tag('circle', { cx: x(s), cy: y(v), r: 3, fill: st.color, stroke: '#ffffff', 'stroke-width': 1 }));
    body.push(tag('g', { class: 'series' }, marks.join('')));
  }
  if (usable.length === 0) body.push(noData(plot));
  return render(spec, plot, legend, yTicks, xTicks, [...(isAccuracy ? referenceMarks(o.reference, (v) => y(v * 100), plot) : []), ...body]);
}
