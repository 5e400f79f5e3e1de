// Batched greedy and beam-search decoding, with or without a per-layer KV cache.
//
// With the cache each step feeds only the newest token: its keys and values are appended to the
// cache and cross-attention keys/values are computed once. Without it, each step re-runs the
// decoder over the whole prefix; tests use that path to check the cached one token for token.
// Every step reads back the last position's logits (B x V floats) to pick the next tokens.

import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { T5, type KVCache } from './t5.ts';

export interface DecodeOptions {
  maxNewTokens: number;
  /** Default true. */
  useCache?: boolean;
}

export interface BeamOptions extends DecodeOptions {
  numBeams: number;
  /** Scores are divided by length^lengthPenalty when hypotheses are compared (1 = mean log-prob). */
  lengthPenalty?: number;
}

/** A source batch: token id rows (unequal lengths allowed; they are padded here). */
export type Sources = number[][];

function padBatch(rows: number[][], pad: number): { ids: Tensor; mask: Tensor } {
  const L = Math.max(1, ...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * L).fill(pad);
  const mask = new Float32Array(rows.length * L);
  rows.forEach((r, b) => {
    ids.set(r, b * L);
    mask.fill(1, b * L, b * L + r.length);
  });
  return { ids: E.tensor(ids, [rows.length, L], 'i32'), mask: E.tensor(mask, [rows.length, L]) };
}

/**
 * Runs one decoder step for every row and returns the last position's logits [rows, V] on the CPU.
 * `prefixes` are the tokens so far (each starting with the decoder start token).
 */
async function stepLogits(
  model: T5,
  enc: Tensor,
  mask: Tensor,
  prefixes: number[][],
  cache: KVCache | null,
): Promise<Float32Array> {
  const logits = E.noGrad(() =>
    E.tidy(() => {
      const rows = prefixes.length;
      if (cache) {
        const last = E.tensor(prefixes.map((p) => p[p.length - 1]), [rows, 1], 'i32');
        return model.head(model.decode(last, enc, mask, {}, cache));
      }
      const t = prefixes[0].length;
      const ids = E.tensor(prefixes.flat(), [rows, t], 'i32');
      const out = model.decode(ids, enc, mask);
      return model.head(E.slice(out, 1, t - 1, t));
    }),
  );
  const values = (await logits.toArray()) as Float32Array;
  logits.dispose();
  return values;
}

function argmax(values: Float32Array, from: number, n: number): number {
  let best = from;
  for (let i = from + 1; i < from + n; i++) if (values[i] > values[best]) best = i;
  return best - from;
}

/** Greedy decoding; each result starts with the decoder start token and ends with EOS if one came. */
export async function greedyDecode(model: T5, sources: Sources, o: DecodeOptions): Promise<number[][]> {
  const c = model.config;
  const { ids, mask } = padBatch(sources, c.padTokenId);
  const enc = E.noGrad(() => E.tidy(() => model.encode(ids, mask)));
  const cache = o.useCache === false ? null : model.emptyCache(o.maxNewTokens + 1);
  const out = sources.map(() => [c.decoderStartTokenId]);
  const done = sources.map(() => false);
  try {
    for (let step = 0; step < o.maxNewTokens && done.some((d) => !d); step++) {
      const logits = await stepLogits(model, enc, mask, out, cache);
      out.forEach((seq, b) => {
        // Finished rows keep decoding (the batch stays rectangular) but their tokens are not kept.
        const next = argmax(logits, b * c.vocabSize, c.vocabSize);
        if (done[b]) seq.push(c.padTokenId);
        else {
          seq.push(next);
          if (next === c.eosTokenId) done[b] = true;
        }
      });
    }
  } finally {
    E.dispose([ids, mask, enc]);
    if (cache) T5.disposeCache(cache);
  }
  return out.map((seq) => trimAfterEos(seq, c.eosTokenId));
}

function trimAfterEos(seq: number[], eos: number): number[] {
  const at = seq.indexOf(eos, 1);
  return at < 0 ? seq : seq.slice(0, at + 1);
}

function logSoftmaxRow(values: Float32Array, from: number, n: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, values[from + i]);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(values[from + i] - max);
  const lse = max + Math.log(sum);
  return Float64Array.from({ length: n }, (_, i) => values[from + i] - lse);
}

