// Hugging Face T5 parameter names and shapes (PyTorch Linear layout [out, in]), so checkpoints
// load into and out of T5ForConditionalGeneration unchanged, and a checker that reports every way
// a safetensors file disagrees with a config at once rather than failing on the first tensor.

import type { T5Config } from './config.ts';
import type { SafetensorsFile } from './safetensors.ts';

/**
 * What a parameter is for, so that initialization and weight decay read it rather than test
 * its name: the token embedding (and an untied output projection), a norm gain, a relative
 * position-bias table, or one of the projections of attention and the feed-forward layer.
 */
export type ParameterRole = 'embedding' | 'norm' | 'position-bias' | 'query' | 'key' | 'value' | 'attention-output' | 'ff-in' | 'ff-out';

export interface ParameterSpec {
  name: string;
  shape: number[];
  role: ParameterRole;
}

export interface AttentionParameters {
  q: ParameterSpec;
  k: ParameterSpec;
  v: ParameterSpec;
  o: ParameterSpec;
  /** [numBuckets, numHeads]; only in self-attention of block 0, shared by the stack's blocks. */
  relativeAttentionBias?: ParameterSpec;
}

export type FeedForwardParameters =
  | { kind: 'relu'; wi: ParameterSpec; wo: ParameterSpec }
  | { kind: 'gated-gelu'; wi0: ParameterSpec; wi1: ParameterSpec; wo: ParameterSpec };

export interface EncoderBlockParameters {
  selfAttention: AttentionParameters;
  selfAttentionNorm: ParameterSpec;
  feedForward: FeedForwardParameters;
  feedForwardNorm: ParameterSpec;
}

export interface DecoderBlockParameters extends EncoderBlockParameters {
  crossAttention: AttentionParameters;
  crossAttentionNorm: ParameterSpec;
}

export interface T5ParameterLayout {
  shared: ParameterSpec;
  encoder: { blocks: EncoderBlockParameters[]; finalNorm: ParameterSpec };
  decoder: { blocks: DecoderBlockParameters[]; finalNorm: ParameterSpec };
  /** Only when the output projection is not tied to `shared`. */
  lmHead?: ParameterSpec;
}

/** Names that HF checkpoints may carry as copies of shared.weight. */
export const SHARED_ALIASES = ['encoder.embed_tokens.weight', 'decoder.embed_tokens.weight'];
export const LM_HEAD = 'lm_head.weight';

const spec = (name: string, role: ParameterRole, ...shape: number[]): ParameterSpec => ({ name, shape, role });

function attention(prefix: string, cfg: T5Config, withBias: boolean): AttentionParameters {
  const inner = cfg.numHeads * cfg.dKv;
  const a: AttentionParameters = {
    q: spec(`${prefix}.q.weight`, 'query', inner, cfg.dModel),
    k: spec(`${prefix}.k.weight`, 'key', inner, cfg.dModel),
    v: spec(`${prefix}.v.weight`, 'value', inner, cfg.dModel),
    o: spec(`${prefix}.o.weight`, 'attention-output', cfg.dModel, inner),
  };
  if (withBias) a.relativeAttentionBias = spec(`${prefix}.relative_attention_bias.weight`, 'position-bias', cfg.relativeAttentionNumBuckets, cfg.numHeads);
  return a;
}

function feedForward(prefix: string, cfg: T5Config): FeedForwardParameters {
  const p = `${prefix}.DenseReluDense`;
  const wo = spec(`${p}.wo.weight`, 'ff-out', cfg.dModel, cfg.dFf);
  if (cfg.feedForwardProj === 'gated-gelu') {
    return { kind: 'gated-gelu', wi0: spec(`${p}.wi_0.weight`, 'ff-in', cfg.dFf, cfg.dModel), wi1: spec(`${p}.wi_1.weight`, 'ff-in', cfg.dFf, cfg.dModel), wo };
  }
  return { kind: 'relu', wi: spec(`${p}.wi.weight`, 'ff-in', cfg.dFf, cfg.dModel), wo };
}

export function t5ParameterLayout(cfg: T5Config): T5ParameterLayout {
  const norm = (name: string): ParameterSpec => spec(name, 'norm', cfg.dModel);
  const encoderBlocks = Array.from({ length: cfg.numLayers }, (_, i): EncoderBlockParameters => {
    const b = `encoder.block.${i}`;
    return {
      selfAttention: attention(`${b}.layer.0.SelfAttention`, cfg, i === 0),
      selfAttentionNorm: norm(`${b}.layer.0.layer_norm.weight`),
      feedForward: feedForward(`${b}.layer.1`, cfg),
      feedForwardNorm: norm(`${b}.layer.1.layer_norm.weight`),
    };
  });
  const decoderBlocks = Array.from({ length: cfg.numDecoderLayers }, (_, i): DecoderBlockParameters => {
    const b = `decoder.block.${i}`;
    return {
      selfAttention: attention(`${b}.layer.0.SelfAttention`, cfg, i === 0),
      selfAttentionNorm: norm(`${b}.layer.0.layer_norm.weight`),
      crossAttention: attention(`${b}.layer.1.EncDecAttention`, cfg, false),
      crossAttentionNorm: norm(`${b}.layer.1.layer_norm.weight`),
      feedForward: feedForward(`${b}.layer.2`, cfg),
      feedForwardNorm: norm(`${b}.layer.2.layer_norm.weight`),
    };
  });
  const layout: T5ParameterLayout = {
    shared: spec('shared.weight', 'embedding', cfg.vocabSize, cfg.dModel),
    encoder: { blocks: encoderBlocks, finalNorm: norm('encoder.final_layer_norm.weight') },
    decoder: { blocks: decoderBlocks, finalNorm: norm('decoder.final_layer_norm.weight') },
  };
  if (!cfg.tieWordEmbeddings) layout.lmHead = spec(LM_HEAD, 'embedding', cfg.vocabSize, cfg.dModel);
  return layout;
}

