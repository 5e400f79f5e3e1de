// A pretraining run in its output folder (Node and Deno): the data, model and trainer of
// session.ts (which the browser page's worker shares), and the folder:
//   pretraining.json   the settings, written first; at the end `complete` and what the run did
//   metrics.jsonl      one line per step (step, loss, lr, gradNorm, tokensPerSecond) and per
//                      validation (step, valAccuracy: held-out texts whose spans came back exactly)
//   checkpoint/        while it runs: model, optimizer and counters (training/checkpoint-state.ts)
//   lock.json          while a process owns the folder
//   config.json, model.safetensors, tokenizer.json   at the end: the model, in the Hugging Face
//                      layout that --init, --checkpoint and a grid arm's init read
//   loss.svg, validation.svg   the curves
// The same settings on the same folder resume from the checkpoint: the trainer's batches, dropout
// and optimizer state are restored whole and each epoch's corruption depends on (seed, epoch)
// only, so the resumed run takes the steps, and logs the losses, of the uninterrupted one; lines
// of metrics.jsonl past the checkpoint (logged before a kill) are dropped first.

import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import * as E from '../../engine/index.ts';
import { readCheckpointDir, writeCheckpointDir } from '../../model/checkpoint-dir.ts';
import { modelFiles } from '../../model/checkpoint.ts';
import type { CheckpointStore } from '../../training/trainer.ts';
import { onFile, fsReason } from '../../util/fs-errors.ts';
import type { GridPreset } from '../grid.ts';
import { lineChart, type MetricRecord } from '../report/index.ts';
import { clearLeftovers, differences, fmtTime, lockRun, readJson, writeAtomic } from '../run-folder.ts';
import { dataOf, describeData, describeRun, finishedInfo, startPretraining } from './session.ts';
import type { PretrainSettings } from './settings.ts';

export type { PretrainSettings } from './settings.ts';

export interface PretrainOptions {
  settings: PretrainSettings;
  /** The fine-tuning preset the settings name (its test sets are held out). */
  preset: GridPreset;
  out: string;
  /** Start over, whatever the folder holds. */
  overwrite?: boolean;
  log?: (line: string) => void;
  /** Checked between steps: true stops the run with a checkpoint, to be resumed. */
  shouldStop?: () => boolean;
  /** Called after each step's metrics line is written (tests use it to crash a run). */
  onStep?: (step: number) => void | Promise<void>;
}

export interface PretrainResult {
  /** false when stopped before its last step (shouldStop): the same settings resume it. */
  complete: boolean;
  steps: number;
  /** Whether the run resumed a checkpoint, or found the folder finished already. */
  resumed: boolean;
  alreadyDone: boolean;
  out: string;
}

/** What makes a run's results: every setting but how often it checkpoints. */
const identity = (s: PretrainSettings) => {
  const { checkpointEvery: _, ...rest } = s;
  return rest;
};

/** metrics.jsonl's records up to `step` (a resumed run's), a torn or damaged line dropped. */
async function metricsUpTo(file: string, step: number): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const keep = text.split('\n').filter((line) => {
    try {
      const r = JSON.parse(line);
      return typeof r.step === 'number' && r.step <= step;
    } catch {
      return false;
    }
  });
  return keep.map((l) => l + '\n').join('');
}

/** The records of metrics.jsonl as the charts read them. */
function chartRecords(text: string, s: PretrainSettings): MetricRecord[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => ({ cell: 'pretraining', explanation: 'none', model: s.model, trainSize: s.sources, seed: s.seed, ...JSON.parse(l) }));
}

/** Prepares the folder: refuses one that holds something else, or another pretraining's
 *  unfinished run; says whether it holds this run finished already. */
async function claimFolder(out: string, settings: PretrainSettings, overwrite: boolean): Promise<'fresh' | 'resume' | 'done'> {
  const held = await readdir(out).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    if (e.code === 'ENOTDIR') throw new Error(`--out ${out}: it is a file, not a folder`);
    throw new Error(`--out ${out}: cannot read the folder (${fsReason(e)})`);
  });
  const info = await readJson(path.join(out, 'pretraining.json'));
  if (overwrite) {
    if (held.length > 0) await onFile(out, 'empty the folder (--overwrite)', () => rm(out, { recursive: true, force: true }));
    return 'fresh';
  }
  if (!info) {
    if (held.length > 0) throw new Error(`--out ${out} already holds ${held.slice(0, 3).join(', ')}${held.length > 3 ? ', ...' : ''} and no pretraining.json; choose a new or empty folder, or pass --overwrite to replace what it holds`);
    return 'fresh';
  }
  const differ = differences(identity(info.settings ?? {}), identity(settings));
  if (differ.length > 0) {
    throw new Error(`--out ${out} holds a ${info.complete ? '' : 'unfinished '}pretraining with other settings (${differ.join(', ')}); run it with those to ${info.complete ? 'keep it' : 'resume it'}, choose another --out, or pass --overwrite to start over there`);
  }
  return info.complete ? 'done' : 'resume';
}

