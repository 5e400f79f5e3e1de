// One cell of a grid, with no file system: its data, tokenizer, model and trainer, and its test
// evaluation. experiments/train-cell.ts adds the folders, checkpoints on disk and logs; the browser
// page (web/) runs the same code in a worker, so both train and score a cell identically.

import { countParameters, describeSize, sizeOf, withVocab, type PresetName } from '../model/config.ts';
import { loadModel, type CheckpointFiles } from '../model/checkpoint.ts';
import { isHubRef } from '../model/hub-ref.ts';
import { coverage, describeCoverage } from '../model/tokenizer-coverage.ts';
import { T5 } from '../model/t5.ts';
import { WordTokenizer, type Tokenizer } from '../model/tokenizer.ts';
import { encodeExamples, type EncodedExample, type TextExample } from '../training/data.ts';
import type { EvalResult } from '../training/evaluate.ts';
import { stepCounts } from '../training/schedule.ts';
import { Trainer, type EvalRecord, type Progress, type TrainConfig, type TrainResult } from '../training/trainer.ts';
import { parseAnswer } from './tasks/answer.ts';
import { createTask, generateSplits, type Example, type Task } from './tasks/dataset.ts';
import { SCRATCH, trainingOf, type Cell, type GridPreset } from './grid.ts';
import type { Baselines, Breakdown, MetricRecord, ResultRow } from './report/stats.ts';

export interface CellSplits {
  train: Example[];
  validation: Example[];
  /** Each test set with the task as it generated it (for its baselines). */
  tests: { name: string; examples: Example[]; task: Task }[];
}

/** One test example's line of predictions.jsonl: what the model wrote and how it was scored. */
export interface PredictionLine {
  test: string;
  source: string;
  reference: string;
  generated: string;
  answer: number;
  /** The final answer parsed from `generated`; null when none could be read. */
  predicted: number | null;
  correct: boolean;
  depth: number;
  /** The root operator (ListOps). */
  root?: string;
}

/** A generated explanation next to its reference, as samples.json keeps them. */
export interface Sample {
  test: string;
  source: string;
  reference: string;
  generated: string;
  correct: boolean;
}

export interface PreparedCell {
  splits: CellSplits;
  tokenizer: Tokenizer;
  model: T5;
  params: number;
  trainer: Trainer;
  /** What a log should say about the data and tokenizer: vocabulary coverage, truncation. */
  notes: string[];
}

/** The splits of one seed: the same sources for every explanation format, so formats compare on
 *  the same data. (Pretraining draws none of their validation and test sources: experiments/pretrain/data.ts.) */
export function splitsFor(p: GridPreset, cell: Pick<Cell, 'task' | 'seed' | 'trainSize' | 'explanation'>): CellSplits {
  const tests = Object.entries(p.tests);
  const base = generateSplits({
    task: cell.task,
    seed: cell.seed,
    sizes: { train: cell.trainSize, validation: p.validationSize, test: 0 },
    options: { ...p.taskOptions, ...p.trainOptions } as never,
    format: cell.explanation,
  });
  // Test sets hold no source of the training or validation split, and exactly testSize examples.
  const seen = new Set([...base.train, ...base.validation].map((e) => e.source));
  const testSets = tests.map(([name, overrides], i) => {
    const s = generateSplits({
      task: cell.task,
      seed: cell.seed * 1000 + i + 1,
      sizes: { train: 0, validation: 0, test: p.testSize },
      options: { ...p.taskOptions, ...overrides } as never,
      format: cell.explanation,
      exclude: seen,
    });
    const task = createTask(cell.task, { ...p.taskOptions, ...overrides } as never);
    return { name, examples: s.test, task };
  });
  return { train: base.train, validation: base.validation, tests: testSets };
}

const text = (e: Example): TextExample => ({ source: e.source, target: e.target!, answer: e.answer });

/** What each metrics.jsonl line carries to say which cell it belongs to. */
const cellKey = (cell: Cell) => ({ cell: cell.id, init: cell.init ?? SCRATCH, explanation: cell.explanation, model: cell.model, trainSize: cell.trainSize, seed: cell.seed });

/** The metrics.jsonl line of a training step. */
export function stepRecord(cell: Cell, p: Progress): MetricRecord & { lr: number; gradNorm: number } {
  return { ...cellKey(cell), step: p.step, loss: p.loss, lr: p.lr, gradNorm: p.gradNorm, tokensPerSecond: p.tokensPerSecond };
}

