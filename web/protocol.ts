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
   * `hubEndpoint` is where an hf: model is fetched from (default the Hugging Face Hub).
   */
  | { type: 'start'; id: number; settings: RunSettings; mode: 'train' | 'evaluate'; from?: CheckpointFiles; hubEndpoint?: string }
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
  | { type: 'failed'; id: number; message: string };
