// T5's pretraining objective, span corruption (Raffel et al. 2020, section 3.1.4), on token ids:
// about `noiseDensity` of a text's tokens, in spans of `meanSpanLength` on average, are taken out;
// the input keeps the rest with each span replaced by one sentinel (sentinel 0 for the first span,
// 1 for the second, ...), and the target is each sentinel followed by the span it stands for,
// then EOS:
//   text    [MAX 4 [MIN 7 2 ] 9 ]             pieces [ MAX ␣4 ␣[ MIN ␣7 ␣2 ␣] ␣9 ␣]
//   input   [MAX 4 [<extra_id_0> 2 ] 9 ]</s>   (10 tokens: 2 corrupted, in 1 span)
//   target  <extra_id_0>MIN 7</s>
// As in T5 (random_spans_noise_mask): round(length x density) noise tokens, at least 1 and at
// most length - 1; round(noise / mean span length) spans, at least 1; the noise tokens cut into
// that many spans of random lengths (every split equally likely). One difference: T5 lays its
// spans out starting with kept text and ending with a span, so the last token of every text is
// always corrupted. The task texts are short (10-60 tokens, one or two spans each) and all end in
// the same " ]", so that would make the last span almost always the same easy guess; here the kept
// text is cut into spans + 1 parts of random length of which only the first and last may be
// empty, so a span may sit anywhere, the end included.

import type { Rng } from '../engine/index.ts';

export interface SpanCorruptionOptions {
  /** Fraction of the tokens to corrupt (T5: 0.15). */
  noiseDensity: number;
  /** Mean length of a corrupted span (T5: 3). */
  meanSpanLength: number;
}

export const T5_SPAN_CORRUPTION: SpanCorruptionOptions = { noiseDensity: 0.15, meanSpanLength: 3 };

/** Noise tokens and spans of a text of `length` tokens. */
export function spanCounts(length: number, o: SpanCorruptionOptions = T5_SPAN_CORRUPTION): { noise: number; spans: number } {
  if (!Number.isInteger(length) || length < 1) throw new Error(`span corruption: a text needs at least one token, got ${length}`);
  if (!(o.noiseDensity > 0 && o.noiseDensity < 1)) throw new Error(`span corruption: noiseDensity must lie in (0, 1), got ${o.noiseDensity}`);
  if (!(o.meanSpanLength >= 1)) throw new Error(`span corruption: meanSpanLength must be >= 1, got ${o.meanSpanLength}`);
  // One token cannot keep anything: it is the one span.
  if (length === 1) return { noise: 1, spans: 1 };
  const noise = Math.min(Math.max(Math.round(length * o.noiseDensity), 1), length - 1);
  // Between two spans at least one kept token, so at most (kept + 1) spans.
  const spans = Math.min(Math.max(Math.round(noise / o.meanSpanLength), 1), noise, length - noise + 1);
  return { noise, spans };
}

/** `items` cut into `parts` positive lengths, every such cut equally likely. */
function randomLengths(items: number, parts: number, rng: Rng): number[] {
  const cuts = rng.shuffle(Array.from({ length: items - 1 }, (_, i) => i + 1)).slice(0, parts - 1).sort((a, b) => a - b);
  const bounds = [0, ...cuts, items];
  return bounds.slice(1).map((b, i) => b - bounds[i]);
}

/** Which of `length` tokens are corrupted: true for noise. */
export function noiseMask(length: number, rng: Rng, o: SpanCorruptionOptions = T5_SPAN_CORRUPTION): boolean[] {
  const { noise, spans } = spanCounts(length, o);
  const noiseLengths = randomLengths(noise, spans, rng);
  // The kept text in spans + 1 parts, the outer two possibly empty: cut kept + 2 into positive
  // parts and take one off each end.
  const kept = randomLengths(length - noise + 2, spans + 1, rng);
  kept[0] -= 1;
  kept[spans] -= 1;
  const mask: boolean[] = [];
  for (let s = 0; s <= spans; s++) {
    for (let i = 0; i < kept[s]; i++) mask.push(false);
    if (s < spans) for (let i = 0; i < noiseLengths[s]; i++) mask.push(true);
  }
  return mask;
}

export interface CorruptedText {
  /** The kept tokens with a sentinel for each span, then EOS. */
  input: number[];
  /** Each sentinel followed by its span, then EOS. */
  target: number[];
}

/** One text corrupted: `ids` without EOS; `sentinel(i)` is the id of the i-th sentinel. */
export function corruptSpans(ids: readonly number[], special: { sentinel: (i: number) => number; eos: number }, rng: Rng, o: SpanCorruptionOptions = T5_SPAN_CORRUPTION): CorruptedText {
  const mask = noiseMask(ids.length, rng, o);
  const input: number[] = [];
  const target: number[] = [];
  let span = -1;
  mask.forEach((noisy, i) => {
    if (!noisy) {
      input.push(ids[i]);
      return;
    }
    if (i === 0 || !mask[i - 1]) {
      span += 1;
      const s = special.sentinel(span);
      input.push(s);
      target.push(s);
    }
    target.push(ids[i]);
  });
  input.push(special.eos);
  target.push(special.eos);
  return { input, target };
}

/** The text a corrupted input and its target came from (EOS dropped): each sentinel of the input
 *  replaced by what follows it in the target. `sentinelIndex` maps an id to its sentinel's
 *  number, or -1 for any other token. */
export function restoreSpans(c: CorruptedText, sentinelIndex: (id: number) => number, eos: number): number[] {
  const spans = new Map<number, number[]>();
  let current: number[] | null = null;
  for (const id of c.target) {
    if (id === eos) break;
    const s = sentinelIndex(id);
    if (s >= 0) spans.set(s, (current = []));
    else if (current) current.push(id);
    else throw new Error('restoreSpans: the target does not start with a sentinel');
  }
  const out: number[] = [];
  for (const id of c.input) {
    if (id === eos) break;
    const s = sentinelIndex(id);
    if (s < 0) out.push(id);
    else {
      const span = spans.get(s);
      if (!span) throw new Error(`restoreSpans: sentinel ${s} of the input is not in the target`);
      out.push(...span);
    }
  }
  return out;
}
