// The T5 model configuration, mirroring Hugging Face's T5Config field for field so checkpoints
// move between the two without translation tables elsewhere, plus the model sizes used here.

export type FeedForwardProj = 'relu' | 'gated-gelu';
const FEED_FORWARD_PROJS: readonly FeedForwardProj[] = ['relu', 'gated-gelu'];

export interface T5Config {
  vocabSize: number;
  dModel: number;
  /** Size of one attention head; the attention inner dim is numHeads * dKv, not necessarily dModel. */
  dKv: number;
  dFf: number;
  /** Encoder blocks. */
  numLayers: number;
  numDecoderLayers: number;
  numHeads: number;
  relativeAttentionNumBuckets: number;
  relativeAttentionMaxDistance: number;
  dropoutRate: number;
  layerNormEpsilon: number;
  /** 'relu': wo(relu(wi x)) (T5 1.0); 'gated-gelu': wo(gelu_new(wi_0 x) * wi_1 x) (T5 1.1). */
  feedForwardProj: FeedForwardProj;
  /** Tied: lm_head is shared.weight and the decoder output is scaled by dModel^-0.5 first. */
  tieWordEmbeddings: boolean;
  padTokenId: number;
  eosTokenId: number;
  decoderStartTokenId: number;
}

/** Checks every field and throws one error listing all problems; returns the config. */
export function validateConfig(cfg: T5Config, what = 'T5 config'): T5Config {
  const problems: string[] = [];
  const int = (key: keyof T5Config, min: number): void => {
    const v = cfg[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) problems.push(`${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  };
  int('vocabSize', 1);
  int('dModel', 1);
  int('dKv', 1);
  int('dFf', 1);
  int('numLayers', 1);
  int('numDecoderLayers', 1);
  int('numHeads', 1);
  int('relativeAttentionNumBuckets', 1);
  int('relativeAttentionMaxDistance', 1);
  int('padTokenId', 0);
  int('eosTokenId', 0);
  int('decoderStartTokenId', 0);
  for (const key of ['padTokenId', 'eosTokenId', 'decoderStartTokenId'] as const) {
    if (Number.isSafeInteger(cfg[key]) && cfg[key] >= cfg.vocabSize) problems.push(`${key} ${cfg[key]} is outside the vocabulary (size ${cfg.vocabSize})`);
  }
  if (!(typeof cfg.dropoutRate === 'number' && cfg.dropoutRate >= 0 && cfg.dropoutRate < 1)) problems.push(`dropoutRate must lie in [0, 1), got ${JSON.stringify(cfg.dropoutRate)}`);
  if (!(typeof cfg.layerNormEpsilon === 'number' && cfg.layerNormEpsilon > 0)) problems.push(`layerNormEpsilon must be > 0, got ${JSON.stringify(cfg.layerNormEpsilon)}`);
  if (!FEED_FORWARD_PROJS.includes(cfg.feedForwardProj)) {
    problems.push(`feedForwardProj must be one of ${FEED_FORWARD_PROJS.join(', ')}, got ${JSON.stringify(cfg.feedForwardProj)}`);
  }
  if (typeof cfg.tieWordEmbeddings !== 'boolean') problems.push(`tieWordEmbeddings must be a boolean, got ${JSON.stringify(cfg.tieWordEmbeddings)}`);
  if (problems.length > 0) throw new Error(`${what}: ${problems.join('; ')}`);
  return cfg;
}

// HF key for each field, and T5Config.__init__'s default where a config.json may omit it
// (t5-small's own config.json has neither feed_forward_proj nor tie_word_embeddings).
const HF_KEYS: { [K in keyof T5Config]: [key: string, fallback: T5Config[K] | undefined] } = {
  vocabSize: ['vocab_size', 32128],
  dModel: ['d_model', 512],
  dKv: ['d_kv', 64],
  dFf: ['d_ff', 2048],
  numLayers: ['num_layers', 6],
  numDecoderLayers: ['num_decoder_layers', undefined],
  numHeads: ['num_heads', 8],
  relativeAttentionNumBuckets: ['relative_attention_num_buckets', 32],
  relativeAttentionMaxDistance: ['relative_attention_max_distance', 128],
  dropoutRate: ['dropout_rate', 0.1],
  layerNormEpsilon: ['layer_norm_epsilon', 1e-6],
  feedForwardProj: ['feed_forward_proj', 'relu'],
  tieWordEmbeddings: ['tie_word_embeddings', true],
  padTokenId: ['pad_token_id', 0],
  eosTokenId: ['eos_token_id', 1],
  decoderStartTokenId: ['decoder_start_token_id', undefined],
};

/**
 * Reads a Hugging Face T5 config.json object. Missing keys take T5Config's defaults
 * (num_decoder_layers defaults to num_layers, decoder_start_token_id to pad_token_id, as HF's
 * T5 does); keys this model does not use are ignored.
 */
export function fromHFConfig(json: unknown, what = 'config.json'): T5Config {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${what}: expected a JSON object`);
  const j = json as Record<string, unknown>;
  if (j.model_type !== undefined && j.model_type !== 't5') throw new Error(`${what}: model_type is ${JSON.stringify(j.model_type)}, expected "t5"`);
  const out: Record<string, unknown> = {};
  for (const [field, [key, fallback]] of Object.entries(HF_KEYS)) out[field] = j[key] ?? fallback;
  out.numDecoderLayers ??= out.numLayers;
  out.decoderStartTokenId ??= out.padTokenId;
  return validateConfig(out as unknown as T5Config, what);
}

/** A config.json that Hugging Face's T5ForConditionalGeneration loads. */
export function toHFConfig(cfg: T5Config): Record<string, unknown> {
  validateConfig(cfg);
  const out: Record<string, unknown> = { architectures: ['T5ForConditionalGeneration'], model_type: 't5' };
  for (const [field, [key]] of Object.entries(HF_KEYS)) out[key] = cfg[field as keyof T5Config];
  out.is_encoder_decoder = true;
  out.initializer_factor = 1.0;
  out.use_cache = true;
  return out;
}

// ---- presets ----------------------------------------------------------------------------------

/** A model size; the vocabulary comes from the tokenizer (see withVocab). */
export type ModelPreset = Omit<T5Config, 'vocabSize'> & { vocabSize?: number };

const T5_DEFAULTS = {
  relativeAttentionNumBuckets: 32,
  relativeAttentionMaxDistance: 128,
  dropoutRate: 0.1,
  layerNormEpsilon: 1e-6,
  feedForwardProj: 'relu',
  tieWordEmbeddings: true,
  padTokenId: 0,
  eosTokenId: 1,
  decoderStartTokenId: 0,
} as const;

// xs/s/m are sized for the task vocabularies (about 60 tokens): roughly 0.2M, 1M and 4M
// parameters, d_ff = 2-3 d_model and heads of 16-64 as in T5. Encoder and decoder are equally deep.
export const MODEL_PRESETS = {
  /** For tests: fast, dropout off. */
  tiny: { ...T5_DEFAULTS, dModel: 32, dKv: 16, dFf: 64, numLayers: 2, numDecoderLayers: 2, numHeads: 2, dropoutRate: 0 },
  xs: { ...T5_DEFAULTS, dModel: 64, dKv: 16, dFf: 192, numLayers: 2, numDecoderLayers: 2, numHeads: 4 },
  s: { ...T5_DEFAULTS, dModel: 128, dKv: 32, dFf: 256, numLayers: 3, numDecoderLayers: 3, numHeads: 4 },
  m: { ...T5_DEFAULTS, dModel: 256, dKv: 64, dFf: 512, numLayers: 3, numDecoderLayers: 3, numHeads: 4 },
  /** Hugging Face's t5-small (60.5M parameters with its 32128-token vocabulary). */
  't5-small': { ...T5_DEFAULTS, vocabSize: 32128, dModel: 512, dKv: 64, dFf: 2048, numLayers: 6, numDecoderLayers: 6, numHeads: 8 },
} satisfies Record<string, ModelPreset>;

export type PresetName = keyof typeof MODEL_PRESETS;
export const PRESET_NAMES = Object.keys(MODEL_PRESETS) as PresetName[];

/** A full config from a preset (or its name) and the tokenizer's vocabulary size. */
export function withVocab(preset: PresetName | ModelPreset, vocabSize?: number): T5Config {
  let p: ModelPreset;
  if (typeof preset === 'string') {
    if (!Object.hasOwn(MODEL_PRESETS, preset)) throw new Error(`unknown model preset "${preset}"; valid presets: ${PRESET_NAMES.join(', ')}`);
    p = MODEL_PRESETS[preset];
  } else {
    p = preset;
  }
  const size = vocabSize ?? p.vocabSize;
  if (size === undefined) throw new Error(`withVocab: the preset has no vocabulary size of its own; pass the tokenizer's vocabSize`);
  return validateConfig({ ...p, vocabSize: size });
}

/**
 * Parameter count in closed form: the embedding counted once when tied; per encoder block
 * q, k, v, o, the feed-forward and two norms; per decoder block also cross-attention and a third
 * norm; a relative-position table in block 0 of each stack; two final norms.
 */
export function countParameters(cfg: T5Config): number {
  const d = cfg.dModel;
  const inner = cfg.numHeads * cfg.dKv;
  const attention = 4 * d * inner;
  const feedForward = (cfg.feedForwardProj === 'gated-gelu' ? 3 : 2) * d * cfg.dFf;
  const encoderBlock = attention + feedForward + 2 * d;
  const decoderBlock = 2 * attention + feedForward + 3 * d;
  const positionTables = 2 * cfg.relativeAttentionNumBuckets * cfg.numHeads;
  const embeddings = (cfg.tieWordEmbeddings ? 1 : 2) * cfg.vocabSize * d;
  return embeddings + cfg.numLayers * encoderBlock + cfg.numDecoderLayers * decoderBlock + positionTables + 2 * d;
}

// What makes a model's size: every field but the vocabulary, the dropout and the special ids.
const SIZE_FIELDS = ['dModel', 'dKv', 'dFf', 'numLayers', 'numDecoderLayers', 'numHeads', 'relativeAttentionNumBuckets', 'relativeAttentionMaxDistance', 'feedForwardProj', 'tieWordEmbeddings'] as const;

/** The preset whose shape a config has (any vocabulary, any dropout), or null if none has it. */
export function sizeOf(cfg: T5Config): PresetName | null {
  return PRESET_NAMES.find((name) => SIZE_FIELDS.every((f) => MODEL_PRESETS[name][f] === cfg[f])) ?? null;
}

/** A config's shape in words: its preset's name with the figures that make it. */
export function describeSize(cfg: T5Config): string {
  const name = sizeOf(cfg);
  const shape = `d_model ${cfg.dModel}, d_ff ${cfg.dFf}, ${cfg.numLayers}+${cfg.numDecoderLayers} layers, ${cfg.numHeads} heads of ${cfg.dKv}`;
  return name ? `${name} (${shape})` : `no preset's (${shape})`;
}
