// A small T5 repository as the Hub would hold it, made from the fixtures: the SentencePiece model
// of test/fixtures/spiece and a tiny T5 initialized for its vocabulary, saved the way this project
// saves models (config.json, model.safetensors), plus a generation_config.json.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { modelFiles, type CheckpointFiles } from '../../model/checkpoint.ts';
import { withVocab } from '../../model/config.ts';
import { SentencePieceTokenizer } from '../../model/sentencepiece.ts';
import { T5 } from '../../model/t5.ts';

export const SPIECE = path.resolve(import.meta.dirname, '../fixtures/spiece/spiece.model');

/** Needs an initialized engine. */
export async function makeT5Repo(seed = 3): Promise<CheckpointFiles> {
  const tokenizer = SentencePieceTokenizer.fromModelProto(readFileSync(SPIECE), SPIECE);
  const model = T5.init(withVocab('tiny', tokenizer.vocabSize), seed);
  const files = await modelFiles(model, tokenizer);
  model.dispose();
  files['generation_config.json'] = new TextEncoder().encode(JSON.stringify({ decoder_start_token_id: 0, eos_token_id: 1, pad_token_id: 0 }));
  return files;
}

export const COMMIT = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
