// The training loop on a tiny model: it learns, and a run resumed from a checkpoint ends exactly
// where the uninterrupted run does.
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { withVocab } from '../../model/config.ts';
import { T5 } from '../../model/t5.ts';
import { WordTokenizer } from '../../model/tokenizer.ts';
import { encodeExamples, epochBatches, makeBatch } from '../../training/data.ts';
import { Trainer, type CheckpointStore, type TrainConfig } from '../../training/trainer.ts';
import type { CheckpointFiles } from '../../model/checkpoint.ts';
import { parseAnswer } from '../../experiments/tasks/answer.ts';
import { generateSplits } from '../../experiments/tasks/dataset.ts';
import { setupEngine } from '../helpers.ts';

beforeAll(setupEngine);

const splits = generateSplits({
  task: 'listops',
  seed: 3,
  sizes: { train: 48, validation: 8, test: 0 },
  options: { minDepth: 1, maxDepth: 1, maxArgs: 3, layout: 'plain', naming: 'lra', minLength: 0, maxLength: 20 },
  format: 'short',
});
const tokenizer = WordTokenizer.fromTexts([...splits.train, ...splits.validation].flatMap((e) => [e.source, e.target!]));
const enc = (xs: typeof splits.train) => encodeExamples(xs.map((e) => ({ source: e.source, target: e.target!, answer: e.answer })), tokenizer);
const train = enc(splits.train);
const validation = enc(splits.validation);
const config: TrainConfig = {
  batchSize: 8,
  gradAccumulation: 2,
  maxEpochs: 3,
  schedule: { type: 'linear', lr: 3e-3, warmupSteps: 2, totalSteps: 0 },
  weightDecay: 0.01,
  maxGradNorm: 1,
  evalEvery: 4,
  checkpointEvery: 4,
  maxNewTokens: 12,
  seed: 11,
};
const modelConfig = { ...withVocab('tiny', tokenizer.vocabSize), dropoutRate: 0.1 };

function memoryStore(): CheckpointStore & { saved: Map<string, CheckpointFiles> } {
  const saved = new Map<string, CheckpointFiles>();
  return { saved, save: async (n, f) => void saved.set(n, f), load: async (n) => saved.get(n) ?? null };
}

async function weights(m: T5): Promise<number[]> {
  const out: number[] = [];
  for (const t of m.parameters()) out.push(...(await t.toArray()));
  return out;
}

