// From examples to GPU batches: tokenize once, group examples of similar length into batches
// (less padding, so less wasted compute), and lay a batch out the way the model expects.

import * as E from '../engine/index.ts';
import { IGNORE_INDEX, type Batch } from '../model/t5.ts';
import type { Tokenizer } from '../model/tokenizer.ts';

export interface TextExample {
  source: string;
  target: string;
  answer: number;
}

export interface EncodedExample {
  source: number[];
  target: number[];
  answer: number;
  /** Position in the split, so results can be traced back to examples. */
  index: number;
}

export function encodeExamples(examples: readonly TextExample[], tokenizer: Tokenizer): EncodedExample[] {
  return examples.map((e, index) => ({
    source: tokenizer.encode(e.source, { addEos: true }),
    target: tokenizer.encode(e.target, { addEos: true }),
    answer: e.answer,
    index,
  }));
}

/**
 * The batches of one epoch, as lists of example indices. Examples are shuffled, then within
 * windows of 50 batches sorted by length and cut into batches, and the batches shuffled again:
 * batches hold similar lengths while the order still changes every epoch. The order depends only
 * on (seed, epoch), so a resumed run sees exactly the batches the interrupted one would have.
 */
export function epochBatches(examples: readonly EncodedExample[], batchSize: number, seed: number, epoch: number): number[][] {
  const rng = new E.Rng(E.deriveSeed(seed, epoch));
  const order = rng.shuffle(examples.map((_, i) => i));
  const len = (i: number) => examples[i].source.length + examples[i].target.length;
  const window = batchSize * 50;
  const batches: number[][] = [];
  for (let w = 0; w < order.length; w += window) {
    const chunk = order.slice(w, w + window).sort((a, b) => len(a) - len(b) || a - b);
    for (let i = 0; i < chunk.length; i += batchSize) batches.push(chunk.slice(i, i + batchSize));
  }
  return rng.shuffle(batches);
}

/** Pads a list of examples into model inputs; labels are -100 on padding so no loss is taken there. */
export function makeBatch(examples: readonly EncodedExample[], padId: number, decoderStartId: number): Batch {
  const B = examples.length;
  const Ls = Math.max(...examples.map((e) => e.source.length));
  const Lt = Math.max(...examples.map((e) => e.target.length));
  const ids = new Int32Array(B * Ls).fill(padId);
  const mask = new Float32Array(B * Ls);
  const dec = new Int32Array(B * Lt).fill(padId);
  const labels = new Int32Array(B * Lt).fill(IGNORE_INDEX);
  examples.forEach((e, b) => {
    ids.set(e.source, b * Ls);
    mask.fill(1, b * Ls, b * Ls + e.source.length);
    labels.set(e.target, b * Lt);
    dec[b * Lt] = decoderStartId;
    dec.set(e.target.slice(0, Lt - 1), b * Lt + 1);
  });
  return {
    inputIds: E.tensor(ids, [B, Ls], 'i32'),
    attentionMask: E.tensor(mask, [B, Ls]),
    decoderInputIds: E.tensor(dec, [B, Lt], 'i32'),
    labels: E.tensor(labels, [B, Lt], 'i32'),
  };
}

/** Target tokens in a batch (what the loss is averaged over), for tokens/s figures. */
export function targetTokens(examples: readonly EncodedExample[]): number {
  return examples.reduce((n, e) => n + e.target.length, 0);
}
