// A pretrained model to fine-tune, from a model folder or the Hugging Face Hub (Node and Deno),
// with the tokenizer it was trained with: the task texts must be encoded with that one.

import * as E from '../engine/index.ts';
import { loadModel } from '../model/checkpoint.ts';
import { readCheckpoint } from '../model/hub.ts';
import type { T5 } from '../model/t5.ts';
import type { Tokenizer } from '../model/tokenizer.ts';

export async function loadPretrained(spec: string, log: (line: string) => void): Promise<{ model: T5; tokenizer: Tokenizer }> {
  const files = await readCheckpoint(spec, log);
  await E.initEngine();
  const { model, tokenizer } = loadModel(files, spec);
  if (!tokenizer) {
    model.dispose();
    throw new Error(`${spec}: no spiece.model (or this project's tokenizer.json), so the task texts cannot be encoded for it`);
  }
  return { model, tokenizer };
}
