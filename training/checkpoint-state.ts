// A training run as checkpoint files, and back. Beside the model's own files (model/checkpoint.ts):
//   optimizer.safetensors  AdamW's moments, m.<i> and v.<i> for the i-th of model.parameters()
//   best.safetensors       the weights of the best validation result so far, if any
//   trainer.json           the run's config and the loop's counters (TrainerState)
// Everything the loop's next step depends on is here, so a run resumed from these files takes
// exactly the steps the uninterrupted run would have.

import { modelFiles, type CheckpointFiles } from '../model/checkpoint.ts';
import { readSafetensors, writeSafetensors } from '../model/safetensors.ts';
import type { T5 } from '../model/t5.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import type { AdamWState } from './adamw.ts';
import type { TrainConfig } from './trainer.ts';

/** The training loop's counters, saved whole in trainer.json. */
export interface TrainerState {
  step: number;
  epoch: number;
  /** Batches of the current epoch already consumed. */
  batchInEpoch: number;
  microBatches: number;
  bestValAccuracy: number;
  bestStep: number;
  evalsWithoutImprovement: number;
  lastValAccuracy: number | null;
  elapsedSeconds: number;
  lastLoss: number;
  /** The first step's loss, which the divergence rule measures against (trainer.ts). */
  firstLoss: number;
}

/** What a checkpoint holds besides the model's weights. */
export interface RunState {
  optimizer: AdamWState;
  state: TrainerState;
  /** Best weights by parameter name, or null before the first evaluation. */
  best: Map<string, Float32Array> | null;
}

/** The checkpoint's files: the model's (read back from the GPU) and the run's. */
export async function runFiles(model: T5, tokenizer: Tokenizer, config: TrainConfig, run: RunState): Promise<CheckpointFiles> {
  const files = await modelFiles(model, tokenizer);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  run.optimizer.m.forEach((m, i) => tensors.set(`m.${i}`, { shape: [m.length], data: m }));
  run.optimizer.v.forEach((v, i) => tensors.set(`v.${i}`, { shape: [v.length], data: v }));
  files['optimizer.safetensors'] = writeSafetensors(tensors);
  if (run.best) {
    const shapes = new Map([...model.params].map(([k, t]) => [k, [...t.shape]]));
    files['best.safetensors'] = writeSafetensors(new Map([...run.best].map(([k, d]) => [k, { shape: shapes.get(k)!, data: d }])));
  }
  files['trainer.json'] = new TextEncoder().encode(JSON.stringify({ config, state: run.state }, null, 1));
  return files;
}

/** The loop's counters saved in trainer.json. */
export function readTrainerState(files: CheckpointFiles): TrainerState {
  return JSON.parse(new TextDecoder().decode(files['trainer.json'])).state;
}

/** The run state of checkpoint `name` for a model of `parameters` parameters. */
export function readRunState(files: CheckpointFiles, name: string, parameters: number): RunState {
  const opt = readSafetensors(files['optimizer.safetensors'], `${name}/optimizer.safetensors`).assertFinite();
  const pick = (kind: 'm' | 'v') => Array.from({ length: parameters }, (_, i) => opt.get(`${kind}.${i}`)!.data as Float32Array);
  const state = readTrainerState(files);
  let best: Map<string, Float32Array> | null = null;
  if (files['best.safetensors']) {
    const file = readSafetensors(files['best.safetensors'], `${name}/best.safetensors`).assertFinite();
    best = new Map([...file].map(([k, t]) => [k, t.data as Float32Array]));
  }
  return { optimizer: { step: state.step, m: pick('m'), v: pick('v') }, state, best };
}
