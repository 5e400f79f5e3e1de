import { describe, expect, it } from 'vitest';
import { groupBy, orderValues, summarize, summarizeBy, type MetricRecord, type ResultRow } from '../../experiments/report/stats.ts';
import { csv, markdownTable, textTable } from '../../experiments/report/table.ts';
import { barChart, escapeXml, lineChart, linearTicks, logTicks, xyChart } from '../../experiments/report/svg.ts';
import { buildReport, textReport } from '../../experiments/report/index.ts';

// ---- a small XML well-formedness checker: there is no DOMParser in Node ------------------------

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  text: string;
  children: XmlElement[];
}

const NAME = /[A-Za-z_][\w.:-]*/y;
const ATTR = /\s+([A-Za-z_][\w.:-]*)\s*=\s*("[^"<]*"|'[^'<]*')/y;
const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/y;

function checkText(s: string, where: number): string {
  for (let i = s.indexOf('&'); i >= 0; i = s.indexOf('&', i + 1)) {
    ENTITY.lastIndex = i;
    if (!ENTITY.test(s)) throw new Error(`bad entity at ${where + i}: ${s.slice(i, i + 12)}`);
  }
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/** Parses `xml` into its one root element, throwing at the first thing that is not well-formed. */
function parseXml(xml: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    if (stack.length === 0 && text.trim()) throw new Error(`text outside the root at ${i}`);
    if (stack.length > 0) stack[stack.length - 1].text += checkText(text, i);
    if (lt < 0) break;
    if (xml.startsWith('</', lt)) {
      NAME.lastIndex = lt + 2;
      const m = NAME.exec(xml);
      if (!m) throw new Error(`bad closing tag at ${lt}`);
      const end = lt + 2 + m[0].length;
      if (xml[end] !== '>') throw new Error(`closing tag </${m[0]} not ended at ${end}`);
      const open = stack.pop();
      if (open?.name !== m[0]) throw new Error(`</${m[0]}> at ${lt} closes <${open?.name}>`);
      i = end + 1;
      continue;
    }
    NAME.lastIndex = lt + 1;
    const m = NAME.exec(xml);
    if (!m) throw new Error(`bad tag at ${lt}: ${xml.slice(lt, lt + 20)}`);
    const el: XmlElement = { name: m[0], attrs: {}, text: '', children: [] };
    let j = lt + 1 + m[0].length;
    for (;;) {
      ATTR.lastIndex = j;
      const a = ATTR.exec(xml);
      if (!a) break;
      if (a[1] in el.attrs) throw new Error(`duplicate attribute ${a[1]} on <${el.name}> at ${lt}`);
      el.attrs[a[1]] = checkText(a[2].slice(1, -1), j);
      j = ATTR.lastIndex;
    }
    while (xml[j] === ' ') j++;
    const selfClosing = xml.startsWith('/>', j);
    if (!selfClosing && xml[j] !== '>') throw new Error(`<${el.name}> at ${lt} not ended properly: ${xml.slice(j, j + 20)}`);
    if (stack.length > 0) stack[stack.length - 1].children.push(el);
    else if (root) throw new Error(`second root <${el.name}> at ${lt}`);
    else root = el;
    if (!selfClosing) stack.push(el);
    i = j + (selfClosing ? 2 : 1);
  }
  if (stack.length > 0) throw new Error(`<${stack[stack.length - 1].name}> never closed`);
  if (!root) throw new Error('no root element');
  return root;
}

function all(el: XmlElement, pick: (e: XmlElement) => boolean): XmlElement[] {
  return [...(pick(el) ? [el] : []), ...el.children.flatMap((c) => all(c, pick))];
}

const texts = (svg: XmlElement) => all(svg, (e) => e.name === 'text').map((e) => e.text);
const byClass = (svg: XmlElement, cls: string) => all(svg, (e) => e.attrs.class === cls);

