// Pretraining (experiments/pretrain/): what its data holds and does not, its vocabulary against
// the fine-tuning texts, the same weights from the same seed, a stopped or crashed run resumed to
// the loss curve of an uninterrupted one, its output folder as a grid cell's starting point, and
// the command line.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCheckpointDir } from '../../model/checkpoint-dir.ts';
import { WordTokenizer } from '../../model/tokenizer.ts';
import { restoreSpans } from '../../training/span-corruption.ts';
import { prepareCell, splitsFor } from '../../experiments/cell.ts';
import { loadGrid, makeCell, presetOf, type GridPreset } from '../../experiments/grid.ts';
import { fineTuningHeldOut, pretrainData } from '../../experiments/pretrain/data.ts';
import { pretrain, type PretrainSettings } from '../../experiments/pretrain/run.ts';
import { generateSplits } from '../../experiments/tasks/dataset.ts';
import { EXPLANATION_FORMATS, explainSource } from '../../experiments/tasks/explain.ts';
import { setupEngine } from '../helpers.ts';

beforeAll(setupEngine);

const root = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'pretrain-'));
const quick = presetOf(loadGrid('explanations'), 'quick');
const tiny = presetOf(loadGrid('pretraining'), 'tiny');

function settingsFor(p: GridPreset, over: Partial<PretrainSettings> = {}): PretrainSettings {
  return {
    grid: 'pretraining',
    preset: 'tiny',
    task: p.task,
    taskOptions: p.taskOptions,
    model: 'tiny',
    steps: 8,
    seed: 1,
    lr: 0.003,
    warmupSteps: 2,
    batchSize: 8,
    weightDecay: 0,
    maxGradNorm: 1,
    sources: 48,
    validationSize: 8,
    heldOutSeeds: 2,
    noiseDensity: 0.15,
    meanSpanLength: 3,
    evalEvery: 3,
    checkpointEvery: 2,
    ...over,
  };
}

const run = (out: string, over: Partial<PretrainSettings> = {}, extra: Partial<Parameters<typeof pretrain>[0]> = {}) =>
  pretrain({ settings: settingsFor(tiny, over), preset: tiny, out: path.join(tmp, out), log: () => {}, ...extra });

/** metrics.jsonl without the timings, which differ from run to run. */
const curve = (out: string) =>
  readFileSync(path.join(tmp, out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { tokensPerSecond: _, ...r } = JSON.parse(l);
      return r;
    });
const bytes = (out: string, file: string) => readFileSync(path.join(tmp, out, file));

