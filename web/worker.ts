// The training worker: the engine, the model and the trainer live here, off the page's thread,
// so the page stays responsive while the GPU (or the CPU behind a software adapter) is busy.
// One run at a time, a fine-tuning or a pretraining; the page queues nothing and disables its
// buttons while a run is going.

import * as E from '../engine/index.ts';
import { evalRecord, prepareCell, samplesOf, stepRecord, testCell } from '../experiments/cell.ts';
import { dataOf, describeData, describeRun, finishedInfo, startPretraining } from '../experiments/pretrain/session.ts';
import { modelFiles, type CheckpointFiles } from '../model/checkpoint.ts';
import { isHubRef, parseHubRef } from '../model/hub-ref.ts';
import { readTrainerState } from '../training/checkpoint-state.ts';
import type { CheckpointStore } from '../training/trainer.ts';
import { hubModelInBrowser } from './hub.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import { cellOf, presetFor, pretrainingOf, type RunSettings } from './settings.ts';

const post = (m: FromWorker) => self.postMessage(m);

/** Resolves when the page resumes; set while paused. */
let paused: { promise: Promise<void>; resume: () => void } | null = null;
let stopRequested = false;

function pause(): void {
  if (paused) return;
  let resume!: () => void;
  const promise = new Promise<void>((r) => (resume = r));
  paused = { promise, resume };
}

function resume(): void {
  paused?.resume();
  paused = null;
}

function memoryStore(): CheckpointStore {
  const saved = new Map<string, CheckpointFiles>();
  return {
    save: async (name, files) => void saved.set(name, files),
    load: async (name) => saved.get(name) ?? null,
  };
}

async function init(): Promise<void> {
  try {
    const engine = await E.initEngine();
    post({ type: 'ready', adapter: E.describeAdapter(engine.adapter) });
  } catch (e) {
    // GPUUnavailableError says what is missing; any other failure is as final for the page.
    post({ type: 'unavailable', message: `${(e as Error).name}: ${(e as Error).message}` });
  }
}

/** A pause or stop pressed after the last step of the previous run must not carry over. */
function freshControls(): void {
  stopRequested = false;
  resume();
}

async function run(id: number, settings: RunSettings, mode: 'train' | 'evaluate', from?: CheckpointFiles, init?: string, hubEndpoint?: string): Promise<void> {
  const preset = presetFor(settings);
  const cell = cellOf(settings, init);
  const log = (line: string) => post({ type: 'log', id, line });
  freshControls();
  // A loaded checkpoint wins over the model it was fine-tuned from.
  const pretrained = !from && isHubRef(settings.model) ? await hubModelInBrowser(parseHubRef(settings.model), { endpoint: hubEndpoint, log }) : undefined;
  const prepared = prepareCell(preset, cell, from ?? pretrained);
  const { trainer, model, tokenizer, splits, params } = prepared;
  log(`${cell.id}: ${params.toLocaleString('en-US')} parameters, vocabulary ${tokenizer.vocabSize}, ${splits.train.length} training examples`);
  for (const note of prepared.notes) log(note);
  const store = memoryStore();
  try {
    // A trainer checkpoint (this page's download, or a CLI cell's checkpoint/ folder) continues
    // exactly; bare model files only start from their weights.
    const saved = from?.['trainer.json'] ? readTrainerState(from) : null;
    if (from && saved) {
      await store.save('last', from);
      await trainer.resume(store, 'last');
      log(`continuing at step ${trainer.step}`);
    }
    let result = { steps: trainer.step, seconds: saved?.elapsedSeconds ?? 0 };
    if (mode === 'train') {
      result = await trainer.run({
        store,
        shouldStop: () => stopRequested,
        onProgress: async (p) => {
          post({ type: 'progress', id, progress: p, record: stepRecord(cell, p) });
          await paused?.promise;
        },
        onEval: (r, evalResult) => {
          post({ type: 'eval', id, record: evalRecord(cell, r), samples: samplesOf('validation', splits.validation, evalResult) });
        },
      });
    }
    const checkpoint = mode === 'train' ? await store.load('last') : from;
    await trainer.restoreBest();
    const { rows, samples } = await testCell(prepared, cell, result, (name, r) => log(`test ${name}: accuracy ${(r.accuracy * 100).toFixed(1)}% (${r.correct}/${r.total})`));
    const runJson = new TextEncoder().encode(JSON.stringify(settings, null, 2));
    post({ type: 'done', id, rows, samples, checkpoint: { ...checkpoint, 'run.json': runJson } });
  } finally {
    trainer.optimizer.dispose();
    model.dispose();
  }
}

/**
 * Pretrains as `npm run pretrain` does (experiments/pretrain/session.ts), with its checkpoints in
 * memory: Pause holds it between steps, Stop ends it with the weights of its last step, which
 * pretraining.json then calls incomplete. Its curves are the series "pretraining".
 */
async function pretrainRun(id: number, settings: RunSettings, steps: number): Promise<void> {
  const log = (line: string) => post({ type: 'log', id, line });
  freshControls();
  const s = pretrainingOf(settings, steps);
  const data = dataOf(s, presetFor(settings));
  log(describeData(s, data));
  const session = startPretraining(s, data);
  const { model, trainer } = session;
  log(describeRun(s, session));
  const key = { cell: `pretraining-${s.model}-seed${s.seed}`, explanation: 'pretraining', model: s.model, trainSize: settings.trainSize, seed: s.seed };
  let validationAccuracy: number | null = null;
  try {
    const result = await trainer.run({
      store: memoryStore(),
      shouldStop: () => stopRequested,
      onProgress: async (p) => {
        post({ type: 'progress', id, progress: p, record: { ...key, step: p.step, loss: p.loss, tokensPerSecond: p.tokensPerSecond } });
        await paused?.promise;
      },
      onEval: (r) => {
        validationAccuracy = r.valAccuracy;
        post({ type: 'eval', id, record: { ...key, step: r.step, valAccuracy: r.valAccuracy }, samples: [] });
      },
    });
    // The final weights (not the best validation's), as the command line keeps them.
    const files = await modelFiles(model, data.tokenizer);
    const info = { ...finishedInfo(s, session, result, validationAccuracy), complete: result.steps === s.steps };
    files['pretraining.json'] = new TextEncoder().encode(JSON.stringify(info, null, 2));
    post({ type: 'pretrained', id, files, steps: result.steps, seconds: result.seconds, validationAccuracy });
  } finally {
    trainer.optimizer.dispose();
    model.dispose();
  }
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  switch (m.type) {
    case 'init':
      void init();
      break;
    case 'start':
      run(m.id, m.settings, m.mode, m.from, m.init, m.hubEndpoint).catch((e) => post({ type: 'failed', id: m.id, message: (e as Error).message }));
      break;
    case 'pretrain':
      pretrainRun(m.id, m.settings, m.steps).catch((e) => post({ type: 'failed', id: m.id, message: (e as Error).message }));
      break;
    case 'pause':
      pause();
      break;
    case 'resume':
      resume();
      break;
    case 'stop':
      stopRequested = true;
      resume();
      break;
  }
};
