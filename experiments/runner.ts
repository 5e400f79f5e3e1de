// Runs a grid: every cell (explanation x model x training size x seed) trained and tested, with
// results written as they come, so an interrupted grid resumes where it stopped and a finished
// one is never overwritten.
//
// Layout of a run folder results/<grid>/<run-id>/:
//   config.json     the resolved grid preset, seeds and adapter
//   metrics.jsonl   one line per training step and per evaluation, of every cell
//   results.json    {grid, preset, adapter, complete, rows: [...]}, rewritten after every cell
//   table.md, *.svg the paper-style table and charts (experiments/report)
//   cells/<cell>/   result.json and samples.json when the cell is done, checkpoint/ while it runs

import { mkdir, readFile, readdir, writeFile, appendFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import * as E from '../engine/index.ts';
import { describeAdapter } from '../engine/device.ts';
import { GPUOutOfMemoryError } from '../engine/runtime.ts';
import { countParameters, withVocab } from '../model/config.ts';
import { T5 } from '../model/t5.ts';
import { WordTokenizer } from '../model/tokenizer.ts';
import { readCheckpointDir, writeCheckpointDir } from '../model/checkpoint-dir.ts';
import { modelFiles } from '../model/checkpoint.ts';
import { encodeExamples, type TextExample } from '../training/data.ts';
import { Trainer, type CheckpointStore, type TrainConfig } from '../training/trainer.ts';
import { parseAnswer } from './tasks/answer.ts';
import { generateSplits, type Example } from './tasks/dataset.ts';
import { cellsOf, type Cell, type Grid, type GridPreset } from './grid.ts';
import { buildReport } from './report/index.ts';
import type { ResultRow } from './report/stats.ts';

export interface RunOptions {
  grid: Grid;
  preset: string;
  seeds?: number;
  /** Results root; the run folder goes under <out>/<grid>/. */
  out: string;
  log?: (line: string) => void;
}

const fmtTime = (s: number) => (s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`);

async function writeAtomic(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

async function readJson(file: string): Promise<any | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return null;
  }
}

/** The unfinished run of the same grid, preset and settings, if one exists. */
async function findUnfinished(root: string, fingerprint: string): Promise<string | null> {
  const names = await readdir(root).catch(() => [] as string[]);
  for (const name of names.sort().reverse()) {
    const config = await readJson(path.join(root, name, 'config.json'));
    const results = await readJson(path.join(root, name, 'results.json'));
    if (config?.fingerprint === fingerprint && !results?.complete) return path.join(root, name);
  }
  return null;
}

function runId(preset: string): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${preset}-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** A new folder that did not exist before: two runs started in the same second get -2, -3... */
async function freshDir(root: string, id: string): Promise<string> {
  await mkdir(root, { recursive: true });
  for (let n = 1; ; n++) {
    const dir = path.join(root, n === 1 ? id : `${id}-${n}`);
    try {
      await mkdir(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

function fsStore(dir: string): CheckpointStore {
  return {
    save: (name, files) => writeCheckpointDir(path.join(dir, name), files),
    load: (name) => readCheckpointDir(path.join(dir, name)),
  };
}

/** The splits of one seed: the same sources for every explanation format, so formats compare on the same data. */
function splitsFor(p: GridPreset, cell: Cell, trainSize: number) {
  const tests = Object.entries(p.tests);
  const base = generateSplits({
    task: cell.task,
    seed: cell.seed,
    sizes: { train: trainSize, validation: p.validationSize, test: 0 },
    options: { ...p.taskOptions, ...p.trainOptions } as never,
    format: cell.explanation,
  });
  const testSets = tests.map(([name, overrides], i) => {
    const s = generateSplits({
      task: cell.task,
      seed: cell.seed * 1000 + i + 1,
      // train here only reserves sources: test sets must not repeat the training data
      sizes: { train: 0, validation: 0, test: p.testSize },
      options: { ...p.taskOptions, ...overrides } as never,
      format: cell.explanation,
    });
    const trainSources = new Set(base.train.map((e) => e.source));
    return { name, examples: s.test.filter((e) => !trainSources.has(e.source)) };
  });
  return { train: base.train, validation: base.validation, tests: testSets };
}

const text = (e: Example): TextExample => ({ source: e.source, target: e.target!, answer: e.answer });

export async function runGrid(o: RunOptions): Promise<string> {
  const log = o.log ?? ((l: string) => console.log(l));
  const p = o.grid.presets[o.preset];
  const seeds = o.seeds ?? p.seeds;
  const engine = await E.initEngine();
  const adapter = describeAdapter(engine.adapter);
  const root = path.join(o.out, o.grid.name);
  const fingerprint = JSON.stringify({ grid: o.grid.name, preset: o.preset, seeds, config: p });
  let dir = await findUnfinished(root, fingerprint);
  if (dir) log(`resuming ${dir}`);
  else {
    dir = await freshDir(root, runId(o.preset));
    await writeAtomic(
      path.join(dir, 'config.json'),
      JSON.stringify({ grid: o.grid.name, preset: o.preset, seeds, adapter, fingerprint, settings: p }, null, 2),
    );
    log(`writing to ${dir}`);
  }

  const cells = cellsOf(p, seeds);
  const rows: ResultRow[] = [];
  const gridStart = performance.now();
  let ranSeconds = 0;
  let ran = 0;
  for (const [ci, cell] of cells.entries()) {
    const cellDir = path.join(dir, 'cells', cell.id);
    const done = await readJson(path.join(cellDir, 'result.json'));
    if (done) {
      rows.push(...done.rows);
      continue;
    }
    const t0 = performance.now();
    const tag = `[${o.grid.name} ${o.preset}] cell ${ci + 1}/${cells.length} ${cell.explanation} ${cell.model} n=${cell.trainSize} seed ${cell.seed}`;
    const cellRows = await runCell(p, cell, cellDir, dir, tag, log, () => {
      const left = cells.length - ci - 1;
      const perCell = ran > 0 ? ranSeconds / ran : NaN;
      return Number.isFinite(perCell) ? ` | grid left ~${fmtTime(perCell * left)}` : '';
    });
    rows.push(...cellRows);
    ran += 1;
    ranSeconds += (performance.now() - t0) / 1000;
    await writeResults(dir, o, p, adapter, rows, false);
  }
  await writeResults(dir, o, p, adapter, rows, true);
  log(`done in ${fmtTime((performance.now() - gridStart) / 1000)}: ${path.join(dir, 'table.md')}`);
  return dir;
}

async function writeResults(dir: string, o: RunOptions, p: GridPreset, adapter: string, rows: ResultRow[], complete: boolean) {
  const results = { grid: o.grid.name, preset: o.preset, adapter, complete, rows };
  await writeAtomic(path.join(dir, 'results.json'), JSON.stringify(results, null, 2));
  const metricsText = await readFile(path.join(dir, 'metrics.jsonl'), 'utf8').catch(() => '');
  const metrics = metricsText.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  const report = buildReport(results, metrics, { ...p.table, chance: p.chance, description: p.description });
  for (const [name, content] of Object.entries(report)) await writeAtomic(path.join(dir, name), content);
}

async function runCell(
  p: GridPreset,
  cell: Cell,
  cellDir: string,
  runDir: string,
  tag: string,
  log: (l: string) => void,
  gridEta: () => string,
): Promise<ResultRow[]> {
  await mkdir(cellDir, { recursive: true });
  const splits = splitsFor(p, cell, cell.trainSize);
  const allTexts = [...splits.train, ...splits.validation, ...splits.tests.flatMap((t) => t.examples)].flatMap((e) => [e.source, e.target!]);
  const tokenizer = WordTokenizer.fromTexts(allTexts);
  const t = p.training;
  const config = withVocab(cell.model, tokenizer.vocabSize);
  if (t.dropout !== undefined) config.dropoutRate = t.dropout;
  const params = countParameters(config);
  log(`${tag}: model ${cell.model}, ${params.toLocaleString('en-US')} parameters, vocabulary ${tokenizer.vocabSize}`);
  const model = T5.init(config, cell.seed);
  const train = encodeExamples(splits.train.map(text), tokenizer);
  const validation = encodeExamples(splits.validation.map(text), tokenizer);
  const stepsPerEpoch = Math.ceil(train.length / t.batchSize);
  // Generation stops at EOS, but an undertrained model may never say it; a little past the
  // longest reference is as far as a right answer can plausibly be.
  const longest = Math.max(...train.map((e) => e.target.length), ...validation.map((e) => e.target.length));
  const maxNewTokens = Math.min(t.maxNewTokens, Math.ceil(longest * 1.25) + 8);
  const trainConfig: TrainConfig = {
    batchSize: t.batchSize,
    maxEpochs: t.epochs,
    maxSteps: t.maxSteps,
    schedule:
      t.schedule === 'constant'
        ? { type: 'constant', lr: t.lr }
        : t.schedule === 'linear'
          ? { type: 'linear', lr: t.lr, warmupSteps: t.warmupSteps ?? 0, totalSteps: 0 }
          : { type: 'step', lr: t.lr, stepsPerEpoch, everyEpochs: t.decayEveryEpochs ?? 2 },
    weightDecay: t.weightDecay,
    maxGradNorm: t.maxGradNorm,
    evalEvery: t.evalEvery,
    patience: t.patience,
    checkpointEvery: t.evalEvery,
    maxNewTokens,
    seed: cell.seed,
  };
  const trainer = new Trainer(model, tokenizer, train, validation, parseAnswer, trainConfig);
  const store = fsStore(cellDir);
  if (await trainer.resume(store, 'checkpoint')) log(`${tag}: resumed at step ${trainer.step}`);
  const metricsFile = path.join(runDir, 'metrics.jsonl');
  const key = { cell: cell.id, explanation: cell.explanation, model: cell.model, trainSize: cell.trainSize, seed: cell.seed };
  let lastPrint = 0;
  const result = await trainer
    .run({
      store: { save: (_, files) => store.save('checkpoint', files), load: () => store.load('checkpoint') },
      onProgress: async (pr) => {
        await appendFile(metricsFile, JSON.stringify({ ...key, step: pr.step, loss: pr.loss, lr: pr.lr, gradNorm: pr.gradNorm, tokensPerSecond: pr.tokensPerSecond }) + '\n');
        const now = performance.now();
        if (now - lastPrint > 5000 || pr.step === pr.totalSteps) {
          lastPrint = now;
          const acc = pr.valAccuracy === null ? '' : ` val ${(pr.valAccuracy * 100).toFixed(1)}%`;
          log(`${tag}: step ${pr.step}/${pr.totalSteps} loss ${pr.loss.toFixed(3)} ${Math.round(pr.tokensPerSecond)} tok/s${acc} | cell left ~${fmtTime(pr.etaSeconds)}${gridEta()}`);
        }
      },
      onEval: async (r) => {
        await appendFile(metricsFile, JSON.stringify({ ...key, step: r.step, valAccuracy: r.valAccuracy }) + '\n');
        log(`${tag}: step ${r.step} validation accuracy ${(r.valAccuracy * 100).toFixed(1)}%${r.best ? ' (best)' : ''}`);
      },
    })
    .catch((e) => {
      if (e instanceof GPUOutOfMemoryError) {
        throw new GPUOutOfMemoryError(`${tag}: ${e.message} Here: lower training.batchSize (${t.batchSize}) or use a smaller model than ${cell.model}.`);
      }
      throw e;
    });
  await trainer.restoreBest();
  const rows: ResultRow[] = [];
  const samples: unknown[] = [];
  for (const test of splits.tests) {
    const r = await trainer.evaluate(encodeExamples(test.examples.map(text), tokenizer));
    rows.push({ task: cell.task, explanation: cell.explanation, model: cell.model, trainSize: cell.trainSize, seed: cell.seed, test: test.name, accuracy: r.accuracy, steps: result.steps, seconds: result.seconds, params });
    samples.push(...r.predictions.slice(0, 5).map((pr) => ({ test: test.name, source: test.examples[pr.index].source, reference: test.examples[pr.index].target, generated: pr.generated, correct: pr.correct })));
    log(`${tag}: test ${test.name} accuracy ${(r.accuracy * 100).toFixed(1)}% (${r.correct}/${r.total})`);
  }
  // The trained model (best validation weights) stays, ready for `model/cli.ts generate`; the
  // training checkpoint, three times its size with the optimizer state, goes once the result is safe.
  await writeCheckpointDir(path.join(cellDir, 'model'), await modelFiles(model, tokenizer));
  trainer.optimizer.dispose();
  model.dispose();
  await writeAtomic(path.join(cellDir, 'samples.json'), JSON.stringify(samples, null, 2));
  await writeAtomic(path.join(cellDir, 'result.json'), JSON.stringify({ cell, rows }, null, 2));
  await rm(path.join(cellDir, 'checkpoint'), { recursive: true, force: true });
  return rows;
}
