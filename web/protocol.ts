// Messages between the page (web/main.ts) and the training worker (web/worker.ts).

import type { Sample } from '../experiments/cell.ts';
import type { MetricRecord, ResultRow } from '../experiments/report/index.ts';
import type { CheckpointFiles } from '../model/checkpoint.ts';
import type { Progress } from '../training/trainer.ts';
import type { RunSettings } from './settings.ts';

export type ToWorker =
  | { type: 'init' }
  /**
   * Trains (or, with mode 'evaluate', only tests) one run; `from` starts it from a checkpoint.
   * `hubEndpoint` is where an hf: model is fetched from (default the Hugging Face Hub). `init`
   * names the pretrained model that `from` holds, when it is one: the run's rows carry it, so
   * the statistics set it against the runs from scratch.
   */
  | { type: 'start'; id: number; settings: RunSettings; mode: 'train' | 'evaluate'; from?: CheckpointFiles; init?: string; hubEndpoint?: string }
  /** Pretrains a fresh model of the settings' size for `steps` steps on the sources of their
   *  task and setting (experiments/pretrain/), seeded by their seed. */
  | { type: 'pretrain'; id: number; settings: RunSettings; steps: number }
  | { type: 'pause' }
  | { type: 'resume' }
  /** Ends training after the current step; the run is still tested and checkpointed. */
  | { type: 'stop' };

export type FromWorker =
  | { type: 'ready'; adapter: string }
  | { type: 'unavailable'; message: string }
  | { type: 'log'; id: number; line: string }
  | { type: 'progress'; id: number; record: MetricRecord; progress: Progress }
  | { type: 'eval'; id: number; record: MetricRecord; samples: Sample[] }
  /** `checkpoint` is the trainer's last checkpoint plus run.json (the settings), as one downloadable set. */
  | { type: 'done'; id: number; rows: ResultRow[]; samples: Sample[]; checkpoint: CheckpointFiles }
  /** A pretraining's model folder (config.json, model.safetensors, tokenizer.json, pretraining.json). */
  | { type: 'pretrained'; id: number; files: CheckpointFiles; steps: number; seconds: number; validationAccuracy: number | null }
  | { type: 'failed'; id: number; message: string };
