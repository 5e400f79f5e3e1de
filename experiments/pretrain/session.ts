// One pretraining without a file system, shared by `npm run pretrain` (run.ts, which adds the
// output folder, its lock and its files) and the browser page's worker (which keeps its
// checkpoints in memory): the data of the settings, a fresh model, the project's trainer with
// span-corrupted examples made afresh every epoch, and what pretraining.json says at the end.

import * as E from '../../engine/index.ts';
import { countParameters, withVocab, type T5Config } from '../../model/config.ts';
import { T5 } from '../../model/t5.ts';
import { Trainer, type TrainResult } from '../../training/trainer.ts';
import type { GridPreset } from '../grid.ts';
import { pretrainData, PRETRAIN_SEED_OFFSET, type PretrainData } from './data.ts';
import type { PretrainSettings } from './settings.ts';

/** The data the settings describe (sources of `preset`, the fine-tuning preset they name). */
export function dataOf(s: PretrainSettings, preset: GridPreset): PretrainData {
  return pretrainData({
    preset,
    seed: s.seed,
    sources: s.sources,
    validation: s.validationSize,
    heldOutSeeds: s.heldOutSeeds,
    corruption: { noiseDensity: s.noiseDensity, meanSpanLength: s.meanSpanLength },
  });
}

/** The log line that says what the data holds. */
export function describeData(s: PretrainSettings, data: PretrainData): string {
  const t = data.tokenizer;
  return (
    `pretraining data: ${s.sources.toLocaleString('en-US')} ${s.task} sources of preset ${s.grid}/${s.preset} (${new Set(data.sourceTexts).size.toLocaleString('en-US')} distinct), ${s.validationSize} held out for validation, ` +
    `${data.heldOut.toLocaleString('en-US')} validation and test sources of fine-tuning seeds 1-${s.heldOutSeeds} never drawn (${data.skipped} draws skipped); ` +
    `vocabulary ${t.vocabSize} (${t.sentinels} sentinel${t.sentinels === 1 ? '' : 's'})`
  );
}

export interface PretrainSession {
  data: PretrainData;
  config: T5Config;
  model: T5;
  trainer: Trainer;
  /** Steps in a pass over the pool. */
  perEpoch: number;
}

/** A fresh model of the settings' size and its trainer over `data`; the engine must be started. */
export function startPretraining(s: PretrainSettings, data: PretrainData): PretrainSession {
  const config = withVocab(s.model, data.tokenizer.vocabSize);
  if (s.dropout !== undefined) config.dropoutRate = s.dropout;
  const model = T5.init(config, s.seed);
  const perEpoch = Math.ceil(s.sources / s.batchSize);
  const trainer = new Trainer(
    model,
    data.tokenizer,
    data.epoch(0),
    data.validation,
    data.parse,
    {
      batchSize: s.batchSize,
      maxEpochs: Math.ceil(s.steps / perEpoch),
      maxSteps: s.steps,
      schedule: { type: 'linear', lr: s.lr, warmupSteps: s.warmupSteps, totalSteps: 0 },
      weightDecay: s.weightDecay,
      maxGradNorm: s.maxGradNorm,
      evalEvery: s.evalEvery,
      patience: 0,
      checkpointEvery: s.checkpointEvery,
      maxNewTokens: data.longestTarget + 4,
      seed: s.seed,
    },
    { epochData: (epoch) => data.epoch(epoch) },
  );
  return { data, config, model, trainer, perEpoch };
}

/** The log line that says what will train. */
export function describeRun(s: PretrainSettings, session: PretrainSession): string {
  return `model ${s.model}: ${countParameters(session.config).toLocaleString('en-US')} parameters; ${s.steps} steps of batch ${s.batchSize} (${session.perEpoch} a pass over the pool, corrupted anew each pass)`;
}

/** pretraining.json of a finished run: its settings, what it did and what its data held. */
export function finishedInfo(s: PretrainSettings, session: PretrainSession, result: TrainResult, validationAccuracy: number | null): object {
  const { data, config } = session;
  return {
    complete: true,
    settings: s,
    result: {
      steps: result.steps,
      seconds: result.seconds,
      finalLoss: result.finalLoss,
      validationAccuracy,
      params: countParameters(config),
      vocabSize: data.tokenizer.vocabSize,
      sentinels: data.tokenizer.sentinels,
      adapter: E.describeAdapter(E.engine().adapter),
    },
    data: {
      what: 'sources of the task generator only (no answers, no explanations), corrupted anew each pass over the pool; see experiments/pretrain/data.ts',
      seedStreams: `Rng(deriveSeed(${PRETRAIN_SEED_OFFSET} + seed, stream))`,
      distinctSources: new Set(data.sourceTexts).size,
      heldOutFineTuningSources: data.heldOut,
      heldOutSeeds: `1-${s.heldOutSeeds}`,
      skippedDraws: data.skipped,
    },
  };
}
