// Checkpoints as a set of named files, the way Hugging Face lays out a model directory:
//   config.json        HF T5Config keys
//   model.safetensors  weights under HF names, float32
//   tokenizer.json     our word-level tokenizer, or spiece.model for a SentencePiece one
// This module works on bytes only (it runs in browsers too); model/checkpoint-dir.ts reads and
// writes such a set as a folder.

import * as E from '../engine/index.ts';
import { fromHFConfig, toHFConfig } from './config.ts';
import { validateCheckpoint } from './checkpoint-format.ts';
import { readSafetensors, writeSafetensors } from './safetensors.ts';
import { SentencePieceTokenizer } from './sentencepiece.ts';
import { WordTokenizer, type Tokenizer } from './tokenizer.ts';
import { T5 } from './t5.ts';

export type CheckpointFiles = Record<string, Uint8Array>;

const text = (s: string) => new TextEncoder().encode(s);
const json = (b: Uint8Array, what: string): unknown => {
  try {
    return JSON.parse(new TextDecoder().decode(b));
  } catch (e) {
    throw new Error(`${what}: not valid JSON (${(e as Error).message})`);
  }
};

/** The files of a model and its tokenizer; reads the weights back from the GPU. */
export async function modelFiles(model: T5, tokenizer: Tokenizer): Promise<CheckpointFiles> {
  const tensors: [string, { shape: number[]; data: Float32Array }][] = [];
  for (const [name, t] of model.params) tensors.push([name, { shape: [...t.shape], data: (await t.toArray()) as Float32Array }]);
  const files: CheckpointFiles = {
    'config.json': text(JSON.stringify(toHFConfig(model.config), null, 2)),
    'model.safetensors': writeSafetensors(tensors, { format: 'pt' }),
  };
  if (tokenizer instanceof WordTokenizer) files['tokenizer.json'] = text(JSON.stringify(tokenizer.toJSON()));
  else if (tokenizer instanceof SentencePieceTokenizer) files['spiece.model'] = tokenizer.modelProto;
  else throw new Error('modelFiles: unknown tokenizer kind');
  return files;
}

function need(files: CheckpointFiles, name: string, where: string): Uint8Array {
  const f = files[name];
  if (!f) throw new Error(`${where}: missing ${name}`);
  return f;
}

/** Builds the model and tokenizer a set of checkpoint files describes. */
export function loadModel(files: CheckpointFiles, where: string): { model: T5; tokenizer: Tokenizer | null } {
  const config = fromHFConfig(json(need(files, 'config.json', where), `${where}/config.json`), `${where}/config.json`);
  const weights = readSafetensors(need(files, 'model.safetensors', where), `${where}/model.safetensors`).assertFinite();
  const model = T5.fromSafetensors(config, weights);
  return { model, tokenizer: loadTokenizer(files, where) };
}

export function loadTokenizer(files: CheckpointFiles, where: string): Tokenizer | null {
  if (files['tokenizer.json']) {
    const file = `${where}/tokenizer.json`;
    try {
      return WordTokenizer.fromJSON(json(files['tokenizer.json'], file));
    } catch (e) {
      const message = (e as Error).message;
      throw new Error(message.startsWith(file) ? message : `${file}: ${message.replace(/^WordTokenizer\.fromJSON: /, '')}`);
    }
  }
  if (files['spiece.model']) return SentencePieceTokenizer.fromModelProto(files['spiece.model'], `${where}/spiece.model`);
  return null;
}

/** Overwrites an existing model's weights from checkpoint files of the same configuration. */
export function loadModelWeights(model: T5, files: CheckpointFiles, where: string): void {
  const weights = readSafetensors(need(files, 'model.safetensors', where), `${where}/model.safetensors`).assertFinite();
  validateCheckpoint(weights, model.config);
  E.engine().flush();
  for (const [name, t] of model.params) t.write(weights.getF32(name));
}