describe('the test XML checker', () => {
  it('accepts well-formed XML and rejects the usual mistakes', () => {
    expect(parseXml('<a x="1"><b/>t &amp; <c y=\'2\'>u</c></a>').children.map((c) => c.name)).toEqual(['b', 'c']);
    for (const bad of ['<a><b></a></b>', '<a>', '<a x=1/>', '<a>&nope;</a>', '<a/><b/>', '<a x="1" x="2"/>', 'text<a/>', '<a>1 < 2</a>']) {
      expect(() => parseXml(bad), bad).toThrow();
    }
  });
});

// ---- data ---------------------------------------------------------------------------------------

function row(model: string, explanation: string, seed: number, accuracy: number, extra: Partial<ResultRow> = {}): ResultRow {
  const params = { tiny: 45123, xs: 212000, s: 1034000 }[model] ?? 5e6;
  return { task: 'listops', explanation, model, trainSize: 2000, seed, test: 'test', accuracy, steps: 100, seconds: 60, params, ...extra };
}

describe('stats', () => {
  it('summarizes with the sample standard deviation', () => {
    const s = summarize([0.8, 0.9, 1.0]);
    expect(s.n).toBe(3);
    expect(s.mean).toBeCloseTo(0.9, 12);
    expect(s.std).toBeCloseTo(0.1, 12);
    expect([s.min, s.max]).toEqual([0.8, 1.0]);
    // mean 5, squared deviations sum to 32, over n - 1 = 7
    expect(summarize([2, 4, 4, 4, 5, 5, 7, 9]).std).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect(summarize([0.42])).toEqual({ n: 1, mean: 0.42, std: 0, low: NaN, high: NaN, min: 0.42, max: 0.42 });
    // The 95 % Student t interval of the mean: mean ± t(0.975, 2) s / √3.
    expect(s.low).toBeCloseTo(0.9 - (4.30265273 * 0.1) / Math.sqrt(3), 7);
    expect(s.high).toBeCloseTo(0.9 + (4.30265273 * 0.1) / Math.sqrt(3), 7);
    expect(() => summarize([])).toThrow();
  });

  it('orders values as the paper does', () => {
    expect(orderValues('explanation', ['long', 'none', 'medium', 'short'])).toEqual(['none', 'short', 'medium', 'long']);
    expect(orderValues('model', ['t5-small', 'm', 'huge', 'mid', 'xs', 's', 'tiny'], new Map([['huge', 9e9], ['mid', 3e6]]))).toEqual(['tiny', 'xs', 's', 'm', 't5-small', 'mid', 'huge']);
    expect(orderValues('trainSize', [8000, 500, 2000, 500])).toEqual([500, 2000, 8000]);
    expect(orderValues('test', ['same depth', 'deeper', 'longer', 'deeper'])).toEqual(['same depth', 'deeper', 'longer']);
  });

  it('groups and summarizes over seeds', () => {
    const rows = [row('xs', 'short', 1, 0.5), row('tiny', 'short', 1, 0.2), row('xs', 'none', 1, 0.3), row('xs', 'short', 2, 0.7)];
    const groups = summarizeBy(rows, ['model', 'explanation']);
    expect(groups.map((g) => [g.key.model, g.key.explanation, g.summary.n])).toEqual([
      ['tiny', 'short', 1],
      ['xs', 'none', 1],
      ['xs', 'short', 2],
    ]);
    expect(groups[2].summary.mean).toBeCloseTo(0.6, 12);
    expect(groups[2].summary.std).toBeCloseTo(Math.sqrt(0.02), 12);
    expect(groupBy(rows, []).map((g) => g.rows.length)).toEqual([4]);
  });
});

