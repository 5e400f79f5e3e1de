import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expectedParameters, findCheckpointProblems, t5ParameterLayout, validateCheckpoint } from '../../model/checkpoint-format.ts';
import { fromHFConfig, withVocab, type T5Config } from '../../model/config.ts';
import { readSafetensors, writeSafetensors, type F32Tensor, type SafetensorsFile } from '../../model/safetensors.ts';

const T5_DIR = new URL('../fixtures/t5/', import.meta.url);
const load = (path: string): SafetensorsFile => readSafetensors(readFileSync(new URL(path, T5_DIR)), path);
const config = (name: string): T5Config => fromHFConfig(JSON.parse(readFileSync(new URL(`${name}/config.json`, T5_DIR), 'utf8')));
const ALIASES = ['encoder.embed_tokens.weight', 'decoder.embed_tokens.weight', 'lm_head.weight'];

/** A checkpoint with every expected tensor (value i + 1 at index 0, so tensors differ), then edits. */
function checkpoint(cfg: T5Config, edit: (t: Map<string, F32Tensor>) => void = () => {}): SafetensorsFile {
  const tensors = new Map<string, F32Tensor>();
  expectedParameters(cfg).forEach((p, i) => {
    const data = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
    data[0] = i + 1;
    tensors.set(p.name, { shape: p.shape, data });
  });
  edit(tensors);
  return readSafetensors(writeSafetensors(tensors), 'edited.safetensors');
}