describe('pretraining data', () => {
  const data = pretrainData({ preset: quick, seed: 1, sources: 400, validation: 40, heldOutSeeds: 2 });

  it('is sources of the task only: no answer, no explanation, and every example restores to its source', () => {
    for (const s of [...data.sourceTexts, ...data.validationTexts]) {
      expect(() => explainSource(s, 'none')).not.toThrow();
      expect(s).not.toMatch(/Final|answer|sum|largest|smallest|sorted|\n|,/);
    }
    const examples = data.epoch(0);
    expect(examples.length).toBe(400);
    const { tokenizer } = data;
    const sentinel = (id: number) => (id >= tokenizer.vocabSize - tokenizer.sentinels ? id - (tokenizer.vocabSize - tokenizer.sentinels) : -1);
    examples.forEach((e, i) => {
      const restored = restoreSpans({ input: e.source, target: e.target }, sentinel, tokenizer.eosId);
      expect(tokenizer.decode(restored)).toBe(data.sourceTexts[i]);
      expect(e.target[0]).toBe(tokenizer.sentinelId(0));
    });
    // a target text is always a sentinel and some source tokens, never a fine-tuning target
    for (const e of data.validation) expect(tokenizer.decode(e.target, { skipSpecial: true })).toMatch(/^<extra_id_0>/);
  });

  it('corrupts the pool anew each epoch, the same way for the same seed and epoch', () => {
    expect(data.epoch(1)).not.toEqual(data.epoch(0));
    const again = pretrainData({ preset: quick, seed: 1, sources: 400, validation: 40, heldOutSeeds: 2 });
    expect(again.epoch(1)).toEqual(data.epoch(1));
    expect(again.validation).toEqual(data.validation);
    expect(pretrainData({ preset: quick, seed: 2, sources: 400, validation: 40, heldOutSeeds: 2 }).sourceTexts).not.toEqual(data.sourceTexts);
  });

  it('draws none of the fine-tuning validation and test sources of the held-out seeds, and validates on sources outside the pool', () => {
    const held = fineTuningHeldOut(quick, 2);
    // the same sources whatever the format: a medium cell's splits are the ones held out
    const cell = splitsFor(quick, { task: 'listops', seed: 2, trainSize: 2000, explanation: 'medium' });
    for (const e of [...cell.validation, ...cell.tests[0].examples]) expect(held.has(e.source)).toBe(true);
    expect(held.size).toBe(2 * (quick.validationSize + quick.testSize));
    for (const s of [...data.sourceTexts, ...data.validationTexts]) expect(held.has(s)).toBe(false);
    const pool = new Set(data.sourceTexts);
    expect(new Set(data.validationTexts).size).toBe(data.validationTexts.length);
    for (const s of data.validationTexts) expect(pool.has(s)).toBe(false);
    // its own seed streams: not the sources fine-tuning seed 1 trains on
    const fineTuning = generateSplits({ task: 'listops', seed: 1, sizes: { train: 400, validation: 0, test: 0 }, options: quick.taskOptions as never });
    expect(fineTuning.train.map((e) => e.source)).not.toEqual(data.sourceTexts);
  });

  it("has a vocabulary that spells every fine-tuning format's texts as the cells' own tokenizer does, plus the sentinels", () => {
    for (const [grid, seed] of [['explanations', 11], ['modsum', 3]] as const) {
      const p = { ...presetOf(loadGrid(grid), 'quick'), validationSize: 30, testSize: 60 };
      const d = grid === 'modsum' ? pretrainData({ preset: p, seed: 1, sources: 200, validation: 20, heldOutSeeds: 1 }) : data;
      const texts = EXPLANATION_FORMATS.flatMap((f) => {
        const s = splitsFor(p, { task: p.task, seed, trainSize: 200, explanation: f });
        return [...s.train, ...s.validation, ...s.tests.flatMap((t) => t.examples)].flatMap((e) => [e.source, e.target!]);
      });
      const own = WordTokenizer.fromTexts(texts);
      for (const t of texts) {
        const ids = d.tokenizer.encode(t);
        expect(ids).not.toContain(d.tokenizer.unkId);
        expect(ids.length).toBe(own.encode(t).length);
        expect(d.tokenizer.decode(ids)).toBe(t);
      }
      expect(d.tokenizer.sentinels).toBeGreaterThan(0);
    }
  });
});

