// A T5-style encoder–decoder, config-driven, with Hugging Face parameter names and layouts.
//
// Parameters live in one map keyed by their HF names (`encoder.block.0.layer.0.SelfAttention.q.weight`)
// in PyTorch's Linear layout [out, in], so checkpoints load and save without renaming and a
// linear layer is `x @ Wᵀ` (matmul with transB). What makes it T5: pre-norm RMS norm blocks, no
// biases, attention without score scaling, one learned relative position bias per stack computed
// once and added in every layer, and an output head tied to the input embedding (with the
// decoder output scaled by d_model^-0.5 first).
//
// Each block is written as its math, x = x + sublayer(norm(x)); which of those ops share a pass
// (the residual add and the next norm ride in the product that ends a sublayer) is the engine's
// decision (engine/ops/held.ts), so the model never names a fused op.

import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { Rng } from '../engine/index.ts';
import type { T5Config } from './config.ts';
import { expectedParameters, validateCheckpoint, type ParameterRole } from './checkpoint-format.ts';
import type { SafetensorsFile } from './safetensors.ts';
import { bucketGrid } from './position.ts';

export interface Batch {
  /** [B, Ls] i32 */
  inputIds: Tensor;
  /** [B, Ls] f32, 1 = real token, 0 = padding */
  attentionMask: Tensor;
  /** [B, Lt] i32: labels shifted right, starting with decoderStartTokenId */
  decoderInputIds: Tensor;
  /** [B, Lt] i32, -100 where no loss is taken */
  labels?: Tensor;
}

/** Per-layer keys and values kept between decoding steps. */
export interface KVCache {
  /** self-attention keys/values per decoder layer, [B, capacity, H, dKv], filled up to `length`
   *  (allocated by the first step; each step writes its rows in place) */
  selfK: Tensor[];
  selfV: Tensor[];
  /** cross-attention keys/values per decoder layer, computed once from the encoder output */
  crossK: Tensor[];
  crossV: Tensor[];
  /** positions decoded so far */
  length: number;
  /** the most positions the cache can hold */
  capacity: number;
}

export interface ForwardOptions {
  /** Dropout on (training); needs `rng` for the masks. */
  training?: boolean;
  rng?: Rng;
}

export const IGNORE_INDEX = -100;

export class T5 {
  readonly params = new Map<string, Tensor>();

  constructor(readonly config: T5Config) {}

  /** A model with freshly initialized weights (the initialization HF's T5 uses). */
  static init(config: T5Config, seed: number): T5 {
    const m = new T5(config);
    const rng = new Rng(seed);
    for (const p of expectedParameters(config)) {
      const t = p.role === 'norm' ? E.ones(p.shape) : E.randn(p.shape, { seed: rng.nextUint32(), std: initStd(p.role, config) });
      m.params.set(p.name, E.keep(E.param(t)));
    }
    return m;
  }

  /** A model holding the weights of a safetensors file (HF names); every missing or misshapen
   *  tensor is named in one error. */
  static fromSafetensors(config: T5Config, file: SafetensorsFile): T5 {
    validateCheckpoint(file, config);
    const m = new T5(config);
    for (const { name, shape } of expectedParameters(config)) {
      m.params.set(name, E.keep(E.param(E.tensor(file.getF32(name), shape))));
    }
    return m;
  }