describe('markdownTable', () => {
  const rows = [
    row('xs', 'none', 1, 0.7),
    row('tiny', 'short', 1, 0.5),
    row('tiny', 'none', 2, 0.9),
    row('tiny', 'none', 1, 0.8),
    row('xs', 'none', 2, 0.8),
    row('tiny', 'none', 3, 1.0),
  ];

  it('lays out the paper table: a line per model, a column per explanation', () => {
    expect(markdownTable(rows, { rows: ['model'], columns: 'explanation' }, { title: 'Main table', note: 'Three seeds.' })).toBe(
      [
        '**Main table**',
        '',
        '| model | none | short |',
        '| --- | ---: | ---: |',
        '| tiny (45k) | 90.0 ± 10.0 [65.2, 100.0] n=3 | 50.0 n=1 |',
        '| xs (212k) | 75.0 ± 7.1 [11.5, 100.0] n=2 | – |',
        '',
        'Three seeds.',
        '',
      ].join('\n'),
    );
  });

  it('takes several row fields, numbers sorted numerically', () => {
    const data = [
      row('xs', 'none', 1, 0.4, { trainSize: 8000, test: 'deeper' }),
      row('xs', 'none', 1, 0.6, { trainSize: 8000, test: 'same | depth' }),
      row('xs', 'medium', 1, 0.5, { trainSize: 500, test: 'deeper' }),
      row('xs', 'none', 1, 0.3, { trainSize: 500, test: 'deeper' }),
    ];
    expect(markdownTable(data, { rows: ['explanation', 'trainSize'], columns: 'test' })).toBe(
      [
        '| explanation | training examples | deeper | same \\| depth |',
        '| --- | --- | ---: | ---: |',
        '| none | 500 | 30.0 n=1 | – |',
        '| none | 8,000 | 40.0 n=1 | 60.0 n=1 |',
        '| medium | 500 | 50.0 n=1 | – |',
        '',
      ].join('\n'),
    );
  });

  it('lays the same table out in aligned columns for a terminal', () => {
    expect(textTable(rows, { rows: ['model'], columns: 'explanation' }, { title: 'Main table', note: 'Three seeds.' })).toBe(
      [
        'Main table',
        '',
        'model                                none     short',
        '----------  -----------------------------  --------',
        'tiny (45k)  90.0 ± 10.0 [65.2, 100.0] n=3  50.0 n=1',
        'xs (212k)    75.0 ± 7.1 [11.5, 100.0] n=2         –',
        '',
        'Three seeds.',
        '',
      ].join('\n'),
    );
  });

  it('names the valid fields when the spec has a wrong one', () => {
    expect(() => markdownTable(rows, { rows: ['size'], columns: 'explanation' })).toThrow(/unknown field "size".*trainSize/);
    expect(() => markdownTable(rows, { rows: ['model'], columns: 'model' })).toThrow(/both/);
  });
});

describe('csv', () => {
  it('writes a header and quotes what needs it', () => {
    const text = csv([row('xs', 'none', 1, 0.5, { test: 'same, "depth"' })]);
    // a row from before init was recorded reads as scratch
    expect(text).toBe('task,init,explanation,model,trainSize,test,seed,accuracy,steps,seconds,params\nlistops,scratch,none,xs,2000,"same, ""depth""",1,0.5,100,60,212000\n');
  });
});

describe('svg helpers', () => {
  it('escapes XML', () => {
    expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
  });

  it('picks round ticks', () => {
    expect(linearTicks(0, 1000, 5).values).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(linearTicks(0.13, 0.87, 4).values).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(linearTicks(0, 3, 6, 1).values).toEqual([0, 1, 2, 3]);
    expect(logTicks(0.07, 3.2).values).toEqual([0.05, 0.1, 0.2, 0.5, 1, 2, 5]);
    expect(logTicks(0.0003, 40).values).toEqual([0.0001, 0.001, 0.01, 0.1, 1, 10, 100]);
  });
});