/** The metrics.jsonl line of a validation evaluation. */
export function evalRecord(cell: Cell, r: EvalRecord): MetricRecord {
  return { ...cellKey(cell), step: r.step, valAccuracy: r.valAccuracy };
}

/** Cuts ids to `max` tokens, keeping the last one (</s>), as a tokenizer's truncation does. */
function truncate(examples: EncodedExample[], max: number | undefined): { examples: EncodedExample[]; cut: number } {
  if (max === undefined) return { examples, cut: 0 };
  let cut = 0;
  const fit = (ids: number[]) => (ids.length <= max ? ids : (cut++, [...ids.slice(0, max - 1), ids[ids.length - 1]]));
  return { examples: examples.map((e) => ({ ...e, source: fit(e.source), target: fit(e.target) })), cut };
}

/**
 * The cell's data, tokenizer, model and trainer, ready to run. With `from` (checkpoint files),
 * the model and tokenizer are the checkpoint's; a cell whose model is a Hub reference needs them
 * (the caller downloads them), and its texts are encoded with the checkpoint's own tokenizer, as
 * the authors fine-tuned T5. So does a cell with an `init` (a pretrained model folder or Hub
 * model), whose checkpoint must be of the cell's model size; the arm's dropout applies to it.
 */
export function prepareCell(p: GridPreset, cell: Cell, from?: CheckpointFiles): PreparedCell {
  const splits = splitsFor(p, cell);
  const t = trainingOf(p, cell);
  const notes: string[] = [];
  let tokenizer: Tokenizer;
  let model: T5;
  if (isHubRef(cell.model) && !from) throw new Error(`cell ${cell.id}: the model ${cell.model} must be downloaded first and passed as checkpoint files`);
  if (cell.init && !from) throw new Error(`cell ${cell.id}: the pretrained model ${cell.init} must be read first and passed as checkpoint files`);
  if (from) {
    const where = cell.init ?? 'checkpoint';
    const loaded = loadModel(from, where);
    if (!loaded.tokenizer) {
      loaded.model.dispose();
      throw new Error(`${where}: no tokenizer.json or spiece.model`);
    }
    model = loaded.model;
    tokenizer = loaded.tokenizer;
    if (cell.init) {
      if (sizeOf(model.config) !== cell.model) {
        model.dispose();
        throw new Error(`${where}/config.json: the model there is of size ${describeSize(model.config)}, but the cell's model is ${cell.model}; give the arm the model size of its init`);
      }
      if (t.dropout !== undefined) model.config.dropoutRate = t.dropout;
    }
    const texts = [...splits.train, ...splits.validation, ...splits.tests.flatMap((s) => s.examples)].flatMap((e) => [e.source, e.target!]);
    notes.push(`tokenizer of ${cell.init ?? (isHubRef(cell.model) ? cell.model : 'the checkpoint')}: ${describeCoverage(coverage(tokenizer, texts))}`);
  } else {
    const allTexts = [...splits.train, ...splits.validation, ...splits.tests.flatMap((s) => s.examples)].flatMap((e) => [e.source, e.target!]);
    tokenizer = WordTokenizer.fromTexts(allTexts);
    const config = withVocab(cell.model as PresetName, tokenizer.vocabSize);
    if (t.dropout !== undefined) config.dropoutRate = t.dropout;
    model = T5.init(config, cell.seed);
  }
  const train = truncate(encodeExamples(splits.train.map(text), tokenizer), t.maxLength);
  const validation = truncate(encodeExamples(splits.validation.map(text), tokenizer), t.maxLength);
  const cut = train.cut + validation.cut;
  if (cut > 0) notes.push(`${cut} training and validation texts cut to ${t.maxLength} tokens`);
  const stepsPerEpoch = stepCounts({ examples: train.examples.length, batchSize: t.batchSize, maxEpochs: t.epochs }).perEpoch;
  // Generation stops at EOS, but an undertrained model may never say it; a little past the
  // longest reference is as far as a right answer can plausibly be.
  const longest = Math.max(...[...train.examples, ...validation.examples].map((e) => e.target.length));
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
  const trainer = new Trainer(model, tokenizer, train.examples, validation.examples, parseAnswer, trainConfig);
  return { splits, tokenizer, model, params: countParameters(model.config), trainer, notes };
}