  p(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`T5: no parameter ${name}`);
    return t;
  }

  parameters(): Tensor[] {
    return [...this.params.values()];
  }

  // ---- building blocks ----------------------------------------------------------------------

  /** x · Wᵀ. */
  private linear(x: Tensor, name: string): Tensor {
    return E.matmul(x, this.p(name), { transB: true });
  }

  /**
   * x · [W_1; W_2; ...]ᵀ for an attention block's projections (`kinds` of 'q', 'k', 'v'), as one
   * product: [B, L, kinds, H, dKv], the packed layout E.packedAttention reads. The weights are
   * joined by buffer copies, and the product's gradient comes back as one tensor.
   */
  private packed(x: Tensor, block: string, kinds: readonly string[]): Tensor {
    const [B, L] = x.shape;
    const w = E.concat(kinds.map((kind) => this.p(`${block}.${kind}.weight`)), 0);
    return E.reshape(E.matmul(x, w, { transB: true }), [B, L, kinds.length, this.config.numHeads, this.config.dKv]);
  }

  private norm(x: Tensor, name: string): Tensor {
    return E.rmsNorm(x, this.p(name), this.config.layerNormEpsilon);
  }

  private dropsOut(o: ForwardOptions): boolean {
    return Boolean(o.training) && this.config.dropoutRate > 0;
  }

  private dropout(x: Tensor, o: ForwardOptions): Tensor {
    if (!this.dropsOut(o)) return x;
    if (!o.rng) throw new Error('T5: training with dropout needs an rng');
    return E.dropout(x, this.config.dropoutRate, o.rng.nextUint32());
  }

  /** [B, L, H*dKv] -> [B, L, H, dKv], the heads-last layout attention reads directly: no copy. */
  private heads(x: Tensor): Tensor {
    const [B, L] = x.shape;
    return E.reshape(x, [B, L, this.config.numHeads, this.config.dKv]);
  }

  /** [B, L, H, dKv] -> [B, L, H*dKv] */
  private merge(x: Tensor): Tensor {
    const [B, L, H, D] = x.shape;
    return E.reshape(x, [B, L, H * D]);
  }

  /**
   * The [H, Lq, Lk] position bias of a stack, for queries starting at `offset`. The table
   * [buckets, H] is looked up as [buckets * H, 1], entry (bucket, h) at row bucket * H + h, so
   * that one lookup of ids [H, Lq, Lk] lays the bias out as attention takes it: no permute
   * forward or backward (2 dispatches a step per stack).
   */
  positionBias(stack: 'encoder' | 'decoder', queries: number, keys: number, offset = 0): Tensor {
    const c = this.config;
    const H = c.numHeads;
    const buckets = bucketGrid(queries, keys, offset, stack === 'encoder', c.relativeAttentionNumBuckets, c.relativeAttentionMaxDistance);
    const ids = new Int32Array(H * buckets.length);
    for (let h = 0; h < H; h++) {
      for (let n = 0; n < buckets.length; n++) ids[h * buckets.length + n] = buckets[n] * H + h;
    }
    const table = this.p(`${stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`);
    const bias = E.embedding(E.reshape(table, [c.relativeAttentionNumBuckets * H, 1]), E.tensor(ids, [H, queries, keys], 'i32'));
    return E.reshape(bias, [H, queries, keys]);
  }

  /** x + the sublayer's output (dropped out while training): the residual stream after a sublayer. */
  private residual(x: Tensor, sublayer: Tensor, o: ForwardOptions): Tensor {
    return E.add(x, this.dropout(sublayer, o));
  }

  /** Attention heads [B, L, H, dKv] through the block's output projection. */
  private project(att: Tensor, block: string): Tensor {
    return this.linear(this.merge(att), `${block}.o.weight`);
  }

  /** Self-attention on the normed stream h, its q, k and v from one product. */
  private selfAttention(h: Tensor, block: string, options: Omit<E.AttentionOptions, 'headsLast' | 'kvLength'>): Tensor {
    return this.project(E.packedAttention({ qkv: this.packed(h, block, ['q', 'k', 'v']) }, options), block);
  }

  /** The feed-forward sublayer on the normed stream h, dropout on its hidden activations. */
  private feedForward(h: Tensor, prefix: string, o: ForwardOptions): Tensor {
    const wo = `${prefix}.wo.weight`;
    if (this.config.feedForwardProj === 'gated-gelu') {
      const hidden = E.mul(E.gelu(this.linear(h, `${prefix}.wi_0.weight`)), this.linear(h, `${prefix}.wi_1.weight`));
      return this.linear(this.dropout(hidden, o), wo);
    }
    // Without dropout between them, relu(h Wiᵀ) Woᵀ is one engine op (the relu in the first
    // product's pass).
    if (!this.dropsOut(o)) return E.feedForward(h, this.p(`${prefix}.wi.weight`), this.p(wo));
    return this.linear(this.dropout(E.relu(this.linear(h, `${prefix}.wi.weight`)), o), wo);
  }

  // ---- encoder ------------------------------------------------------------------------------

  /** Encoder output [B, Ls, dModel] (after the final norm). */
  encode(inputIds: Tensor, attentionMask: Tensor, o: ForwardOptions = {}): Tensor {
    const c = this.config;
    const L = inputIds.shape[1];
    let x = this.dropout(E.embedding(this.p('shared.weight'), inputIds), o);
    const bias = this.positionBias('encoder', L, L);
    for (let i = 0; i < c.numLayers; i++) {
      const b = `encoder.block.${i}`;
      x = this.residual(x, this.selfAttention(this.norm(x, `${b}.layer.0.layer_norm.weight`), `${b}.layer.0.SelfAttention`, { bias, keyPaddingMask: attentionMask }), o);
      x = this.residual(x, this.feedForward(this.norm(x, `${b}.layer.1.layer_norm.weight`), `${b}.layer.1.DenseReluDense`, o), o);
    }
    return this.dropout(this.norm(x, 'encoder.final_layer_norm.weight'), o);
  }

  // ---- decoder ------------------------------------------------------------------------------

  /**
   * Decoder output [B, Lt, dModel] (after the final norm) for decoder inputs at positions
   * cache.length.. (0 without a cache). With a cache, the new keys and values are appended to it.
   */
  decode(decoderInputIds: Tensor, encoderOut: Tensor, attentionMask: Tensor, o: ForwardOptions = {}, cache?: KVCache): Tensor {
    const c = this.config;
    const Lt = decoderInputIds.shape[1];
    const offset = cache?.length ?? 0;
    let x = this.dropout(E.embedding(this.p('shared.weight'), decoderInputIds), o);
    const bias = this.positionBias('decoder', Lt, offset + Lt, offset);
    for (let i = 0; i < c.numDecoderLayers; i++) {
      const b = `decoder.block.${i}`;
      const sa = `${b}.layer.0.SelfAttention`;
      const h = this.norm(x, `${b}.layer.0.layer_norm.weight`);
      x = this.residual(x, cache ? this.cachedSelfAttention(h, sa, i, bias, cache) : this.selfAttention(h, sa, { bias, causal: true }), o);
      x = this.residual(x, this.crossAttention(this.norm(x, `${b}.layer.1.layer_norm.weight`), `${b}.layer.1.EncDecAttention`, i, encoderOut, attentionMask, cache), o);
      x = this.residual(x, this.feedForward(this.norm(x, `${b}.layer.2.layer_norm.weight`), `${b}.layer.2.DenseReluDense`, o), o);
    }
    if (cache) cache.length += Lt;
    return this.dropout(this.norm(x, 'decoder.final_layer_norm.weight'), o);
  }

  /**
   * Attention of layer i from the normed stream h to the encoder output. With a cache the
   * encoder's keys and values are computed once, by the first step.
   */
  private crossAttention(h: Tensor, ca: string, i: number, encoderOut: Tensor, attentionMask: Tensor, cache?: KVCache): Tensor {
    const q = this.heads(this.linear(h, `${ca}.q.weight`));
    if (!cache) return this.project(E.packedAttention({ q, kv: this.packed(encoderOut, ca, ['k', 'v']) }, { keyPaddingMask: attentionMask }), ca);
    if (!cache.crossK[i]) {
      cache.crossK[i] = E.keep(this.heads(this.linear(encoderOut, `${ca}.k.weight`)));
      cache.crossV[i] = E.keep(this.heads(this.linear(encoderOut, `${ca}.v.weight`)));
    }
    return this.project(E.attention(q, cache.crossK[i], cache.crossV[i], { keyPaddingMask: attentionMask, headsLast: true }), ca);
  }

  /**
   * Decoder self-attention of layer i for one decoding step: the step's keys and values are
   * appended to the cache, and its queries see all of it. k and v stay separate products here,
   * since the cache takes them apart anyway.
   */
  private cachedSelfAttention(h: Tensor, sa: string, i: number, bias: Tensor, cache: KVCache): Tensor {
    const offset = cache.length;
    const Lt = h.shape[1];
    if (offset + Lt > cache.capacity) throw new Error(`T5.decode: the KV cache holds ${cache.capacity} positions, step needs ${offset + Lt}`);
    const k = this.heads(this.linear(h, `${sa}.k.weight`));
    const v = this.heads(this.linear(h, `${sa}.v.weight`));
    if (!cache.selfK[i]) {
      const [B, , H, D] = k.shape;
      cache.selfK[i] = E.keep(E.zeros([B, cache.capacity, H, D]));
      cache.selfV[i] = E.keep(E.zeros([B, cache.capacity, H, D]));
    }
    E.noGrad(() => {
      E.writeSlice(cache.selfK[i], k, 1, offset);
      E.writeSlice(cache.selfV[i], v, 1, offset);
    });
    const q = this.heads(this.linear(h, `${sa}.q.weight`));
    return this.project(E.attention(q, cache.selfK[i], cache.selfV[i], { bias, causal: true, headsLast: true, kvLength: offset + Lt }), sa);
  }

  /** Logits [B, Lt, V] from decoder output. */
  head(decoderOut: Tensor): Tensor {
    const c = this.config;
    if (c.tieWordEmbeddings) {
      return E.matmul(decoderOut, this.p('shared.weight'), { transB: true, alpha: c.dModel ** -0.5 });
    }
    return this.linear(decoderOut, 'lm_head.weight');
  }

  /** Logits [B, Lt, V] for a batch. */
  forward(batch: Batch, o: ForwardOptions = {}): Tensor {
    const enc = this.encode(batch.inputIds, batch.attentionMask, o);
    return this.head(this.decode(batch.decoderInputIds, enc, batch.attentionMask, o));
  }

  /** Mean cross-entropy over label tokens that are not IGNORE_INDEX. */
  loss(batch: Batch, o: ForwardOptions = {}): Tensor {
    if (!batch.labels) throw new Error('T5.loss: the batch has no labels');
    const logits = this.forward(batch, o);
    const [B, Lt, V] = logits.shape;
    return E.crossEntropy(E.reshape(logits, [B * Lt, V]), E.reshape(batch.labels, [B * Lt]), { ignoreIndex: IGNORE_INDEX });
  }

  /** A cache for up to `capacity` decoded positions (the decoder start token included). */
  emptyCache(capacity: number): KVCache {
    return { selfK: [], selfV: [], crossK: [], crossV: [], length: 0, capacity };
  }

  /** Releases the tensors a decoding cache holds. */
  static disposeCache(cache: KVCache): void {
    E.dispose([cache.selfK, cache.selfV, cache.crossK, cache.crossV]);
  }

  dispose(): void {
    for (const t of this.params.values()) {
      t.grad?.dispose();
      t.dispose();
    }
    this.params.clear();
  }
}

/** Initial standard deviation of a weight, by its role (Hugging Face's T5 initialization, whose
 *  scales keep activations near unit size through the unscaled attention). Norm gains start at 1. */
function initStd(role: Exclude<ParameterRole, 'norm'>, c: T5Config): number {
  switch (role) {
    case 'embedding':
      return 1;
    case 'query':
      return (c.dModel * c.dKv) ** -0.5;
    case 'attention-output':
      return (c.numHeads * c.dKv) ** -0.5;
    case 'ff-out':
      return c.dFf ** -0.5;
    case 'key':
    case 'value':
    case 'ff-in':
    case 'position-bias':
      return c.dModel ** -0.5;
  }
}
