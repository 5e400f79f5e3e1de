// A T5-style encoder–decoder, config-driven, with Hugging Face parameter names and layouts.
//
// Parameters live in one map keyed by their HF names (`encoder.block.0.layer.0.SelfAttention.q.weight`)
// in PyTorch's Linear layout [out, in], so checkpoints load and save without renaming and a
// linear layer is `x @ Wᵀ` (matmul with transB). What makes it T5: pre-norm RMS norm blocks, no
// biases, attention without score scaling, one learned relative position bias per stack computed
// once and added in every layer, and an output head tied to the input embedding (with the
// decoder output scaled by d_model^-0.5 first).

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

  /** The feed-forward branch's hidden activations, before its output product. */
  private ffHidden(x: Tensor, prefix: string): Tensor {
    if (this.config.feedForwardProj === 'gated-gelu') {
      return E.mul(E.gelu(this.linear(x, `${prefix}.wi_0.weight`)), this.linear(x, `${prefix}.wi_1.weight`));
    }
    return E.relu(this.linear(x, `${prefix}.wi.weight`));
  }

  /**
   * The residual stream after a branch, and its RMS norm `next`: the following block's input.
   * Without dropout, `last(r, weight, eps)` makes both from the branch's last product, which adds
   * r and, where the engine can, writes the norm in the same pass; with dropout they are the add
   * and the norm of `branch()`.
   */
  private residualNorm(x: Tensor, o: ForwardOptions, next: string, branch: () => Tensor, last: (r: Tensor, weight: Tensor, eps: number) => [Tensor, Tensor]): [Tensor, Tensor] {
    if (!this.dropsOut(o)) return last(x, this.p(next), this.config.layerNormEpsilon);
    const sum = E.add(x, this.dropout(branch(), o));
    return [sum, this.norm(sum, next)];
  }

  /** residualNorm for an attention block's output projection of `att`. */
  private afterAttention(x: Tensor, o: ForwardOptions, next: string, att: Tensor, name: string): [Tensor, Tensor] {
    return this.residualNorm(x, o, next, () => this.linear(this.merge(att), name), (r, w, eps) => E.matmulThenRmsNorm(this.merge(att), this.p(name), r, w, eps, { transB: true }));
  }

  /** residualNorm for the feed-forward block on h. */
  private afterFeedForward(x: Tensor, o: ForwardOptions, next: string, h: Tensor, prefix: string): [Tensor, Tensor] {
    return this.residualNorm(x, o, next, () => this.linear(this.dropout(this.ffHidden(h, prefix), o), `${prefix}.wo.weight`), (r, w, eps) =>
      this.config.feedForwardProj === 'gated-gelu'
        ? E.matmulThenRmsNorm(this.ffHidden(h, prefix), this.p(`${prefix}.wo.weight`), r, w, eps, { transB: true })
        : E.feedForwardThenRmsNorm(h, this.p(`${prefix}.wi.weight`), this.p(`${prefix}.wo.weight`), r, w, eps),
    );
  }

  /** The norm that follows layer i's last block: the next layer's first, or the stack's final one. */
  private nextNorm(stack: 'encoder' | 'decoder', i: number, layers: number): string {
    return i + 1 < layers ? `${stack}.block.${i + 1}.layer.0.layer_norm.weight` : `${stack}.final_layer_norm.weight`;
  }

  // ---- encoder ------------------------------------------------------------------------------

  /** Encoder output [B, Ls, dModel] (after the final norm). */
  encode(inputIds: Tensor, attentionMask: Tensor, o: ForwardOptions = {}): Tensor {
    const c = this.config;
    const L = inputIds.shape[1];
    let x = this.dropout(E.embedding(this.p('shared.weight'), inputIds), o);
    const bias = this.positionBias('encoder', L, L);
    // h: the normed stream, the input of the next block (after the last layer, the final norm's
    // output), made together with x by the product that ends each block.
    let h = this.norm(x, this.nextNorm('encoder', -1, c.numLayers));
    for (let i = 0; i < c.numLayers; i++) {
      const b = `encoder.block.${i}`;
      const a = `${b}.layer.0.SelfAttention`;
      const att = E.packedAttention({ qkv: this.packed(h, a, ['q', 'k', 'v']) }, { bias, keyPaddingMask: attentionMask });
      const [x1, h2] = this.afterAttention(x, o, `${b}.layer.1.layer_norm.weight`, att, `${a}.o.weight`);
      [x, h] = this.afterFeedForward(x1, o, this.nextNorm('encoder', i, c.numLayers), h2, `${b}.layer.1.DenseReluDense`);
    }
    return this.dropout(h, o);
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
    // h as in encode: the normed stream that feeds the next block.
    let h = this.norm(x, this.nextNorm('decoder', -1, c.numDecoderLayers));
    for (let i = 0; i < c.numDecoderLayers; i++) {
      const b = `decoder.block.${i}`;
      const sa = `${b}.layer.0.SelfAttention`;
      const self = cache ? this.cachedSelfAttention(h, sa, i, bias, cache) : E.packedAttention({ qkv: this.packed(h, sa, ['q', 'k', 'v']) }, { bias, causal: true });
      const [x1, h2] = this.afterAttention(x, o, `${b}.layer.1.layer_norm.weight`, self, `${sa}.o.weight`);

      const ca = `${b}.layer.1.EncDecAttention`;
      const q = this.heads(this.linear(h2, `${ca}.q.weight`));
      let cross: Tensor;
      if (cache) {
        if (!cache.crossK[i]) {
          cache.crossK[i] = E.keep(this.heads(this.linear(encoderOut, `${ca}.k.weight`)));
          cache.crossV[i] = E.keep(this.heads(this.linear(encoderOut, `${ca}.v.weight`)));
        }
        cross = E.attention(q, cache.crossK[i], cache.crossV[i], { keyPaddingMask: attentionMask, headsLast: true });
      } else {
        cross = E.packedAttention({ q, kv: this.packed(encoderOut, ca, ['k', 'v']) }, { keyPaddingMask: attentionMask });
      }
      const [x2, h3] = this.afterAttention(x1, o, `${b}.layer.2.layer_norm.weight`, cross, `${ca}.o.weight`);
      [x, h] = this.afterFeedForward(x2, o, this.nextNorm('decoder', i, c.numDecoderLayers), h3, `${b}.layer.2.DenseReluDense`);
    }
    if (cache) cache.length += Lt;
    return this.dropout(h, o);
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
    return E.attention(q, cache.selfK[i], cache.selfV[i], { bias, causal: true, headsLast: true, kvLength: offset + Lt });
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
