// Fine-tuning a Hub model end to end: `experiments/cli.ts train --init hf:...` against a stand-in
// Hub on 127.0.0.1, on explained ListOps encoded with the model's own SentencePiece tokenizer.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cellsOf, loadGrid, type Grid } from '../../experiments/grid.ts';
import { runGrid } from '../../experiments/runner.ts';
import { generateSplits } from '../../experiments/tasks/dataset.ts';
import { writeAuthorsTsv } from '../../experiments/tasks/tsv.ts';
import { readCheckpointDir } from '../../model/checkpoint-dir.ts';
import { loadModel } from '../../model/checkpoint.ts';
import { greedyDecode } from '../../model/decode.ts';
import { SentencePieceTokenizer } from '../../model/sentencepiece.ts';
import { setupEngine } from '../helpers.ts';
import { COMMIT, SPIECE, makeT5Repo } from '../model/hub-repo.ts';
import { startStandInHub, type StandInHub } from '../model/hub-server.ts';

const root = path.resolve(import.meta.dirname, '../..');
let hub: StandInHub;

beforeAll(async () => {
  await setupEngine();
  hub = await startStandInHub({ 'test/tiny-t5': { commit: COMMIT, files: await makeT5Repo(), lfs: ['model.safetensors', 'spiece.model'] } });
});
afterAll(() => hub.close());

// Asynchronous, so the stand-in server in this process keeps answering while the CLI runs.
function run(script: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(path.join(root, 'node_modules/.bin/tsx'), [script, ...args], { cwd: root, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill(), 240_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('train --init hf:', () => {
  it('fine-tunes a Hub model on explained ListOps: the loss falls and generation decodes through its tokenizer', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hub-train-'));
    const splits = generateSplits({
      task: 'listops',
      seed: 7,
      sizes: { train: 32, validation: 8, test: 8 },
      options: { minDepth: 1, maxDepth: 1, maxArgs: 3, layout: 'plain', naming: 'lra', minLength: 0, maxLength: 20 },
      format: 'medium',
    });
    const tsv = (name: 'train' | 'validation' | 'test') => {
      const file = path.join(dir, `${name}.tsv`);
      writeFileSync(file, writeAuthorsTsv(splits[name].map((e) => ({ source: e.source, target: e.target! }))));
      return file;
    };
    const out = path.join(dir, 'out');
    const env = { HF_ENDPOINT: hub.url, HF_HOME: path.join(dir, 'hf'), HF_HUB_OFFLINE: '' };
    const r = await run('experiments/cli.ts', ['train', '--init', 'hf:test/tiny-t5', '--train', tsv('train'), '--validation', tsv('validation'), '--test', tsv('test'), '--epochs', '6', '--batch-size', '8', '--lr', '0.003', '--out', out], env);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(path.join(dir, 'hf/hub/models--test--tiny-t5/snapshots', COMMIT, 'model.safetensors'))).toBe(true);
    expect(r.stdout).toMatch(/model hf:test\/tiny-t5: [\d,]+ parameters; 32 training examples/);
    // The fixture's vocabulary has every character of LRA-style ListOps; newlines fold into spaces.
    expect(r.stdout).toMatch(/tokenizer of hf:test\/tiny-t5: the vocabulary covers every character of the 96 texts \(\d+ decode with whitespace folded\)/);

    const losses = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.loss !== undefined).map((m) => m.loss as number);
    expect(losses.length).toBe(24);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-4)), losses.join(' ')).toBeLessThan(0.7 * mean(losses.slice(0, 4)));

    // The fine-tuned model keeps the Hub model's tokenizer, and the model CLI generates through it.
    const saved = (await readCheckpointDir(path.join(out, 'model')))!;
    expect(saved['spiece.model']).toEqual(new Uint8Array(readFileSync(SPIECE)));
    const { model, tokenizer } = loadModel(saved, 'out/model');
    expect(tokenizer).toBeInstanceOf(SentencePieceTokenizer);
    const source = splits.test[0].source;
    const [ids] = await greedyDecode(model, [tokenizer!.encode(source, { addEos: true })], { maxNewTokens: 20 });
    const g = await run('model/cli.ts', ['generate', '--checkpoint', path.join(out, 'model'), '--text', source, '--max-new-tokens', '20'], env);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout.replace(/\n$/, '')).toBe(tokenizer!.decode(ids, { skipSpecial: true }));
    // SentencePiece pieces: words start with "▁", which decoding turns into spaces.
    expect(ids.some((id) => tokenizer!.idToPiece(id).startsWith('\u2581'))).toBe(true);
  });
});

describe('grids with Hub models', () => {
  it('runs a grid arm whose model is hf:..., through the model\'s tokenizer', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hub-grid-'));
    // runGrid reads the Hub settings from the environment, as the CLI does.
    Object.assign(process.env, { HF_ENDPOINT: hub.url, HF_HOME: path.join(dir, 'hf'), HF_HUB_OFFLINE: '' });
    const tiny = loadGrid('explanations').presets.tiny;
    const grid: Grid = { name: 'explanations', description: '', presets: { tiny: { ...tiny, seeds: 1, arms: [{ explanation: 'medium', model: 'hf:test/tiny-t5', trainSize: 16 }] } } };
    const lines: string[] = [];
    const run = await runGrid({ grid, preset: 'tiny', out: dir, log: (l) => lines.push(l) });
    const results = JSON.parse(readFileSync(path.join(run, 'results.json'), 'utf8'));
    expect(results.rows).toHaveLength(1);
    expect(results.rows[0]).toMatchObject({ model: 'hf:test/tiny-t5', explanation: 'medium', params: 47_872 });
    expect(lines.join('\n')).toMatch(/model hf:test\/tiny-t5, 47,872 parameters, vocabulary 200/);
    expect(lines.join('\n')).toMatch(/tokenizer of hf:test\/tiny-t5: the vocabulary covers every character/);
    expect(readFileSync(path.join(run, 'cells/listops-medium-hf-test-tiny-t5-n16-seed1/model/spiece.model'))).toEqual(readFileSync(SPIECE));
  });

  it('the paper presets fine-tune t5-small and t5-base from the Hub as the authors did', () => {
    for (const name of ['explanations', 'modsum', 'data-size']) {
      const p = loadGrid(name).presets.paper;
      expect(p.training).toMatchObject({ batchSize: 8, lr: 5e-5, weightDecay: 0, schedule: 'step', decayEveryEpochs: 2, maxLength: 512 });
      const models = new Set(cellsOf(p).map((c) => c.model));
      expect(models.has('hf:google-t5/t5-small')).toBe(true);
      expect(cellsOf(p).every((c) => /^[\w.-]+$/.test(c.id))).toBe(true);
    }
    expect(loadGrid('explanations').presets.paper.arms[0].model).toEqual(['hf:google-t5/t5-small', 'hf:google-t5/t5-base']);
  });
});
