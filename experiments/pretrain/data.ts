// The data of pretraining, with no file system: unlabelled task sources, their vocabulary, and
// span-corrupted examples (training/span-corruption.ts) made afresh every epoch.
//
// What the data is: sources the task's generator draws with the fine-tuning grid preset's own
// options for training (taskOptions with trainOptions over them), nothing else: no answer, no
// explanation, no target of any fine-tuning format. The test sets' options are not used either
// (a generalization grid's deeper test sources stay unseen in kind).
//
// Seeds: fine-tuning draws its splits from Rng(deriveSeed(s, split)) for a cell seed s and its
// test sets from the seeds s * 1000 + i + 1 (experiments/cell.ts, tasks/dataset.ts). Pretraining
// draws from Rng(deriveSeed(2^40 + seed, stream)), streams of their own (PRETRAIN_STREAMS): a
// different generator state for any seed below 2^40. Distinct streams alone would still draw a
// fine-tuning test source now and then (a narrow task has few distinct sources), so the pool and
// the pretraining validation also skip every validation and test source that the preset's cells
// of fine-tuning seeds 1..heldOutSeeds are scored on (20 by default: the committed runs use seeds
// 1-18). A fine-tuning seed past that may meet a source pretraining saw, as a text without its
// answer.
//
// Vocabulary: the word tokenizer of the fine-tuning cells (model/tokenizer.ts), built from a sample
// of sources in every option set of the preset (training and each test set's) rendered in all four
// formats (none, short, medium, long) — the targets only lend their pieces to the vocabulary and
// never appear in the data — then as many sentinels as the longest source needs. A model
// fine-tuned from the pretrained one encodes its texts with this tokenizer, so it starts from the
// embedding table pretraining trained.

import { Rng, deriveSeed } from '../../engine/index.ts';
import { WordTokenizer } from '../../model/tokenizer.ts';
import type { EncodedExample } from '../../training/data.ts';
import type { AnswerParser } from '../../training/evaluate.ts';
import { corruptSpans, spanCounts, T5_SPAN_CORRUPTION, type SpanCorruptionOptions } from '../../training/span-corruption.ts';
import { splitsFor } from '../cell.ts';
import { cellsOf, type GridPreset } from '../grid.ts';
import { createTask, type TaskName } from '../tasks/dataset.ts';
import { EXPLANATION_FORMATS } from '../tasks/explain.ts';

/** Pretraining seed s draws from the streams of 2^40 + s, which no fine-tuning seed below 2^40 uses. */
export const PRETRAIN_SEED_OFFSET = 2 ** 40;
export const PRETRAIN_STREAMS = { sources: 0, validation: 1, vocabulary: 2, corruption: 3, validationCorruption: 4 } as const;
const streamSeed = (seed: number, stream: number) => deriveSeed(PRETRAIN_SEED_OFFSET + seed, stream);

/** Sources per option set and format that the vocabulary is built from. */
const VOCABULARY_SAMPLE = 500;

export interface PretrainDataOptions {
  /** The fine-tuning grid preset whose task and options the sources follow. */
  preset: GridPreset;
  seed: number;
  /** Sources in the pool that every epoch corrupts anew (may repeat, as a training split may). */
  sources: number;
  /** Held-out sources, distinct and outside the pool, corrupted once, for validation. */
  validation: number;
  /** Fine-tuning seeds 1..heldOutSeeds whose validation and test sources are never drawn. */
  heldOutSeeds: number;
  corruption?: SpanCorruptionOptions;
}

export interface PretrainData {
  tokenizer: WordTokenizer;
  /** The pool's source texts, and their token ids without EOS. */
  sourceTexts: string[];
  sources: number[][];
  validationTexts: string[];
  /** Each validation source corrupted once; its `answer` numbers its target text (see parse). */
  validation: EncodedExample[];
  /** Generated text to the number of the validation target it restores exactly, else null: the
   *  trainer's accuracy is then the share of held-out texts whose spans the model restores. */
  parse: AnswerParser;
  /** The pool corrupted for epoch `epoch` (the same for the same seed and epoch). */
  epoch(epoch: number): EncodedExample[];
  /** Distinct fine-tuning validation and test sources held out, and draws skipped as one of them. */
  heldOut: number;
  skipped: number;
  /** Longest validation target, in tokens, EOS included. */
  longestTarget: number;
}