describe('HF T5 parameter names', () => {
  for (const name of ['tiny-relu', 'tiny-gated']) {
    it(`match the names and [out, in] shapes in the ${name} fixture`, () => {
      const file = load(`${name}/model.safetensors`);
      const expected = expectedParameters(config(name));
      const stored = file.names().filter((n) => !ALIASES.includes(n));
      expect(expected.map((p) => p.name).sort()).toEqual(stored.sort());
      for (const p of expected) expect(file.info(p.name).shape, p.name).toEqual(p.shape);
      validateCheckpoint(file, config(name));
      validateCheckpoint(load(`${name}/grads.safetensors`), config(name));
    });
  }

  it('puts the relative position tables in block 0 of each stack only, and lays out blocks by role', () => {
    const cfg = config('tiny-gated');
    const layout = t5ParameterLayout(cfg);
    const tables = expectedParameters(cfg).filter((p) => p.name.includes('relative_attention_bias'));
    expect(tables).toEqual([
      { name: 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', shape: [8, 3], role: 'position-bias' },
      { name: 'decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', shape: [8, 3], role: 'position-bias' },
    ]);
    expect(layout.decoder.blocks[2].crossAttention.o).toEqual({ name: 'decoder.block.2.layer.1.EncDecAttention.o.weight', shape: [16, 18], role: 'attention-output' });
    expect(layout.decoder.blocks[1].feedForward).toEqual({
      kind: 'gated-gelu',
      wi0: { name: 'decoder.block.1.layer.2.DenseReluDense.wi_0.weight', shape: [24, 16], role: 'ff-in' },
      wi1: { name: 'decoder.block.1.layer.2.DenseReluDense.wi_1.weight', shape: [24, 16], role: 'ff-in' },
      wo: { name: 'decoder.block.1.layer.2.DenseReluDense.wo.weight', shape: [16, 24], role: 'ff-out' },
    });
    expect(layout.encoder.blocks[1].feedForwardNorm.name).toBe('encoder.block.1.layer.1.layer_norm.weight');
    expect(layout.lmHead).toBeUndefined();
    expect(t5ParameterLayout({ ...cfg, tieWordEmbeddings: false }).lmHead).toEqual({ name: 'lm_head.weight', shape: [38, 16], role: 'embedding' });
    const names = expectedParameters(cfg).map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('gives each parameter the role its Hugging Face name implies', () => {
    const byName: [RegExp, string][] = [
      [/^(shared|lm_head)\.weight$/, 'embedding'],
      [/layer_norm\.weight$/, 'norm'],
      [/relative_attention_bias\.weight$/, 'position-bias'],
      [/\.q\.weight$/, 'query'],
      [/\.k\.weight$/, 'key'],
      [/\.v\.weight$/, 'value'],
      [/\.o\.weight$/, 'attention-output'],
      [/\.wi(_[01])?\.weight$/, 'ff-in'],
      [/\.wo\.weight$/, 'ff-out'],
    ];
    for (const cfg of [config('tiny-relu'), config('tiny-gated'), { ...config('tiny-gated'), tieWordEmbeddings: false }]) {
      for (const p of expectedParameters(cfg)) expect(p.role, p.name).toBe(byName.find(([re]) => re.test(p.name))?.[1]);
    }
  });
});

describe('checkpoint validation', () => {
  const cfg = withVocab('tiny', 11);

  it('reports every missing, unexpected and mismatched tensor in one message', () => {
    const file = load('tiny-relu/model.safetensors');
    const wrong = { ...config('tiny-relu'), numLayers: 3, dFf: 32 };
    let message = '';
    try {
      validateCheckpoint(file, wrong);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^tiny-relu\/model\.safetensors does not match the T5 config \(vocab 40, d_model 16, 2x8 heads, d_ff 32, 3\+2 layers, relu, tied\):/);
    const missing = expectedParameters(wrong).filter((p) => p.name.startsWith('encoder.block.2.'));
    expect(message).toContain(`missing (${missing.length}):`);
    for (const p of missing) expect(message).toContain(`${p.name} [${p.shape.join(', ')}]`);
    // every feed-forward matrix of the 4 blocks present has the wrong d_ff
    expect(message).toContain('mismatched (8):');
    expect(message).toContain('encoder.block.0.layer.1.DenseReluDense.wi.weight is [24, 16], expected [32, 16]');
    expect(message).toContain('decoder.block.1.layer.2.DenseReluDense.wo.weight is [16, 24], expected [16, 32]');
    expect(message).not.toContain('unexpected');
  });

  it('names unexpected tensors, and an untied lm_head under a tied config', () => {
    const file = checkpoint(cfg, (t) => {
      t.set('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight.extra', { shape: [1], data: new Float32Array(1) });
      t.delete('decoder.final_layer_norm.weight');
    });
    expect(() => validateCheckpoint(file, cfg)).toThrow(/missing \(1\):\n {4}decoder\.final_layer_norm\.weight \[32\]\n {2}unexpected \(1\):\n {4}encoder\.block\.0\.layer\.0\.SelfAttention\.relative_attention_bias\.weight\.extra \[1\]/);
    const untied = { ...cfg, tieWordEmbeddings: false };
    const untiedFile = checkpoint(untied);
    expect(() => validateCheckpoint(untiedFile, untied)).not.toThrow();
    expect(() => validateCheckpoint(untiedFile, cfg)).toThrow(/tied copies that differ \(1\):\n {4}lm_head\.weight differs from shared\.weight, but tie_word_embeddings is true/);
    expect(() => validateCheckpoint(checkpoint(cfg), untied)).toThrow(/missing \(1\):\n {4}lm_head\.weight \[11, 32\]/);
  });

  it('tolerates tied aliases equal to shared.weight, and catches ones that differ or are misshapen', () => {
    const withAliases = (change?: (t: Map<string, F32Tensor>) => void) =>
      checkpoint(cfg, (t) => {
        const shared = t.get('shared.weight')!;
        for (const a of ALIASES) t.set(a, { shape: shared.shape, data: shared.data.slice() });
        change?.(t);
      });
    expect(findCheckpointProblems(withAliases(), cfg)).toEqual({ missing: [], unexpected: [], mismatched: [], aliasMismatches: [] });
    const changed = withAliases((t) => {
      t.get('decoder.embed_tokens.weight')!.data[5] = 0.5;
    });
    expect(findCheckpointProblems(changed, cfg).aliasMismatches).toEqual(['decoder.embed_tokens.weight differs from shared.weight']);
    const misshapen = withAliases((t) => {
      t.set('encoder.embed_tokens.weight', { shape: [11, 31], data: new Float32Array(11 * 31) });
    });
    expect(findCheckpointProblems(misshapen, cfg).mismatched).toEqual(['encoder.embed_tokens.weight is [11, 31], expected [11, 32]']);
  });

  it('flags non-float tensors', () => {
    const bytes = writeSafetensors([...checkpoint(cfg)]);
    const header = new TextDecoder().decode(bytes);
    const at = header.indexOf('"encoder.final_layer_norm.weight":{"dtype":"F32"');
    expect(at).toBeGreaterThan(0);
    const patched = bytes.slice();
    patched.set(new TextEncoder().encode('I32'), at + '"encoder.final_layer_norm.weight":{"dtype":"'.length);
    const problems = findCheckpointProblems(readSafetensors(patched, 'ints.safetensors'), cfg);
    expect(problems.mismatched).toEqual(['encoder.final_layer_norm.weight has dtype I32, expected one of F32, F16, BF16']);
  });
});