describe('barChart', () => {
  const rows = ['tiny', 'xs'].flatMap((m, mi) => ['none', 'long'].flatMap((e, ei) => [1, 2, 3].map((seed) => row(m, e, seed, 0.2 + 0.2 * mi + 0.3 * ei + 0.01 * seed))));
  const svg = barChart(rows, { title: 'Accuracy <by> model & "explanation"', subtitle: 'listops', x: 'model', series: 'explanation', reference: { value: 0.1, label: 'chance 10 %' } });
  const doc = parseXml(svg);

  it('is well-formed SVG of a fixed size', () => {
    expect(doc.name).toBe('svg');
    expect(doc.attrs).toMatchObject({ xmlns: 'http://www.w3.org/2000/svg', width: '720', height: '420' });
  });

  it('draws a bar per model and explanation, a dot per seed, a whisker per bar', () => {
    expect(byClass(doc, 'bar')).toHaveLength(4);
    expect(byClass(doc, 'seed')).toHaveLength(12);
    expect(byClass(doc, 'whisker')).toHaveLength(4);
    const t = texts(doc);
    expect(t).toContain('Accuracy <by> model & "explanation"');
    for (const label of ['none', 'long', 'tiny', 'xs', '45k params', 'model', 'accuracy (%)', 'chance 10 %', '100', '22.0', '72.0']) expect(t).toContain(label);
    expect(byClass(doc, 'bar')[3].children[0].text).toBe('xs (212k), long: 72.0 ± 1.0 %, 95 % CI 69.5-74.5 (n=3)');
  });

  it('keeps bars within the axes: taller bars for higher accuracy', () => {
    const heights = byClass(doc, 'bar').map((b) => Number(b.attrs.height));
    expect(heights[1]).toBeGreaterThan(heights[0]);
    expect(heights[3]).toBeGreaterThan(heights[2]);
    for (const h of heights) expect(h).toBeGreaterThan(0);
  });

  it('is deterministic', () => {
    expect(barChart([...rows], { title: 'Accuracy <by> model & "explanation"', subtitle: 'listops', x: 'model', series: 'explanation', reference: { value: 0.1, label: 'chance 10 %' } })).toBe(svg);
  });

  it('still renders with no rows', () => {
    expect(texts(parseXml(barChart([], { title: 't', x: 'model', series: 'explanation' })))).toContain('no data yet');
  });
});

describe('xyChart', () => {
  const rows = [
    ...[500, 2000, 8000].flatMap((n, i) => [1, 2].map((seed) => row('xs', 'none', seed, 0.3 + 0.1 * i + 0.02 * seed, { trainSize: n }))),
    ...[1, 2].map((seed) => row('xs', 'medium', seed, 0.7, { trainSize: 500 })),
  ];
  const doc = parseXml(xyChart(rows, { title: 'data size', x: 'trainSize', series: 'explanation' }));

  it('marks a point per series and size, and draws a lone size as a level across', () => {
    expect(byClass(doc, 'point')).toHaveLength(4);
    expect(byClass(doc, 'seed')).toHaveLength(8);
    expect(byClass(doc, 'whisker')).toHaveLength(4);
    const t = texts(doc);
    for (const label of ['500', '2,000', '8,000', 'training examples (log scale)', 'medium at 500: 70.0 %']) expect(t).toContain(label);
    const series = byClass(doc, 'series');
    expect(series.map((s) => s.children[0].name)).toEqual(['polyline', 'line']);
  });

  it('places sizes on a log axis', () => {
    const xs = byClass(doc, 'point').slice(0, 3).map((p) => Number(p.attrs.cx));
    // 500 -> 2000 and 2000 -> 8000 are both a factor of 4
    expect(xs[1] - xs[0]).toBeCloseTo(xs[2] - xs[1], 0);
  });
});

