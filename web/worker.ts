// The training worker: the engine, the model and the trainer live here, off the page's thread,
// so the page stays responsive while the GPU (or the CPU behind a software adapter) is busy.
// One run at a time; the page queues nothing and disables Start while a run is going.

import * as E from '../engine/index.ts';
import { evalRecord, prepareCell, samplesOf, stepRecord, testCell } from '../experiments/cell.ts';
import type { CheckpointFiles } from '../model/checkpoint.ts';
import { isHubRef, parseHubRef } from '../model/hub-ref.ts';
import { readTrainerState } from '../training/checkpoint-state.ts';
import type { CheckpointStore } from '../training/trainer.ts';
import { hubModelInBrowser } from './hub.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import { cellOf, presetFor, type RunSettings } from './settings.ts';

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

async function run(id: number, settings: RunSettings, mode: 'train' | 'evaluate', from?: CheckpointFiles, hubEndpoint?: string): Promise<void> {
  const preset = presetFor(settings);
  const cell = cellOf(settings);
  const log = (line: string) => post({ type: 'log', id, line });
  // A pause or stop pressed after the last step of the previous run must not carry over.
  stopRequested = false;
  resume();
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

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  switch (m.type) {
    case 'init':
      void init();
      break;
    case 'start':
      run(m.id, m.settings, m.mode, m.from, m.hubEndpoint).catch((e) => post({ type: 'failed', id: m.id, message: (e as Error).message }));
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