describe('Trainer', () => {
  it('batches hold similar lengths, pad labels with -100, and depend only on (seed, epoch)', async () => {
    expect(epochBatches(train, 8, 1, 0)).toEqual(epochBatches(train, 8, 1, 0));
    expect(epochBatches(train, 8, 1, 0)).not.toEqual(epochBatches(train, 8, 1, 1));
    expect(epochBatches(train, 8, 1, 0).flat().sort((a, b) => a - b)).toEqual(train.map((_, i) => i));
    const b = makeBatch([train[0], train[1]], 0, 0);
    const labels = await b.labels!.toArray();
    const Lt = b.labels!.shape[1];
    const short = train[0].target.length < train[1].target.length ? 0 : 1;
    expect(Array.from(labels.slice(short * Lt + train[short].target.length, (short + 1) * Lt)).every((v) => v === -100)).toBe(true);
    E.dispose(b);
  });

  it('lowers the loss and reports progress', async () => {
    const model = T5.init(modelConfig, 1);
    const losses: number[] = [];
    const trainer = new Trainer(model, tokenizer, train, validation, parseAnswer, { ...config, maxEpochs: 6, evalEvery: 0 });
    const r = await trainer.run({ onProgress: (p) => void losses.push(p.loss) });
    expect(r.steps).toBe(6 * 3);
    expect(losses.slice(-3).reduce((a, b) => a + b) / 3).toBeLessThan(losses.slice(0, 3).reduce((a, b) => a + b) / 3 - 0.5);
    expect(r.bestValAccuracy).toBeGreaterThanOrEqual(0);
    trainer.optimizer.dispose();
    model.dispose();
  });

  it('reports every step once, in order, with that step\'s own loss (read back a step late), holding no more GPU memory as it goes', async () => {
    const cfg = { ...modelConfig, dropoutRate: 0 };
    const model = T5.init(cfg, 4);
    const trainCfg: TrainConfig = { ...config, gradAccumulation: 1, maxSteps: 7, evalEvery: 3, checkpointEvery: 0 };
    // Step 1's loss, computed here from the initial weights on the first batch of epoch 0.
    const first = epochBatches(train, trainCfg.batchSize, trainCfg.seed, 0)[0].map((i) => train[i]);
    const want = await E.tidy(() => model.loss(makeBatch(first, cfg.padTokenId, cfg.decoderStartTokenId))).item();
    const seen: string[] = [];
    const reports: { step: number; loss: number; gradNorm: number }[] = [];
    const inUse: number[] = [];
    const trainer = new Trainer(model, tokenizer, train, validation, parseAnswer, trainCfg);
    const r = await trainer.run({
      onProgress: (p) => {
        seen.push(`step ${p.step}`);
        reports.push(p);
        inUse.push(E.engine().memoryStats().inUseBytes);
      },
      onEval: (e) => void seen.push(`eval ${e.step}`),
    });
    expect(seen).toEqual(['step 1', 'step 2', 'step 3', 'eval 3', 'step 4', 'step 5', 'step 6', 'eval 6', 'step 7', 'eval 7']);
    expect(reports[0].loss).toBeCloseTo(want, 5);
    expect(reports[1].loss).not.toBeCloseTo(want, 5);
    expect(reports.every((p) => p.gradNorm > 0 && Number.isFinite(p.gradNorm))).toBe(true);
    // Nothing piles up from step to step or from evaluation to evaluation (generation once kept
    // each batch's encoder activations).
    expect(new Set(inUse).size, `GPU bytes in use at each report: ${inUse}`).toBe(1);
    expect(r.steps).toBe(7);
    trainer.optimizer.dispose();
    model.dispose();
  });

  it('resumed from a checkpoint, ends with exactly the weights of an uninterrupted run', async () => {
    const full = T5.init(modelConfig, 2);
    const fullTrainer = new Trainer(full, tokenizer, train, validation, parseAnswer, config);
    const fullResult = await fullTrainer.run();
    const expected = await weights(full);

    const store = memoryStore();
    const first = T5.init(modelConfig, 2);
    const firstTrainer = new Trainer(first, tokenizer, train, validation, parseAnswer, config);
    let stopAfter = 5; // stops mid-epoch (3 optimizer steps per epoch), after an evaluation
    const stopped = await firstTrainer.run({ store, shouldStop: () => --stopAfter === 0 });
    expect(stopped.steps).toBe(5);
    expect(store.saved.has('last')).toBe(true);

    // a different initialization: everything must come from the checkpoint
    const second = T5.init(modelConfig, 99);
    const secondTrainer = new Trainer(second, tokenizer, train, validation, parseAnswer, config);
    expect(await secondTrainer.resume(store)).toBe(true);
    const resumed = await secondTrainer.run({ store });
    expect(resumed.steps).toBe(fullResult.steps);
    expect(resumed.bestValAccuracy).toBe(fullResult.bestValAccuracy);
    expect(await weights(second)).toEqual(expected);
    for (const t of [fullTrainer, firstTrainer, secondTrainer]) t.optimizer.dispose();
    for (const m of [full, first, second]) m.dispose();
  });

  it('refuses to resume from a checkpoint whose values are not finite or whose step lies past the run', async () => {
    const store = memoryStore();
    const model = T5.init(modelConfig, 5);
    const trainer = new Trainer(model, tokenizer, train, validation, parseAnswer, config);
    let stopAfter = 5; // after the evaluation at step 4, so that the checkpoint holds best.safetensors
    await trainer.run({ store, shouldStop: () => --stopAfter === 0 });
    const good = store.saved.get('last')!;
    /** The checkpoint with 8 bytes of 0xff (two NaN floats) written into the first tensor of `file`. */
    const poisoned = (file: string): CheckpointFiles => {
      const bytes = good[file].slice();
      const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      bytes.fill(0xff, 8 + headerLength, 16 + headerLength);
      return { ...good, [file]: bytes };
    };
    const state = JSON.parse(new TextDecoder().decode(good['trainer.json']));
    const cases: [CheckpointFiles, RegExp][] = [
      [poisoned('model.safetensors'), /^last\/model\.safetensors: tensor \S+ holds NaN at element 0; its values must be finite$/],
      [poisoned('optimizer.safetensors'), /^last\/optimizer\.safetensors: tensor \S+ holds NaN at element 0; its values must be finite$/],
      [poisoned('best.safetensors'), /^last\/best\.safetensors: tensor \S+ holds NaN at element 0; its values must be finite$/],
      [{ ...good, 'trainer.json': new TextEncoder().encode(JSON.stringify({ ...state, state: { ...state.state, step: 99999 } })) }, /^last\/trainer\.json: step 99999 is not a count within this run \(0 to 9\)$/],
    ];
    for (const [files, message] of cases) {
      const fresh = new Trainer(T5.init(modelConfig, 6), tokenizer, train, validation, parseAnswer, config);
      await expect(fresh.resume({ save: async () => {}, load: async () => files })).rejects.toThrow(message);
      fresh.optimizer.dispose();
      fresh.model.dispose();
    }
    trainer.optimizer.dispose();
    model.dispose();
  });

  it('stops as diverged when the loss runs far above its start, not only when it is NaN', async () => {
    const model = T5.init(modelConfig, 7);
    const losses: number[] = [];
    // A learning rate of 10: the loss climbs from about ln(vocabulary) to hundreds within steps.
    const trainer = new Trainer(model, tokenizer, train, validation, parseAnswer, { ...config, schedule: { type: 'constant', lr: 10 }, maxEpochs: 20, evalEvery: 0, maxGradNorm: 0 });
    const run = trainer.run({ onProgress: (p) => void losses.push(p.loss) });
    await expect(run).rejects.toThrow(/^training diverged at step \d+: the loss (\S+) is above (\S+), 2 times the larger of the first step's \(\S+\) and a uniform guess's \(ln \d+\); lower the learning rate$/);
    // every step it reported lay within the rule; the one that broke it was not reported
    const limit = 2 * Math.max(losses[0], Math.log(tokenizer.vocabSize));
    expect(losses.every((l) => l <= limit)).toBe(true);
    expect(losses.length).toBeLessThan(20 * 3);
    trainer.optimizer.dispose();
    model.dispose();
  });
});