describe('lineChart', () => {
  const records: MetricRecord[] = [];
  for (const explanation of ['none', 'long']) {
    for (const seed of [1, 2]) {
      const cell = `${explanation}-xs-2000-${seed}`;
      for (let step = 1; step <= 500; step++) records.push({ cell, explanation, model: 'xs', trainSize: 2000, seed, step, loss: 3 / step + seed * 0.01, tokensPerSecond: 1e4 });
      for (const step of [100, 200, 300]) records.push({ cell, explanation, model: 'xs', trainSize: 2000, seed, step, valAccuracy: step / 1000 + seed / 100 });
    }
  }

  it('draws a thick mean and thin runs per series', () => {
    const doc = parseXml(lineChart(records, { title: 'Validation accuracy', metric: 'valAccuracy', series: 'explanation', reference: { value: 0.1, label: 'chance' } }));
    expect(byClass(doc, 'mean')).toHaveLength(2);
    expect(byClass(doc, 'run')).toHaveLength(4);
    const t = texts(doc);
    for (const label of ['none', 'long', 'training step', 'validation accuracy (%)', 'chance', 'thick: mean over seeds · thin: single seeds']) expect(t).toContain(label);
    expect(byClass(doc, 'mean')[0].attrs.points.split(' ')).toHaveLength(3);
  });

  it('averages runs at matching steps, a resumed run counting with its later value', () => {
    const resumed: MetricRecord[] = [
      { cell: 'a', explanation: 'none', model: 'xs', trainSize: 1, seed: 1, step: 10, valAccuracy: 0.2 },
      { cell: 'a', explanation: 'none', model: 'xs', trainSize: 1, seed: 1, step: 10, valAccuracy: 0.4 },
      { cell: 'b', explanation: 'none', model: 'xs', trainSize: 1, seed: 2, step: 10, valAccuracy: 0.6 },
    ];
    const doc = parseXml(lineChart(resumed, { title: 't', metric: 'valAccuracy', series: 'explanation' }));
    const meanY = Number(byClass(doc, 'mean')[0].attrs.points.split(',')[1]);
    const runY = byClass(doc, 'run').map((r) => Number(r.attrs.points.split(',')[1]));
    expect(meanY).toBeCloseTo((runY[0] + runY[1]) / 2, 0);
    const only40 = parseXml(lineChart([resumed[1], resumed[2]], { title: 't', metric: 'valAccuracy', series: 'explanation' }));
    expect(byClass(only40, 'mean')[0].attrs.points).toBe(byClass(doc, 'mean')[0].attrs.points);
  });

  it('thins long curves and can put loss on a log scale', () => {
    const svg = lineChart(records, { title: 'Loss', metric: 'loss', series: 'explanation', logY: true, maxPoints: 50 });
    const doc = parseXml(svg);
    for (const m of byClass(doc, 'mean')) expect(m.attrs.points.split(' ').length).toBeLessThanOrEqual(50);
    const t = texts(doc);
    expect(t).toContain('training loss (log scale)');
    expect(t).toEqual(expect.arrayContaining(['0.01', '0.1', '1']));
    expect(lineChart([...records].reverse(), { title: 'Loss', metric: 'loss', series: 'explanation', logY: true, maxPoints: 50 })).toBe(svg);
  });
});