export async function pretrain(o: PretrainOptions): Promise<PretrainResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  const s = o.settings;
  const out = path.resolve(o.out);
  if (!(s.warmupSteps < s.steps)) throw new Error(`pretraining: warmupSteps ${s.warmupSteps} must be below steps ${s.steps}`);
  const state = await claimFolder(out, s, o.overwrite ?? false);
  if (state === 'done') {
    const info = await readJson(path.join(out, 'pretraining.json'));
    log(`${o.out} holds this pretraining finished already (${info.result?.steps} steps); nothing to do (--overwrite trains it again)`);
    return { complete: true, steps: info.result?.steps ?? s.steps, resumed: false, alreadyDone: true, out };
  }
  await onFile(out, 'create the output folder', () => mkdir(out, { recursive: true }));
  const unlock = await lockRun(out);
  try {
    for (const f of await clearLeftovers(out)) log(`cleared ${f}, left by a process that is gone`);
    if (state === 'fresh') await writeAtomic(path.join(out, 'pretraining.json'), JSON.stringify({ complete: false, settings: s }, null, 2));
    return await train(o, out, log);
  } finally {
    await unlock();
  }
}

async function train(o: PretrainOptions, out: string, log: (l: string) => void): Promise<PretrainResult> {
  const s = o.settings;
  const t0 = performance.now();
  const data = dataOf(s, o.preset);
  log(`${describeData(s, data)}; ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await E.initEngine();
  const session = startPretraining(s, data);
  const { model, trainer } = session;
  const tokenizer = data.tokenizer;
  const checkpointDir = path.join(out, 'checkpoint');
  const store: CheckpointStore = {
    save: (_, files) => writeCheckpointDir(checkpointDir, files),
    load: () => readCheckpointDir(checkpointDir),
  };
  let resumed: boolean;
  try {
    resumed = await trainer.resume(store);
  } catch (e) {
    throw new Error(`${checkpointDir} is damaged (${(e as Error).message}); delete it to start this pretraining over, or pass --overwrite`);
  }
  const metricsFile = path.join(out, 'metrics.jsonl');
  await writeAtomic(metricsFile, resumed ? await metricsUpTo(metricsFile, trainer.step) : '');
  log(`${describeRun(s, session)}${resumed ? `; resumed at step ${trainer.step}` : ''}`);

  let lastPrint = 0;
  const result = await trainer.run({
    store,
    shouldStop: o.shouldStop,
    onProgress: async (p) => {
      const { step, loss, lr, gradNorm, tokensPerSecond } = p;
      await appendLine(metricsFile, { step, loss, lr, gradNorm, tokensPerSecond });
      const now = performance.now();
      if (now - lastPrint > 5000 || p.step === p.totalSteps || p.step === 1) {
        lastPrint = now;
        log(`pretrain ${s.model}: step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(3)} | ${Math.round(p.tokensPerSecond).toLocaleString('en-US')} tok/s | ${fmtTime(p.elapsedSeconds)} elapsed, ~${fmtTime(p.etaSeconds)} left`);
      }
      await o.onStep?.(p.step);
    },
    onEval: async (r, e) => {
      await appendLine(metricsFile, { step: r.step, valAccuracy: r.valAccuracy });
      log(`pretrain ${s.model}: step ${r.step} validation: spans restored exactly in ${(r.valAccuracy * 100).toFixed(1)}% of ${e.total} held-out texts`);
    },
  });
  if (result.steps < s.steps) {
    trainer.optimizer.dispose();
    model.dispose();
    log(`stopped at step ${result.steps} with a checkpoint; the same command resumes it`);
    return { complete: false, steps: result.steps, resumed, alreadyDone: false, out };
  }
  // The final weights (not the best validation's): pretraining has no answer to select on.
  const files = await modelFiles(model, tokenizer);
  trainer.optimizer.dispose();
  model.dispose();
  for (const name of ['config.json', 'model.safetensors', 'tokenizer.json']) await writeAtomic(path.join(out, name), files[name]);
  const metrics = chartRecords(await readFile(metricsFile, 'utf8'), s);
  const subtitle = `${s.task} sources of ${s.grid}/${s.preset}, span corruption (${s.noiseDensity} density, spans of ${s.meanSpanLength}), seed ${s.seed}`;
  await writeAtomic(path.join(out, 'loss.svg'), lineChart(metrics, { title: `Pretraining loss, model ${s.model}`, subtitle, metric: 'loss', series: 'model', logY: true }));
  if (metrics.some((m) => m.valAccuracy !== undefined)) {
    await writeAtomic(path.join(out, 'validation.svg'), lineChart(metrics, { title: 'Held-out texts whose corrupted spans the model restores exactly', subtitle, metric: 'valAccuracy', series: 'model' }));
  }
  const info = finishedInfo(s, session, result, (await lastValidation(metricsFile)) ?? null);
  await rm(checkpointDir, { recursive: true, force: true });
  await writeAtomic(path.join(out, 'pretraining.json'), JSON.stringify(info, null, 2));
  log(`wrote ${out}: config.json, model.safetensors, tokenizer.json (a model folder for --init, --checkpoint or a grid arm's init), metrics.jsonl, loss.svg; ${fmtTime(result.seconds)} of training`);
  return { complete: true, steps: result.steps, resumed, alreadyDone: false, out };
}

async function appendLine(file: string, record: object): Promise<void> {
  await onFile(file, 'append to', () => writeFile(file, JSON.stringify(record) + '\n', { flag: 'a' }));
}

async function lastValidation(file: string): Promise<number | undefined> {
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l.includes('valAccuracy'));
  return lines.length ? JSON.parse(lines[lines.length - 1]).valAccuracy : undefined;
}
