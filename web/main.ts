// The page: a one-click comparison of no against medium explanations, custom settings for single
// runs, controls, live charts, samples and the comparison of runs. Training itself happens in
// web/worker.ts; this thread only draws what the worker reports.

import type { Sample } from '../experiments/cell.ts';
import { lineChart, seriesStyles, statistics, tableCells, type MetricRecord, type ResultRow, type TableSpec } from '../experiments/report/index.ts';
import { statisticsSections } from '../experiments/report/statistics-tables.ts';
import { modelParams } from '../experiments/report/stats.ts';
import { formatParams } from '../experiments/report/table.ts';
import { countParameters, withVocab } from '../model/config.ts';
import type { CheckpointFiles } from '../model/checkpoint.ts';
import type { Progress } from '../training/trainer.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import { COMPARED, COMPARISON_DEFAULTS, EXPLANATIONS, HUB_MODELS, MODELS, PRETRAIN_STEPS, SCALES, TASKS, checkSettings, gridDefaults, presetFor, pretrainedLabel, stepsOf, type RunSettings } from './settings.ts';
import { packTar, unpackTar } from './tar.ts';

interface Run {
  id: number;
  settings: RunSettings;
  mode: 'train' | 'evaluate' | 'pretrain';
  /** The pretrained model it fine-tunes, as its rows name it. */
  init?: string;
  /** What a finished pretraining restored of its held-out texts. */
  note?: string;
  /** Its place in a comparison (1-based), if it is one of the comparison's runs. */
  arm?: { index: number; count: number };
  status: 'running' | 'paused' | 'stopping' | 'done' | 'failed';
  metrics: MetricRecord[];
  rows: ResultRow[];
  progress?: Progress;
  checkpoint?: CheckpointFiles;
  error?: string;
  /** What Stop does to it and the comparison, kept so that later progress lines still say it. */
  stopping?: string;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('settings');
const buttons = {
  compare: $<HTMLButtonElement>('compare'),
  start: $<HTMLButtonElement>('start'),
  pause: $<HTMLButtonElement>('pause'),
  stop: $<HTMLButtonElement>('stop'),
  continue: $<HTMLButtonElement>('continue'),
  evaluate: $<HTMLButtonElement>('evaluate'),
  pretrain: $<HTMLButtonElement>('pretrain'),
  comparePretrained: $<HTMLButtonElement>('compare-pretrained'),
  results: $<HTMLButtonElement>('download-results'),
  metrics: $<HTMLButtonElement>('download-metrics'),
};
const status = $('status');

const runs: Run[] = [];
let current: Run | null = null;
/** The comparison's runs still to start after the current one; Stop and failures drop them. */
let pending: { settings: RunSettings; arm: NonNullable<Run['arm']>; from?: CheckpointFiles; init?: string }[] = [];
let adapter = '';
let gpuReady = false;
let loaded: CheckpointFiles | null = null;
/** The model the last pretraining made (or a loaded .tar with a pretraining.json), and its rows' name for it. */
let pretrained: { files: CheckpointFiles; label: string } | null = null;
const pretrainSteps = $<HTMLInputElement>('pretrain-steps');
pretrainSteps.value = String(PRETRAIN_STEPS);

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (m: ToWorker) => worker.postMessage(m);

// ---- settings form ---------------------------------------------------------------------------

const taskLabel = (name: string) => TASKS.find((t) => t.name === name)?.label ?? name;
// Sizes at a typical task vocabulary (about 60 words), to say roughly how big each choice is.
const modelLabel = (m: (typeof MODELS)[number]) => `${m} (~${formatParams(countParameters(withVocab(m, 60)))} parameters)`;

function fillSelect(name: string, options: readonly { value: string; label: string }[]): void {
  const select = form.elements.namedItem(name) as HTMLSelectElement;
  select.replaceChildren(...options.map((o) => new Option(o.label, o.value)));
}

fillSelect('task', TASKS.map((t) => ({ value: t.name, label: t.label })));
fillSelect('explanation', EXPLANATIONS.map((e) => ({ value: e, label: e })));
fillSelect('model', [...MODELS.map((m) => ({ value: m, label: modelLabel(m) })), ...HUB_MODELS.map((m) => ({ value: m, label: `${m} (pretrained; needs a real GPU)` }))]);
fillSelect('scale', SCALES.map((s) => ({ value: s.name, label: s.label })));

// The form starts at the comparison's settings, so the first click runs the comparison as described.
const DEFAULTS = COMPARISON_DEFAULTS;

function readForm(): RunSettings {
  return checkSettings(Object.fromEntries(new FormData(form)), DEFAULTS);
}

function writeForm(s: RunSettings): void {
  // A Hub model given in the URL joins the list.
  const models = form.elements.namedItem('model') as HTMLSelectElement;
  if (![...models.options].some((o) => o.value === s.model)) models.add(new Option(`${s.model} (pretrained)`, s.model));
  for (const [k, v] of Object.entries(s)) (form.elements.namedItem(k) as HTMLInputElement).value = String(v);
}

// URL parameters (?task=modsum&scale=quick&trainSize=500...) preset the form, so a run can be linked.
const params = Object.fromEntries(new URLSearchParams(location.search));
// Where hf: models come from: the Hub, or a mirror or stand-in given as ?hfEndpoint=URL.
const hubEndpoint = params.hfEndpoint || undefined;
const chosen = checkSettings(params, DEFAULTS);
// Sizes not given follow the task and setting given, not the defaults'.
const sameGrid = chosen.task === DEFAULTS.task && chosen.scale === DEFAULTS.scale;
writeForm(checkSettings(params, sameGrid ? chosen : { ...chosen, ...gridDefaults(chosen) }));
// A link that sets the run shows the settings it set.
if (Object.keys(params).some((k) => k in DEFAULTS)) $<HTMLDetailsElement>('custom').open = true;

form.addEventListener('change', (ev) => {
  const name = (ev.target as HTMLInputElement).name;
  // A new task or setting brings the grid's training-set size and evaluation interval for it.
  if (name === 'task' || name === 'scale') writeForm({ ...readForm(), ...gridDefaults(readForm()) });
  renderPlan();
});

/** Says what one click on Compare trains, from the form; how long only at the defaults, the settings it was estimated for. */
function renderPlan(): void {
  const s = readForm();
  const model = (MODELS as readonly string[]).includes(s.model) ? `a T5 of size ${modelLabel(s.model as (typeof MODELS)[number])} from scratch` : `the pretrained ${s.model}`;
  const [plain, explained] = COMPARED;
  const atDefaults = (['task', 'model', 'scale', 'trainSize', 'evalEvery'] as const).every((k) => s[k] === DEFAULTS[k]);
  // Estimated from the engine's ~30 ms a training step on a GPU (BENCHMARKS.md), not timed on a laptop;
  // the software adapter was timed: ~2.5 s a step in headless Chromium on 2 cores.
  const progress = 'the line under the buttons shows which run is training, its step, loss and time left.';
  const time = atDefaults ? ` At these settings that should take a few minutes on a laptop GPU, and well over an hour without one, where the browser runs WebGPU on the CPU; ${progress}` : ` As it runs, ${progress}`;
  $('plan').textContent =
    `One click trains ${model} on ${s.trainSize.toLocaleString('en-US')} ${taskLabel(s.task)} examples for ${stepsOf(s).toLocaleString('en-US')} steps, ` +
    `twice on the same examples and seed: first with bare answers ("${plain}"), then with ${explained} explanations (the working, step by step, ` +
    `before the answer, as in Ballout et al.). Both are tested on the same ${presetFor(s).testSize} new expressions; their curves share the charts ` +
    `below and the results table sets them side by side.${time}`;
}
renderPlan();

// ---- controls --------------------------------------------------------------------------------

function updateButtons(): void {
  const busy = current !== null;
  buttons.compare.disabled = !gpuReady || busy;
  buttons.start.disabled = !gpuReady || busy;
  buttons.continue.disabled = !gpuReady || busy || !loaded;
  buttons.evaluate.disabled = !gpuReady || busy || !loaded;
  buttons.pretrain.disabled = !gpuReady || busy;
  buttons.comparePretrained.disabled = !gpuReady || busy || !pretrained;
  buttons.pause.disabled = !current || current.mode === 'evaluate' || current.status === 'stopping';
  buttons.pause.textContent = current?.status === 'paused' ? 'Resume' : 'Pause';
  buttons.stop.disabled = !current || current.mode === 'evaluate' || current.status === 'stopping';
  buttons.results.disabled = !runs.some((r) => r.rows.length > 0);
  buttons.metrics.disabled = !runs.some((r) => r.metrics.length > 0);
}

/** "Run 3", "Run 3 · pretraining" or, in a comparison, "Run 3 · medium, arm 2 of 2". */
const runName = (r: Run) =>
  r.mode === 'pretrain' ? `Run ${r.id} · pretraining` : r.arm ? `Run ${r.id} · ${r.settings.explanation}${r.init ? ' from the pretrained model' : ''}, arm ${r.arm.index} of ${r.arm.count}` : `Run ${r.id}`;

function addRun(settings: RunSettings, mode: Run['mode'], o: { arm?: Run['arm']; init?: string } = {}): Run {
  const run: Run = { id: runs.length + 1, settings, mode, arm: o.arm, init: o.init, status: 'running', metrics: [], rows: [] };
  runs.push(run);
  current = run;
  return run;
}

function start(settings: RunSettings, mode: 'train' | 'evaluate', o: { from?: CheckpointFiles; arm?: Run['arm']; init?: string } = {}): void {
  const run = addRun(settings, mode, o);
  status.textContent = mode === 'train' ? `${runName(run)}: preparing data and model…` : `${runName(run)}: evaluating the checkpoint…`;
  send({ type: 'start', id: run.id, settings, mode, from: o.from, init: o.init, hubEndpoint });
  renderAll();
}

/** Trains the form's settings once per compared explanation, one run after the other; with
 *  `from`, each fine-tunes that pretrained model. */
function compare(from?: { files: CheckpointFiles; label: string }): void {
  const s = readForm();
  const [first, ...rest] = COMPARED.map((explanation, i) => ({ settings: { ...s, explanation }, arm: { index: i + 1, count: COMPARED.length }, ...(from && { from: from.files, init: from.label }) }));
  pending = rest;
  start(first.settings, 'train', first);
}

/** Pretrains a fresh model of the form's size on its task's sources (web/worker.ts). */
function startPretraining(): void {
  const steps = Number(pretrainSteps.value);
  if (!Number.isInteger(steps) || steps < 1) {
    status.textContent = `Pretraining steps must be a whole number of at least 1, not "${pretrainSteps.value}".`;
    return;
  }
  const run = addRun(readForm(), 'pretrain');
  status.textContent = `${runName(run)}: drawing the task's sources and corrupting their spans…`;
  send({ type: 'pretrain', id: run.id, settings: run.settings, steps });
  renderAll();
}

buttons.compare.addEventListener('click', () => compare());
buttons.comparePretrained.addEventListener('click', () => compare(pretrained!));
buttons.pretrain.addEventListener('click', startPretraining);
buttons.start.addEventListener('click', () => start(readForm(), 'train'));
// A loaded pretrained model fine-tunes under its own name, as Compare from the pretrained model does.
buttons.continue.addEventListener('click', () => start(readForm(), 'train', { from: loaded!, ...(pretrained?.files === loaded && { init: pretrained.label }) }));
buttons.evaluate.addEventListener('click', () => start(readForm(), 'evaluate', { from: loaded! }));
buttons.pause.addEventListener('click', () => {
  if (!current) return;
  const pausing = current.status !== 'paused';
  send({ type: pausing ? 'pause' : 'resume' });
  current.status = pausing ? 'paused' : 'running';
  status.textContent = pausing ? `${runName(current)}: paused after step ${current.progress?.step ?? 0}.` : `${runName(current)}: resumed.`;
  renderAll();
});
buttons.stop.addEventListener('click', () => {
  if (!current) return;
  send({ type: 'stop' });
  current.status = 'stopping';
  // Stop ends the whole comparison: the run under way is still tested, the rest never start.
  const dropped = pending.length ? `; ${pending.map((p) => p.settings.explanation).join(', ')} will not run` : '';
  pending = [];
  current.stopping = current.mode === 'pretrain' ? 'stopping after this step; the model keeps the weights of that step' : `stopping after this step, then testing${dropped}`;
  status.textContent = `${runName(current)}: ${current.stopping}…`;
  renderAll();
});

$<HTMLInputElement>('checkpoint-file').addEventListener('change', async (ev) => {
  const file = (ev.target as HTMLInputElement).files?.[0];
  if (!file) return;
  try {
    const files = unpackTar(new Uint8Array(await file.arrayBuffer()));
    if (!files['model.safetensors']) throw new Error('no model.safetensors in it');
    loaded = files;
    // A model folder from pretraining (this page's or `npm run pretrain`'s, packed) can be compared from.
    if (files['pretraining.json']) pretrained = { files, label: pretrainedLabel(JSON.parse(new TextDecoder().decode(files['pretraining.json']))) };
    // A checkpoint from this page names its settings; the form takes them so the data match.
    if (files['run.json']) writeForm(checkSettings(JSON.parse(new TextDecoder().decode(files['run.json'])), readForm()));
    const kind = files['trainer.json'] ? 'a training checkpoint (continues exactly)' : files['pretraining.json'] ? 'a pretrained model (Compare from the pretrained model fine-tunes it)' : 'model weights (training restarts from them)';
    status.textContent = `Loaded ${file.name}: ${kind}; files ${Object.keys(files).join(', ')}.`;
  } catch (e) {
    loaded = null;
    status.textContent = `Could not read ${file.name} as a checkpoint: ${(e as Error).message}`;
  }
  updateButtons();
});

function download(name: string, data: Uint8Array | string, type: string): void {
  const url = URL.createObjectURL(new Blob([data as BlobPart], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The same shape as results.json of `npm run experiment`. */
function resultsJson(): string {
  const rows = runs.flatMap((r) => r.rows);
  const presets = [...new Set(runs.filter((r) => r.rows.length).map((r) => r.settings.scale))];
  return JSON.stringify({ grid: 'browser', preset: presets.join('+'), adapter, complete: current === null, rows }, null, 2);
}

buttons.results.addEventListener('click', () => download('results.json', resultsJson(), 'application/json'));
// One line per training step and per evaluation, as metrics.jsonl of `npm run experiment`.
buttons.metrics.addEventListener('click', () => download('metrics.jsonl', runs.flatMap((r) => r.metrics.map((m) => JSON.stringify(m) + '\n')).join(''), 'application/x-ndjson'));

// ---- worker messages -------------------------------------------------------------------------

const fmtSeconds = (s: number) => (s >= 90 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`);
const percent = (x: number) => `${(x * 100).toFixed(1)}%`;

worker.onmessage = (ev: MessageEvent<FromWorker>) => {
  const m = ev.data;
  if (m.type === 'ready') {
    adapter = m.adapter;
    gpuReady = true;
    $('adapter').textContent = `WebGPU adapter: ${m.adapter}`;
    updateButtons();
    return;
  }
  if (m.type === 'unavailable') {
    $('adapter').textContent = 'WebGPU adapter: none';
    const box = $('gpu-error');
    box.hidden = false;
    box.textContent = `Training needs WebGPU, and this browser could not provide it. ${m.message}`;
    status.textContent = 'WebGPU is unavailable; nothing can run here.';
    return;
  }
  const run = runs.find((r) => r.id === m.id);
  if (!run) return;
  switch (m.type) {
    case 'log':
      status.textContent = `${runName(run)}: ${m.line}`;
      return;
    case 'progress': {
      run.progress = m.progress;
      run.metrics.push(m.record);
      const p = m.progress;
      const acc = p.valAccuracy === null ? '' : ` · validation ${percent(p.valAccuracy)}`;
      const next = pending.length ? ` in this run, then ${pending.map((n) => n.settings.explanation).join(', ')}` : '';
      const state = run.status === 'paused' ? ' · paused' : run.status === 'stopping' ? ` · ${run.stopping}` : ` · ~${fmtSeconds(p.etaSeconds)} left${next}`;
      status.textContent = `${runName(run)}: step ${p.step}/${p.totalSteps} · loss ${p.loss.toFixed(3)} · ${Math.round(p.tokensPerSecond)} tokens/s${acc}${state}`;
      scheduleRender();
      return;
    }
    case 'eval':
      run.metrics.push(m.record);
      if (run.mode === 'pretrain') {
        status.textContent = `${runName(run)}: step ${m.record.step} · held-out texts whose corrupted spans it restores exactly: ${percent(m.record.valAccuracy!)}`;
        scheduleRender();
        return;
      }
      renderSamples(m.samples, `Validation at step ${m.record.step} of run ${run.id}, ${run.settings.explanation} explanations (accuracy ${percent(m.record.valAccuracy!)})`);
      scheduleRender();
      return;
    case 'done': {
      run.rows = m.rows;
      run.checkpoint = m.checkpoint;
      run.status = 'done';
      current = null;
      status.textContent = `${runName(run)} done: ${m.rows.map((r) => `${r.test} ${percent(r.accuracy)}`).join(', ')} after ${m.rows[0]?.steps ?? 0} steps.`;
      if (run.arm && run.arm.index === run.arm.count) {
        // Run ids count from 1 in start order, so the comparison's runs are the last arm.count.
        const arms = runs.slice(run.id - run.arm.count, run.id);
        const results = arms.map((a) => `${a.settings.explanation} ${a.rows.map((r) => percent(r.accuracy)).join(', ')} after ${a.rows[0]?.steps ?? 0} steps`);
        status.textContent = `Comparison done, test accuracy: ${results.join('; ')}.`;
      }
      renderSamples(m.samples, `Test set of run ${run.id}, ${run.settings.explanation} explanations`);
      const next = pending.shift();
      if (next) start(next.settings, 'train', next);
      else renderAll();
      return;
    }
    case 'pretrained': {
      const info = JSON.parse(new TextDecoder().decode(m.files['pretraining.json']));
      pretrained = { files: m.files, label: pretrainedLabel(info) };
      run.checkpoint = m.files;
      run.status = 'done';
      run.note = m.validationAccuracy === null ? 'not validated' : `spans restored ${percent(m.validationAccuracy)}`;
      current = null;
      const stopped = info.complete ? '' : ` (stopped before its ${info.settings.steps})`;
      status.textContent = `${runName(run)} done: ${m.steps} steps${stopped} in ${fmtSeconds(m.seconds)}, ${run.note} of held-out texts. "Compare from the pretrained model" fine-tunes it with and without explanations.`;
      renderAll();
      return;
    }
    case 'failed':
      run.status = 'failed';
      run.error = m.message;
      current = null;
      pending = [];
      status.textContent = `${runName(run)} failed: ${m.message}`;
      renderAll();
      return;
  }
};
worker.onerror = (ev) => {
  status.textContent = `The training worker crashed: ${ev.message}`;
  if (current) {
    current.status = 'failed';
    current.error = ev.message;
    current = null;
  }
  pending = [];
  renderAll();
};
send({ type: 'init' });

// ---- drawing ---------------------------------------------------------------------------------

/** A run from a pretrained model draws as its own series beside the same explanation's runs from scratch. */
const FROM_PRETRAINED = ' (pretrained)';
const styles = seriesStyles([...EXPLANATIONS, 'pretraining', ...EXPLANATIONS.map((e) => e + FROM_PRETRAINED)]);
const seriesOf = (r: MetricRecord): MetricRecord => (r.init && r.init !== 'scratch' ? { ...r, explanation: r.explanation + FROM_PRETRAINED } : r);
let frameQueued = false;

/** Charts and the runs table redraw at most once a frame however fast steps arrive. */
function scheduleRender(): void {
  if (frameQueued) return;
  frameQueued = true;
  requestAnimationFrame(() => {
    frameQueued = false;
    renderCharts();
    renderRuns();
  });
}

/** Curves of the shown run and of every run it compares with (same task, model and data): one line per explanation, as in the report. */
function renderCharts(): void {
  const shown = current ?? runs.at(-1);
  const s = shown?.settings ?? readForm();
  const peers = runs.filter((r) => r.settings.task === s.task && r.settings.model === s.model && r.settings.trainSize === s.trainSize && r.settings.scale === s.scale);
  const records = peers.flatMap((r) => r.metrics.map(seriesOf));
  const subtitle = `${taskLabel(s.task)} · model ${s.model} · ${s.trainSize} training examples · setting ${s.scale}`;
  const chance = presetFor(s).chance;
  const draw = (id: string, metric: 'loss' | 'valAccuracy', title: string, empty: string) => {
    const el = $(id);
    // Pretraining's validation restores spans, not answers: it stays off the accuracy chart.
    const shown = metric === 'valAccuracy' ? records.filter((r) => r.explanation !== 'pretraining') : records;
    if (!shown.some((r) => r[metric] !== undefined)) {
      el.innerHTML = `<p class="placeholder">${empty}</p>`;
      return;
    }
    const reference = metric === 'valAccuracy' && chance !== undefined ? { value: chance, label: `chance ${Number((chance * 100).toFixed(1))} %` } : undefined;
    el.innerHTML = lineChart(shown, { title, subtitle, metric, series: 'explanation', logY: metric === 'loss', reference, styles });
  };
  draw('loss-chart', 'loss', 'Training loss', 'The training loss appears here from the first step.');
  draw('accuracy-chart', 'valAccuracy', 'Validation accuracy during training', 'Validation accuracy appears here after the first evaluation.');
}

function cellsRow(tag: 'td' | 'th', cells: readonly (string | Node)[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const el = document.createElement(tag);
    el.append(c);
    tr.append(el);
  }
  return tr;
}

function renderSamples(samples: readonly Sample[], caption: string): void {
  $('samples-note').textContent = caption;
  $('samples').replaceChildren(
    cellsRow('th', ['input', 'reference', 'generated', '']),
    ...samples.map((s) => {
      const tr = cellsRow('td', [s.source, s.reference, s.generated, s.correct ? '✓' : '✗']);
      tr.className = s.correct ? 'correct' : 'wrong';
      return tr;
    }),
  );
}

/** The paper's table over every finished run: lines by task, model and data, a column per explanation. */
function renderComparison(): void {
  const rows = runs.flatMap((r) => r.rows);
  const table = $('comparison');
  if (rows.length === 0) {
    table.replaceChildren();
    renderStatistics([]);
    return;
  }
  const several = (field: 'test' | 'init') => (new Set(rows.map((r) => r[field])).size > 1 ? [field] : []);
  const spec: TableSpec = { rows: ['task', ...several('init'), 'model', 'trainSize', ...several('test')], columns: 'explanation' };
  const t = tableCells(rows, spec);
  table.replaceChildren(cellsRow('th', t.header), ...t.lines.map((l) => cellsRow('td', l)));
  renderStatistics(rows);
}

/** Under the table: each explained run against the plain one of the same data and seed (the
 *  example-level interval: one seed has no seed-level one), and the baselines of the test set. */
function renderStatistics(rows: readonly ResultRow[]): void {
  const sections = rows.length === 0 ? [] : statisticsSections(statistics(rows), modelParams(rows)).filter((s) => !s.breakdown);
  $('statistics').replaceChildren(
    ...sections.flatMap((sec) => {
      const caption = document.createElement('h3');
      caption.textContent = sec.title;
      const table = document.createElement('table');
      table.className = 'comparison';
      table.replaceChildren(cellsRow('th', sec.cells.header), ...sec.cells.lines.map((l) => cellsRow('td', l)));
      const nodes: Node[] = [caption, table];
      if (sec.note) {
        const note = document.createElement('p');
        note.className = 'note';
        note.textContent = sec.note;
        nodes.push(note);
      }
      return nodes;
    }),
  );
}

function renderRuns(): void {
  const table = $('runs');
  if (runs.length === 0) {
    table.replaceChildren();
    return;
  }
  table.replaceChildren(
    cellsRow('th', ['run', 'task', 'explanation', 'model', 'training examples', 'seed', 'setting', 'status', 'steps', 'time', 'test accuracy', 'checkpoint']),
    ...runs.map((r) => {
      const s = r.settings;
      const steps = r.rows[0]?.steps ?? r.progress?.step ?? 0;
      const seconds = r.rows[0]?.seconds ?? r.progress?.elapsedSeconds ?? 0;
      const accuracy = r.rows.map((x) => `${x.test} ${percent(x.accuracy)}`).join(', ') || r.note || (r.error ? `error: ${r.error}` : '…');
      let link: string | Node = '';
      if (r.checkpoint) {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = 'Download .tar';
        const files = r.checkpoint;
        const name = r.mode === 'pretrain' ? `run${r.id}-pretrained-${s.task}-${s.model}-seed${s.seed}.tar` : `run${r.id}-${s.task}-${s.explanation}-${s.model}-n${s.trainSize}-seed${s.seed}.tar`;
        b.addEventListener('click', () => download(name, packTar(files), 'application/x-tar'));
        link = b;
      }
      const label = r.mode === 'evaluate' ? `${r.status} (evaluated)` : r.mode === 'pretrain' ? `${r.status} (pretraining)` : r.status;
      const model = r.init ? `${s.model}, ${r.init}` : s.model;
      return cellsRow('td', [String(r.id), taskLabel(s.task), r.mode === 'pretrain' ? 'pretraining' : s.explanation, model, String(s.trainSize), String(s.seed), s.scale, label, String(steps), fmtSeconds(seconds), accuracy, link]);
    }),
  );
}

function renderAll(): void {
  updateButtons();
  renderCharts();
  renderComparison();
  renderRuns();
}

renderAll();