describe('buildReport', () => {
  const spec = { rows: ['model'], columns: 'explanation', chance: 0.1, description: 'Explanations <help>.' };
  const rows = ['tiny', 'xs'].flatMap((m) => ['none', 'short', 'medium', 'long'].flatMap((e, i) => [1, 2].map((seed) => row(m, e, seed, 0.2 + 0.15 * i + seed / 50))));
  const metrics: MetricRecord[] = rows.flatMap((r) => [
    { cell: `${r.explanation}-${r.model}-${r.seed}`, explanation: r.explanation, model: r.model, trainSize: r.trainSize, seed: r.seed, step: 1, loss: 2, tokensPerSecond: 5 },
    { cell: `${r.explanation}-${r.model}-${r.seed}`, explanation: r.explanation, model: r.model, trainSize: r.trainSize, seed: r.seed, step: 2, valAccuracy: r.accuracy },
  ]);
  const report = buildReport({ grid: 'explanations', preset: 'quick', adapter: 'lavapipe <vulkan>', complete: false, rows }, metrics, spec);

  it('writes the table, the charts it links to and the raw rows', () => {
    const names = Object.keys(report);
    expect(names).toEqual([
      'table.md',
      'results.csv',
      'accuracy-by-model.svg',
      'curves-accuracy-model-tiny.svg',
      'curves-loss-model-tiny.svg',
      'curves-accuracy-model-xs.svg',
      'curves-loss-model-xs.svg',
    ]);
    const md = report['table.md'];
    expect(md).toContain('# explanations: preset quick');
    expect(md).toContain('Explanations &lt;help&gt;.');
    expect(md).toContain('Adapter: lavapipe &lt;vulkan&gt;.');
    expect(md).toContain('Still running');
    expect(md).toContain('16 trained models, 16 min of training; 2 seeds per table cell.');
    expect(md).toContain('| model | none | short | medium | long |');
    expect(md).toContain('| tiny (45k) | 23.0 ± 1.4 [10.3, 35.7] n=2 | 38.0 ± 1.4 [25.3, 50.7] n=2 | 53.0 ± 1.4 [40.3, 65.7] n=2 | 68.0 ± 1.4 [55.3, 80.7] n=2 |');
    for (const svg of names.filter((n) => n.endsWith('.svg'))) {
      expect(md).toContain(`](${svg})`);
      expect(parseXml(report[svg]).name).toBe('svg');
    }
    expect(report['results.csv'].trim().split('\n')).toHaveLength(rows.length + 1);
  });

  it('picks charts by what varies', () => {
    const sizes = [500, 2000, 8000].flatMap((n) => [1, 2].flatMap((seed) => ['same depth', 'deeper'].map((test) => row('xs', 'none', seed, 0.5, { trainSize: n, test }))));
    const names = Object.keys(buildReport({ grid: 'g', preset: 'p', adapter: 'a', rows: sizes }, [], { rows: ['explanation', 'trainSize'], columns: 'test' }));
    expect(names).toEqual(['table.md', 'results.csv', 'accuracy-by-train-size-test-same-depth.svg', 'accuracy-by-train-size-test-deeper.svg', 'accuracy-by-test-set-trainsize-500.svg', 'accuracy-by-test-set-trainsize-2000.svg', 'accuracy-by-test-set-trainsize-8000.svg']);
    const single = Object.keys(buildReport({ grid: 'g', preset: 'p', adapter: 'a', rows: [row('xs', 'none', 1, 0.5), row('xs', 'long', 1, 0.9)] }, [], { rows: ['model'], columns: 'explanation' }));
    expect(single).toEqual(['table.md', 'results.csv', 'accuracy.svg']);
  });

  it('splits the table by fields that vary outside the spec', () => {
    const data = [row('xs', 'none', 1, 0.5, { test: 'same depth' }), row('xs', 'none', 1, 0.2, { test: 'deeper' })];
    const md = buildReport({ grid: 'g', preset: 'p', adapter: 'a', rows: data }, [], { rows: ['model'], columns: 'explanation' })['table.md'];
    expect(md).toContain('**Test accuracy (%) · task listops · 2,000 training examples · test set same depth**');
    expect(md).toContain('**Test accuracy (%) · task listops · 2,000 training examples · test set deeper**');
  });

  it('gives the wall-clock time when the results have it', () => {
    const md = buildReport({ grid: 'explanations', preset: 'quick', adapter: 'a', wallSeconds: 1500, rows }, metrics, spec)['table.md'];
    expect(md).toContain('16 trained models, 16 min of training, 25 min wall-clock; 2 seeds per table cell.');
  });

  it('says in a terminal what table.md says, without markdown or charts', () => {
    const text = textReport({ grid: 'explanations', preset: 'quick', adapter: 'lavapipe <vulkan>', complete: false, rows }, spec);
    expect(text.split('\n').slice(0, 9)).toEqual([
      'explanations: preset quick',
      '',
      'Explanations <help>.',
      '',
      'Adapter: lavapipe <vulkan>.',
      '',
      'Still running: this covers the cells finished so far.',
      '',
      '16 trained models, 16 min of training; 2 seeds per table cell.',
    ]);
    expect(text).toMatch(/\ntiny \(45k\) +23\.0 ± 1\.4 \[10\.3, 35\.7\] n=2 +38\.0 ± 1\.4 \[25\.3, 50\.7\] n=2/);
    expect(text).toContain('Guessing scores 10 %.');
    expect(text).not.toMatch(/\*\*|\||\.svg|&lt;/);
  });

  it('says so when nothing has finished', () => {
    const files = buildReport({ grid: 'g', preset: 'p', adapter: 'a', complete: false, rows: [] }, [], spec);
    expect(Object.keys(files)).toEqual(['table.md', 'results.csv']);
    expect(files['table.md']).toContain('No cell has finished yet.');
  });

  it('is deterministic', () => {
    expect(buildReport({ grid: 'explanations', preset: 'quick', adapter: 'lavapipe <vulkan>', complete: false, rows: [...rows] }, [...metrics], spec)).toEqual(report);
  });
});