describe('a pretraining run', () => {
  it('gives the same weights, tokenizer and loss curve from the same seed', async () => {
    await run('a', { steps: 6 });
    await run('b', { steps: 6 });
    for (const f of ['model.safetensors', 'tokenizer.json', 'config.json']) expect(bytes('b', f).equals(bytes('a', f))).toBe(true);
    expect(curve('b')).toEqual(curve('a'));
    await run('c', { steps: 6, seed: 2 });
    expect(bytes('c', 'model.safetensors').equals(bytes('a', 'model.safetensors'))).toBe(false);
  });

  it('stopped or killed, resumes with the same command to the loss curve and weights of an uninterrupted run', async () => {
    const whole = await run('whole');
    expect(whole).toMatchObject({ complete: true, steps: 8, resumed: false });
    const losses = curve('whole');
    expect(losses.filter((r) => 'loss' in r).map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(losses.filter((r) => 'valAccuracy' in r).map((r) => r.step)).toEqual([3, 6, 8]);

    // stopped (Ctrl-C) at step 3: a checkpoint there, then the same settings resume it
    const stopped = await run('stopped', {}, { shouldStop: (() => { let n = 0; return () => ++n >= 3; })() });
    expect(stopped).toMatchObject({ complete: false, steps: 3 });
    const resumed = await run('stopped');
    expect(resumed).toMatchObject({ complete: true, steps: 8, resumed: true });
    expect(curve('stopped')).toEqual(losses);
    expect(bytes('stopped', 'model.safetensors').equals(bytes('whole', 'model.safetensors'))).toBe(true);

    // killed after step 7 was logged, its last checkpoint at step 6 (the end of the first pass
    // over the pool): the lines past the checkpoint go, and the second pass is corrupted as before
    const crash = run('killed', {}, { onStep: (step) => { if (step === 7) throw new Error('killed'); } });
    await expect(crash).rejects.toThrow('killed');
    expect(curve('killed').at(-1)).toMatchObject({ step: 7 });
    const again = await run('killed');
    expect(again).toMatchObject({ complete: true, resumed: true });
    expect(curve('killed')).toEqual(losses);
    expect(bytes('killed', 'model.safetensors').equals(bytes('whole', 'model.safetensors'))).toBe(true);
  });

  it('leaves a model folder that a grid cell starts from, with its tokenizer and embeddings', async () => {
    const out = path.join(tmp, 'whole');
    const files = (await readCheckpointDir(out))!;
    expect(Object.keys(files)).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json', 'pretraining.json']));
    const info = JSON.parse(readFileSync(path.join(out, 'pretraining.json'), 'utf8'));
    expect(info).toMatchObject({ complete: true, settings: { steps: 8, model: 'tiny' }, result: { steps: 8 } });
    expect(readFileSync(path.join(out, 'loss.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    const cell = makeCell({ task: 'listops', explanation: 'medium', model: 'tiny', trainSize: 16, seed: 1, init: out });
    const prepared = prepareCell(tiny, cell, files);
    const tokenizer = WordTokenizer.fromJSON(JSON.parse(new TextDecoder().decode(files['tokenizer.json'])));
    expect(prepared.tokenizer.vocabSize).toBe(tokenizer.vocabSize);
    expect((prepared.tokenizer as WordTokenizer).sentinels).toBe(tokenizer.sentinels);
    expect(prepared.notes[0]).toMatch(/covers every character/);
    const fresh = prepareCell(tiny, makeCell({ ...cell, init: undefined }));
    const embedding = async (c: typeof prepared) => Array.from((await c.model.params.get('shared.weight')!.toArray()) as Float32Array);
    const pretrained = await embedding(prepared);
    expect(pretrained.length).toBe(tokenizer.vocabSize * 32);
    expect(pretrained).not.toEqual((await embedding(fresh)).slice(0, pretrained.length));
    const xs = makeCell({ ...cell, model: 'xs' });
    expect(() => prepareCell(tiny, xs, files)).toThrow(/config\.json: the model there is of size tiny \(.*\), but the cell's model is xs/);
    for (const c of [prepared, fresh]) {
      c.trainer.optimizer.dispose();
      c.model.dispose();
    }
  });

  it('says a finished folder is done, and refuses one of other settings or other files unless told to start over', async () => {
    expect(await run('a', { steps: 6 })).toMatchObject({ alreadyDone: true });
    await expect(run('a', { steps: 7, lr: 0.01 })).rejects.toThrow(/holds a pretraining with other settings \(steps, lr\).*--overwrite/);
    mkdirSync(path.join(tmp, 'other'));
    writeFileSync(path.join(tmp, 'other', 'notes.txt'), 'mine');
    await expect(run('other', { steps: 2, warmupSteps: 0 })).rejects.toThrow(/already holds notes\.txt and no pretraining\.json/);
    expect(await run('other', { steps: 2, warmupSteps: 0, evalEvery: 0 }, { overwrite: true })).toMatchObject({ complete: true, steps: 2 });
    // how often it checkpoints is no part of what the run is
    expect(await run('a', { steps: 6, checkpointEvery: 5 })).toMatchObject({ alreadyDone: true });
  });
});

describe('npm run pretrain', () => {
  const cli = (...args: string[]) => spawnSync(path.join(root, 'node_modules/.bin/tsx'), ['experiments/pretrain/cli.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });

  it('refuses unknown options with the valid list, and a task its grid is not', () => {
    const bad = cli('--model', 'tiny', '--colour', 'red');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/pretrain: unknown option --colour; valid options: --model, --task, --grid, --preset, --steps, --seed, --out, --lr, --batch-size, /);
    const wrong = cli('--model', 'tiny', '--task', 'modsum', '--grid', 'explanations', '--preset', 'tiny');
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toContain('--task modsum, but grid explanations preset tiny is a listops grid');
  });

  it('trains, writes the folder, and resumes to the end', () => {
    const out = path.join(tmp, 'cli');
    const r = cli('--model', 'tiny', '--grid', 'pretraining', '--preset', 'tiny', '--steps', '3', '--sources', '40', '--validation-size', '5', '--held-out-seeds', '1', '--out', out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/pretrain tiny: step 3\/3 loss \d+\.\d+ \| [\d,]+ tok\/s \| \d+s elapsed, ~0s left/);
    expect(r.stdout).toMatch(/wrote .*cli: config.json, model.safetensors, tokenizer.json/);
    expect(cli('--model', 'tiny', '--grid', 'pretraining', '--preset', 'tiny', '--steps', '3', '--sources', '40', '--validation-size', '5', '--held-out-seeds', '1', '--out', out).stdout).toMatch(/finished already/);
  });
});