function attentionList(a: AttentionParameters): ParameterSpec[] {
  return [a.q, a.k, a.v, a.o, ...(a.relativeAttentionBias ? [a.relativeAttentionBias] : [])];
}

function feedForwardList(f: FeedForwardParameters): ParameterSpec[] {
  return f.kind === 'relu' ? [f.wi, f.wo] : [f.wi0, f.wi1, f.wo];
}

/** Every parameter once, in the order of HF's state_dict. */
export function expectedParameters(cfg: T5Config): ParameterSpec[] {
  const l = t5ParameterLayout(cfg);
  const out = [l.shared];
  for (const b of l.encoder.blocks) {
    out.push(...attentionList(b.selfAttention), b.selfAttentionNorm, ...feedForwardList(b.feedForward), b.feedForwardNorm);
  }
  out.push(l.encoder.finalNorm);
  for (const b of l.decoder.blocks) {
    out.push(...attentionList(b.selfAttention), b.selfAttentionNorm);
    out.push(...attentionList(b.crossAttention), b.crossAttentionNorm);
    out.push(...feedForwardList(b.feedForward), b.feedForwardNorm);
  }
  out.push(l.decoder.finalNorm);
  if (l.lmHead) out.push(l.lmHead);
  return out;
}

export interface CheckpointProblems {
  missing: ParameterSpec[];
  unexpected: string[];
  /** Wrong shape or a non-float dtype. */
  mismatched: string[];
  /** Tied aliases whose values differ from shared.weight. */
  aliasMismatches: string[];
}

const fmt = (shape: readonly number[]): string => `[${shape.join(', ')}]`;
const FLOAT_DTYPES = ['F32', 'F16', 'BF16'];

/**
 * Compares a checkpoint with the parameters a config implies. The embedding aliases
 * (encoder/decoder.embed_tokens, and lm_head when tied) are tolerated but must equal
 * shared.weight.
 */
export function findCheckpointProblems(file: SafetensorsFile, cfg: T5Config): CheckpointProblems {
  const problems: CheckpointProblems = { missing: [], unexpected: [], mismatched: [], aliasMismatches: [] };
  const expected = expectedParameters(cfg);
  const known = new Set(expected.map((p) => p.name));
  const shared = expected[0];
  const aliases = cfg.tieWordEmbeddings ? [...SHARED_ALIASES, LM_HEAD] : SHARED_ALIASES;

  const checkShape = (want: ParameterSpec, name = want.name): boolean => {
    const t = file.tensors.get(name)!;
    const shapeOk = t.shape.length === want.shape.length && t.shape.every((d, i) => d === want.shape[i]);
    if (!shapeOk) problems.mismatched.push(`${name} is ${fmt(t.shape)}, expected ${fmt(want.shape)}`);
    if (!FLOAT_DTYPES.includes(t.dtype)) problems.mismatched.push(`${name} has dtype ${t.dtype}, expected one of ${FLOAT_DTYPES.join(', ')}`);
    return shapeOk && FLOAT_DTYPES.includes(t.dtype);
  };

  let sharedValues: Float32Array | null = null;
  for (const p of expected) {
    if (!file.has(p.name)) problems.missing.push(p);
    else if (checkShape(p) && p === shared) sharedValues = file.getF32(p.name);
  }
  for (const name of file.names()) {
    if (known.has(name)) continue;
    if (!aliases.includes(name)) {
      problems.unexpected.push(`${name} ${fmt(file.tensors.get(name)!.shape)}`);
      continue;
    }
    if (!checkShape(shared, name) || sharedValues === null) continue;
    const values = file.getF32(name);
    if (values.some((v, i) => !Object.is(v, sharedValues[i]))) {
      problems.aliasMismatches.push(
        name === LM_HEAD
          ? `${name} differs from shared.weight, but tie_word_embeddings is true (an untied checkpoint needs tieWordEmbeddings: false)`
          : `${name} differs from shared.weight`,
      );
    }
  }
  return problems;
}

function describe(cfg: T5Config): string {
  return (
    `vocab ${cfg.vocabSize}, d_model ${cfg.dModel}, ${cfg.numHeads}x${cfg.dKv} heads, d_ff ${cfg.dFf}, ` +
    `${cfg.numLayers}+${cfg.numDecoderLayers} layers, ${cfg.feedForwardProj}, ${cfg.tieWordEmbeddings ? 'tied' : 'untied'}`
  );
}

/** Throws one error listing every missing, unexpected and mismatched tensor. */
export function validateCheckpoint(file: SafetensorsFile, cfg: T5Config): void {
  const p = findCheckpointProblems(file, cfg);
  const lines: string[] = [];
  const section = (title: string, items: string[]): void => {
    if (items.length > 0) lines.push(`  ${title} (${items.length}):`, ...items.map((s) => `    ${s}`));
  };
  section('missing', p.missing.map((s) => `${s.name} ${fmt(s.shape)}`));
  section('unexpected', p.unexpected);
  section('mismatched', p.mismatched);
  section('tied copies that differ', p.aliasMismatches);
  if (lines.length > 0) throw new Error(`${file.fileName} does not match the T5 config (${describe(cfg)}):\n${lines.join('\n')}`);
}