interface Hypothesis {
  tokens: number[];
  logProb: number;
}

/**
 * Beam search: keeps the numBeams best prefixes per source, expanding each by every token and
 * keeping the best numBeams continuations; hypotheses that produce EOS are set aside. Returns the
 * best finished (or, failing that, unfinished) hypothesis per source by length-penalized score.
 */
export async function beamDecode(model: T5, sources: Sources, o: BeamOptions): Promise<number[][]> {
  const c = model.config;
  const K = o.numBeams;
  const penalty = o.lengthPenalty ?? 1;
  const score = (h: Hypothesis) => h.logProb / Math.max(1, h.tokens.length - 1) ** penalty;
  const { ids, mask } = padBatch(sources.flatMap((s) => Array(K).fill(s)), c.padTokenId);
  const enc = E.noGrad(() => E.tidy(() => model.encode(ids, mask)));
  let cache = o.useCache === false ? null : model.emptyCache(o.maxNewTokens + 1);
  // beams[b] holds K live hypotheses; at the start only one is real (the others would repeat it).
  let beams: Hypothesis[][] = sources.map(() => Array.from({ length: K }, (_, k) => ({ tokens: [c.decoderStartTokenId], logProb: k === 0 ? 0 : -Infinity })));
  const finished: Hypothesis[][] = sources.map(() => []);
  try {
    for (let step = 0; step < o.maxNewTokens; step++) {
      const logits = await stepLogits(model, enc, mask, beams.flat().map((h) => h.tokens), cache);
      const parents: number[] = [];
      beams = beams.map((live, b) => {
        const candidates: { parent: number; token: number; logProb: number }[] = [];
        live.forEach((h, k) => {
          if (h.logProb === -Infinity) return;
          const lp = logSoftmaxRow(logits, (b * K + k) * c.vocabSize, c.vocabSize);
          lp.forEach((v, token) => candidates.push({ parent: k, token, logProb: h.logProb + v }));
        });
        candidates.sort((x, y) => y.logProb - x.logProb);
        const next: Hypothesis[] = [];
        for (const cand of candidates) {
          if (next.length === K) break;
          const tokens = [...live[cand.parent].tokens, cand.token];
          if (cand.token === c.eosTokenId) {
            if (finished[b].length < K) finished[b].push({ tokens, logProb: cand.logProb });
            continue;
          }
          next.push({ tokens, logProb: cand.logProb });
          parents.push(b * K + cand.parent);
        }
        while (next.length < K) {
          next.push({ tokens: [...live[0].tokens, c.padTokenId], logProb: -Infinity });
          parents.push(b * K);
        }
        return next;
      });
      const allDone = finished.every((f, b) => f.length >= K && Math.max(...f.map(score)) >= Math.max(...beams[b].map(score)));
      if (allDone) break;
      // A beam's parent is always one of the same source's beams, whose encoder rows and
      // cross-attention keys are identical; only the self-attention cache must follow.
      if (cache) cache = reorderCache(cache, parents);
    }
  } finally {
    E.dispose([ids, mask, enc]);
    if (cache) T5.disposeCache(cache);
  }
  return sources.map((_, b) => {
    const pool = finished[b].length ? finished[b] : beams[b].filter((h) => h.logProb > -Infinity);
    return pool.reduce((best, h) => (score(h) > score(best) ? h : best)).tokens;
  });
}

/** Rows of x (along axis 0) in the given order. */
function gatherRows(x: Tensor, order: Tensor): Tensor {
  const [rows, ...rest] = x.shape;
  const width = rest.reduce((a, b) => a * b, 1);
  return E.reshape(E.embedding(E.reshape(x, [rows, width]), order), [order.size, ...rest]);
}

function reorderCache(cache: KVCache, parents: number[]): KVCache {
  const order = E.tensor(parents, [parents.length], 'i32');
  const move = (ts: Tensor[]) =>
    ts.map((t) => {
      const moved = E.noGrad(() => E.keep(E.tidy(() => gatherRows(t, order))));
      t.dispose();
      return moved;
    });
  const next = { ...cache, selfK: move(cache.selfK), selfV: move(cache.selfV) };
  order.dispose();
  return next;
}