/** The validation and test sources of fine-tuning seeds 1..seeds of the preset, every training size. */
export function fineTuningHeldOut(preset: GridPreset, seeds: number): Set<string> {
  const out = new Set<string>();
  if (seeds === 0) return out;
  const runs = new Map(cellsOf(preset, seeds).map((c) => [`${c.seed} ${c.trainSize}`, c]));
  for (const c of runs.values()) {
    // The format does not change which sources a seed draws, so the cheapest one serves.
    const s = splitsFor(preset, { task: c.task, seed: c.seed, trainSize: c.trainSize, explanation: 'none' });
    for (const e of s.validation) out.add(e.source);
    for (const t of s.tests) for (const e of t.examples) out.add(e.source);
  }
  return out;
}

/** The texts the vocabulary is built from: sources of every option set of the preset in all four formats, with their targets. */
export function vocabularyTexts(preset: GridPreset, seed: number): string[] {
  const optionSets = [{ ...preset.taskOptions, ...preset.trainOptions }, ...Object.values(preset.tests).map((o) => ({ ...preset.taskOptions, ...o }))];
  const texts: string[] = [];
  optionSets.forEach((options, i) => {
    const task = createTask(preset.task as TaskName, options as never);
    for (const format of EXPLANATION_FORMATS) {
      // The same sources in every format: the generator draws nothing for the explanation.
      const rng = new Rng(deriveSeed(streamSeed(seed, PRETRAIN_STREAMS.vocabulary), i));
      for (let k = 0; k < VOCABULARY_SAMPLE; k++) {
        const e = task.generate(rng, format);
        texts.push(e.source, e.target!);
      }
    }
  });
  return texts;
}

export function pretrainData(o: PretrainDataOptions): PretrainData {
  const corruption = o.corruption ?? T5_SPAN_CORRUPTION;
  const p = o.preset;
  const heldOut = fineTuningHeldOut(p, o.heldOutSeeds);
  const task = createTask(p.task as TaskName, { ...p.taskOptions, ...p.trainOptions } as never);
  let skipped = 0;
  const draw = (stream: number, n: number, distinct: boolean, exclude: Set<string>, what: string): string[] => {
    const rng = new Rng(streamSeed(o.seed, stream));
    const out: string[] = [];
    const seen = new Set<string>();
    const maxAttempts = 50 * n + 1000;
    for (let attempt = 0; out.length < n; attempt++) {
      if (attempt >= maxAttempts) throw new Error(`pretraining: found only ${out.length} of ${n} ${what} outside the held-out fine-tuning sources after ${maxAttempts} draws; the task's options allow too few distinct sources`);
      const source = task.generate(rng).source;
      if (heldOut.has(source)) {
        skipped++;
        continue;
      }
      if (exclude.has(source) || (distinct && seen.has(source))) continue;
      seen.add(source);
      out.push(source);
    }
    return out;
  };
  const sourceTexts = draw(PRETRAIN_STREAMS.sources, o.sources, false, new Set(), 'pool sources');
  const validationTexts = draw(PRETRAIN_STREAMS.validation, o.validation, true, new Set(sourceTexts), 'validation sources');

  const base = WordTokenizer.fromTexts([...vocabularyTexts(p, o.seed), ...sourceTexts, ...validationTexts]);
  const encode = (t: string) => base.encode(t);
  const sources = sourceTexts.map(encode);
  const validationIds = validationTexts.map(encode);
  const longest = Math.max(1, ...sources.map((s) => s.length), ...validationIds.map((s) => s.length));
  const tokenizer = base.withSentinels(spanCounts(longest, corruption).spans);
  const special = { sentinel: (i: number) => tokenizer.sentinelId(i), eos: tokenizer.eosId };
  const corrupt = (list: readonly number[][], rng: Rng): EncodedExample[] =>
    list.map((ids, index) => {
      const c = corruptSpans(ids, special, rng, corruption);
      return { source: c.input, target: c.target, answer: 0, index };
    });

  const validation = corrupt(validationIds, new Rng(streamSeed(o.seed, PRETRAIN_STREAMS.validationCorruption)));
  const targetNumber = new Map<string, number>();
  for (const e of validation) {
    const text = tokenizer.decode(e.target, { skipSpecial: true });
    if (!targetNumber.has(text)) targetNumber.set(text, targetNumber.size);
    e.answer = targetNumber.get(text)!;
  }
  let cached: { epoch: number; examples: EncodedExample[] } | null = null;
  return {
    tokenizer,
    sourceTexts,
    sources,
    validationTexts,
    validation,
    parse: (text) => targetNumber.get(text) ?? null,
    epoch(epoch) {
      if (cached?.epoch !== epoch) cached = { epoch, examples: corrupt(sources, new Rng(deriveSeed(streamSeed(o.seed, PRETRAIN_STREAMS.corruption), epoch))) };
      return cached.examples;
    },
    heldOut: heldOut.size,
    skipped,
    longestTarget: Math.max(...validation.map((e) => e.target.length)),
  };
}
