// What attention accepts: its options, the shapes q, k, v, the bias and the mask may have, and
// the sizes every implementation reads from them (Checked). The router (index.ts) checks once,
// before it picks an implementation, so a bad call fails the same way on every path and before
// any buffer is allocated.

import { Tensor, fmtShape } from '../../tensor.ts';
import { MAX_HEAD_SIZE } from './shared.ts';

export interface AttentionOptions {
  /** Multiplies q.k before the bias is added. Default 1 (T5 does not scale); 1/sqrt(Dh) for others. */
  scale?: number;
  /** Added to the scores: [H, Lq, Lk], [1, H, Lq, Lk] (shared by every batch) or [B, H, Lq, Lk].
   *  Differentiable; the gradient of a shared bias is summed over the batch. */
  bias?: Tensor;
  /** [B, Lk], any dtype: nonzero = attend to this key, 0 = padding (ignored). */
  keyPaddingMask?: Tensor;
  /** Query i sees keys j <= i + (Lk - Lq): ordinary causal self-attention when Lq = Lk, and a
   *  decode step against a KV cache (Lq = 1) sees every key. */
  causal?: boolean;
  /** q [B, Lq, H, Dh], k and v [B, Lk, H, Dh], and the output [B, Lq, H, Dh]: the layout of a
   *  projection [B, L, H*Dh] reshaped, so heads split and merge without a copy. Default false:
   *  [B, H, L, Dh]. */
  headsLast?: boolean;
  /** Use only the first kvLength keys and values of k and v: a KV cache filled up to there
   *  (decoding; no gradients). The mask and bias then have kvLength keys. Default: all of them. */
  kvLength?: number;
}

/**
 * - 'fused': kernels/attention.wgsl, streaming over keys; memory independent of Lq x Lk.
 * - 'subgroups': kernels/attention_subgroups.wgsl, the same streaming with the other side's rows
 *   loaded once per subgroup and broadcast (software adapters with subgroups of 8+ lanes).
 * - 'materialized': the scores and probabilities stored, q kᵀ and P v on the matmul kernels,
 *   kernels/attention_rows.wgsl for the softmax and its gradient.
 */
export type AttentionPath = 'fused' | 'subgroups' | 'materialized';

/** Projections packed side by side, heads last (packedAttention in index.ts). */
export type PackedInputs = { qkv: Tensor } | { q: Tensor; kv: Tensor };

/** The sizes of one call, whatever the layout. */
export interface Checked {
  batch: number;
  heads: number;
  lq: number;
  /** Keys used (kvLength, or k's L). */
  lk: number;
  /** Key rows stored per batch and head (k's L). */
  kvCapacity: number;
  dh: number;
  /** Batch dim of the bias: 1 when shared, B when per batch, 0 without bias. */
  biasBatch: number;
}

/** What check() reads of q, k and v: a packed projection's blocks stand in as such. */
export type TensorLike = Pick<Tensor, 'shape' | 'dtype' | 'requiresGrad'>;

/** The sizes of the call, or an error naming every input's shape and what is wrong. */
export function check(q: TensorLike, k: TensorLike, v: TensorLike, opts: AttentionOptions): Checked {
  const { bias, keyPaddingMask: mask, scale = 1, headsLast = false } = opts;
  const all = `q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}`;
  const fail = (why: string): never => {
    throw new Error(`attention: ${all}${bias ? `, bias ${fmtShape(bias.shape)}` : ''}${mask ? `, keyPaddingMask ${fmtShape(mask.shape)}` : ''}: ${why}`);
  };
  for (const [name, t] of [['q', q], ['k', k], ['v', v], ['bias', bias]] as const) {
    if (t && t.dtype !== 'f32') fail(`${name} must be f32, got ${t.dtype}`);
  }
  if (q.shape.length !== 4 || k.shape.length !== 4 || v.shape.length !== 4) fail(`q, k and v must be ${headsLast ? '[B, L, H, Dh] (headsLast)' : '[B, H, L, Dh]'}`);
  // [B, H, L, Dh] whatever the layout
  const canonical = (t: TensorLike) => (headsLast ? [t.shape[0], t.shape[2], t.shape[1], t.shape[3]] : t.shape);
  const [batch, heads, lq, dh] = canonical(q);
  const [kb, kh, kvCapacity] = canonical(k);
  const lk = opts.kvLength ?? kvCapacity;
  if (!(Number.isInteger(lk) && lk >= 0 && lk <= kvCapacity)) fail(`kvLength must be an integer in 0..${kvCapacity}, got ${opts.kvLength}`);
  if (opts.kvLength !== undefined && [q, k, v, bias].some((t) => t?.requiresGrad)) fail('kvLength is for decoding: it takes no gradients');
  if (k.shape.some((d, i) => d !== v.shape[i])) fail('k and v must have the same shape');
  if (kb !== batch || kh !== heads) fail('q and k must agree in batch and heads');
  if (k.shape[3] !== dh) fail('q and k must have the same head size Dh');
  if (dh < 1 || dh > MAX_HEAD_SIZE) fail(`head size Dh must be 1..${MAX_HEAD_SIZE}`);
  if (!Number.isFinite(scale)) fail(`scale must be a finite number, got ${scale}`);
  let biasBatch = 0;
  if (bias) {
    const s = bias.shape;
    const tail = s.slice(-3);
    const ok = (s.length === 3 || (s.length === 4 && (s[0] === 1 || s[0] === batch))) && tail[0] === heads && tail[1] === lq && tail[2] === lk;
    if (!ok) fail(`bias must be [H, Lq, Lk] = [${heads},${lq},${lk}] or [1 or B, H, Lq, Lk]`);
    biasBatch = s.length === 3 ? 1 : s[0];
  }
  if (mask && (mask.rank !== 2 || mask.shape[0] !== batch || mask.shape[1] !== lk)) {
    fail(`keyPaddingMask must be [B, Lk] = [${batch},${lk}]`);
  }
  return { batch, heads, lq, lk, kvCapacity, dh, biasBatch };
}

/** The options, as the labels of dispatches and errors give them. */
export function describe(o: AttentionOptions): string {
  return `${o.headsLast ? ' heads last' : ''}${o.bias ? ` bias ${fmtShape(o.bias.shape)}` : ''}${o.keyPaddingMask ? ' masked' : ''}${o.causal ? ' causal' : ''}`;
}