/** The first n predictions of an evaluation, with their sources and references. */
export function samplesOf(test: string, examples: readonly Example[], r: EvalResult, n = 5): Sample[] {
  return r.predictions.slice(0, n).map((pr) => ({ test, source: examples[pr.index].source, reference: examples[pr.index].target!, generated: pr.generated, correct: pr.correct }));
}

/** The answer most common in `answers`, the smallest of those tied. */
export function majorityAnswer(answers: readonly number[]): number {
  const counts = new Map<number, number>();
  for (const a of answers) counts.set(a, (counts.get(a) ?? 0) + 1);
  let best = NaN;
  for (const [a, n] of counts) if (Number.isNaN(best) || n > counts.get(best)! || (n === counts.get(best)! && a < best)) best = a;
  return best;
}

/** Accuracy of the majority answer and of the task's shortcut on a test set. */
export function baselinesOf(examples: readonly Example[], task: Task, majority: number): Baselines {
  const share = (right: (e: Example) => boolean) => examples.filter(right).length / Math.max(1, examples.length);
  const out: Baselines = { majority: share((e) => e.answer === majority) };
  const shortcut = task.shortcut;
  if (shortcut) out.shortcut = share((e) => (shortcut(e.source) ?? majority) === e.answer);
  return out;
}

/** FNV-1a over the sources, as hex: the identity of a test set. */
export function testSetHash(examples: readonly Example[]): string {
  let h = 0x811c9dc5;
  for (const e of examples) {
    for (let i = 0; i < e.source.length; i++) h = Math.imul(h ^ e.source.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 10, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

function breakdownOf(lines: readonly PredictionLine[]): Breakdown {
  const tally = (key: (l: PredictionLine) => string | undefined) => {
    const out: Record<string, [number, number]> = {};
    for (const l of lines) {
      const k = key(l);
      if (k === undefined) continue;
      const t = (out[k] ??= [0, 0]);
      t[0] += l.correct ? 1 : 0;
      t[1] += 1;
    }
    return out;
  };
  const out: Breakdown = { depth: tally((l) => String(l.depth)) };
  const root = tally((l) => l.root);
  if (Object.keys(root).length > 0) out.root = root;
  return out;
}

/** Scores the model as it stands on every test set: one result row each (with its baselines and
 *  per-example outcomes), every prediction, and a few samples. */
export async function testCell(
  prepared: PreparedCell,
  cell: Cell,
  result: Pick<TrainResult, 'steps' | 'seconds'>,
  onTest?: (name: string, r: EvalResult) => void,
): Promise<{ rows: ResultRow[]; samples: Sample[]; predictions: PredictionLine[] }> {
  const { splits, tokenizer, trainer, params } = prepared;
  const rows: ResultRow[] = [];
  const samples: Sample[] = [];
  const predictions: PredictionLine[] = [];
  const majority = majorityAnswer(splits.train.map((e) => e.answer));
  for (const test of splits.tests) {
    const r = await trainer.evaluate(encodeExamples(test.examples.map(text), tokenizer));
    const lines = r.predictions.map((pr): PredictionLine => {
      const e = test.examples[pr.index];
      const line: PredictionLine = { test: test.name, source: e.source, reference: e.target!, generated: pr.generated, answer: e.answer, predicted: pr.predicted, correct: pr.correct, depth: e.depth };
      if (test.task.rootOperator) line.root = test.task.rootOperator(e.source);
      return line;
    });
    rows.push({
      task: cell.task,
      init: cell.init ?? SCRATCH,
      explanation: cell.explanation,
      model: cell.model,
      trainSize: cell.trainSize,
      seed: cell.seed,
      test: test.name,
      accuracy: r.accuracy,
      steps: result.steps,
      seconds: result.seconds,
      params,
      correct: r.correct,
      total: r.total,
      outcomes: lines.map((l) => (l.correct ? '1' : '0')).join(''),
      testSet: testSetHash(test.examples),
      baselines: baselinesOf(test.examples, test.task, majority),
      breakdown: breakdownOf(lines),
    });
    predictions.push(...lines);
    samples.push(...samplesOf(test.name, test.examples, r));
    onTest?.(test.name, r);
  }
  return { rows, samples, predictions };
}
