import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MODEL_PRESETS, PRESET_NAMES, countParameters, fromHFConfig, toHFConfig, validateConfig, withVocab, type T5Config } from '../../model/config.ts';
import { expectedParameters } from '../../model/checkpoint-format.ts';
import { readSafetensors } from '../../model/safetensors.ts';

const T5_DIR = new URL('../fixtures/t5/', import.meta.url);
const hfJson = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`${name}/config.json`, T5_DIR), 'utf8'));
const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
const countFromNames = (cfg: T5Config): number => expectedParameters(cfg).reduce((n, p) => n + numel(p.shape), 0);

// Hugging Face's t5-small config.json as published: no feed_forward_proj, tie_word_embeddings,
// num_decoder_layers or relative_attention_max_distance, so T5Config's defaults apply.
const T5_SMALL_HF = {
  architectures: ['T5WithLMHeadModel'],
  d_ff: 2048,
  d_kv: 64,
  d_model: 512,
  decoder_start_token_id: 0,
  dropout_rate: 0.1,
  eos_token_id: 1,
  initializer_factor: 1.0,
  is_encoder_decoder: true,
  layer_norm_epsilon: 1e-6,
  model_type: 't5',
  n_positions: 512,
  num_heads: 8,
  num_layers: 6,
  output_past: true,
  pad_token_id: 0,
  relative_attention_num_buckets: 32,
  task_specific_params: { summarization: { prefix: 'summarize: ' } },
  vocab_size: 32128,
};

describe('HF config round trip', () => {
  it('reads the fixture configs', () => {
    expect(fromHFConfig(hfJson('tiny-relu'))).toEqual({
      vocabSize: 40, dModel: 16, dKv: 8, dFf: 24, numLayers: 2, numDecoderLayers: 2, numHeads: 2,
      relativeAttentionNumBuckets: 8, relativeAttentionMaxDistance: 20, dropoutRate: 0, layerNormEpsilon: 1e-6,
      feedForwardProj: 'relu', tieWordEmbeddings: true, padTokenId: 0, eosTokenId: 1, decoderStartTokenId: 0,
    });
    expect(fromHFConfig(hfJson('tiny-gated'))).toMatchObject({ vocabSize: 38, dKv: 6, numHeads: 3, numDecoderLayers: 3, feedForwardProj: 'gated-gelu', layerNormEpsilon: 1e-2 });
  });

  it('writes back exactly the fixture config.json objects', () => {
    for (const name of ['tiny-relu', 'tiny-gated']) expect(toHFConfig(fromHFConfig(hfJson(name)))).toEqual(hfJson(name));
  });

  it("applies T5Config's defaults for missing keys, as for t5-small's own config.json", () => {
    const cfg = fromHFConfig(T5_SMALL_HF);
    expect(cfg).toEqual(withVocab('t5-small'));
    expect(fromHFConfig({ ...T5_SMALL_HF, num_decoder_layers: null, pad_token_id: 5, decoder_start_token_id: undefined })).toMatchObject({ numDecoderLayers: 6, decoderStartTokenId: 5 });
    expect(fromHFConfig(toHFConfig(cfg))).toEqual(cfg);
  });

  it('lists every problem in one message', () => {
    expect(() => fromHFConfig({ ...T5_SMALL_HF, d_model: 0, num_heads: 'x', feed_forward_proj: 'gated-silu' }, 'my/config.json')).toThrow(
      /^my\/config\.json: dModel must be an integer >= 1, got 0; numHeads must be an integer >= 1, got "x"; feedForwardProj must be one of relu, gated-gelu, got "gated-silu"$/,
    );
    expect(() => fromHFConfig({ model_type: 'bart' })).toThrow(/config\.json: model_type is "bart", expected "t5"/);
    expect(() => fromHFConfig([1])).toThrow(/expected a JSON object/);
    expect(() => fromHFConfig({ ...T5_SMALL_HF, vocab_size: 1 })).toThrow(/eosTokenId 1 is outside the vocabulary \(size 1\)/);
    expect(() => validateConfig({ ...withVocab('tiny', 10), dropoutRate: 1, layerNormEpsilon: 0 })).toThrow(/dropoutRate must lie in \[0, 1\), got 1; layerNormEpsilon must be > 0/);
  });
});

describe('presets and parameter counts', () => {
  it("counts t5-small as Hugging Face does (60,506,624)", () => {
    expect(countParameters(withVocab('t5-small'))).toBe(60506624);
  });

  it('agrees with the parameter shapes for every preset, tied or not, relu or gated', () => {
    for (const name of PRESET_NAMES) {
      for (const vocab of [60, 89, 32128]) {
        for (const variant of [{}, { tieWordEmbeddings: false }, { feedForwardProj: 'gated-gelu' as const, numDecoderLayers: 1 }]) {
          const cfg = { ...withVocab(name, vocab), ...variant };
          expect(countParameters(cfg), `${name} ${vocab} ${JSON.stringify(variant)}`).toBe(countFromNames(cfg));
        }
      }
    }
  });

  it('agrees with the tensors stored in the fixture checkpoints', () => {
    for (const name of ['tiny-relu', 'tiny-gated']) {
      const file = readSafetensors(readFileSync(new URL(`${name}/grads.safetensors`, T5_DIR)), name);
      const stored = file.names().reduce((n, t) => n + numel(file.info(t).shape), 0);
      expect(countParameters(fromHFConfig(hfJson(name)))).toBe(stored);
    }
  });

  it('sizes xs, s and m near 0.2M, 1M and 4M parameters for a ~60-token vocabulary', () => {
    const at60 = (p: 'xs' | 's' | 'm'): number => countParameters(withVocab(p, 60));
    expect(at60('xs')).toBeGreaterThan(0.17e6);
    expect(at60('xs')).toBeLessThan(0.23e6);
    expect(at60('s')).toBeGreaterThan(0.9e6);
    expect(at60('s')).toBeLessThan(1.1e6);
    expect(at60('m')).toBeGreaterThan(3.6e6);
    expect(at60('m')).toBeLessThan(4.4e6);
    expect(MODEL_PRESETS.tiny).toMatchObject({ dModel: 32, numLayers: 2, numDecoderLayers: 2, numHeads: 2, dKv: 16, dFf: 64, dropoutRate: 0 });
  });

  it('needs a vocabulary size and a known preset', () => {
    expect(withVocab('tiny', 50).vocabSize).toBe(50);
    expect(withVocab(MODEL_PRESETS.s, 70)).toMatchObject({ vocabSize: 70, dModel: 128 });
    expect(withVocab('t5-small', 100).vocabSize).toBe(100);
    expect(() => withVocab('tiny')).toThrow(/no vocabulary size of its own/);
    expect(() => withVocab('huge' as 'tiny', 10)).toThrow(/unknown model preset "huge"; valid presets: tiny, xs, s, m, t5-small/);
    expect(() => withVocab('xs', 0)).toThrow(/vocabSize must be an integer >= 1, got 0/);
  });
});
