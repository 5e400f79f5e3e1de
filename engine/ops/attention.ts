// Scaled-dot-product attention: softmax(scale * q k^T + bias) v with key padding and causal
// masks, and gradients for q, k, v and the bias. Three implementations (attentionPath() picks):
// fused kernels that stream over keys so the [Lq, Lk] scores are never stored
// (kernels/attention.wgsl; the backward recomputes the probabilities from the saved per-row
// log-sum-exp), the same for software adapters with subgroups (kernels/attention_subgroups.wgsl),
// and the scores materialized with the products on the matmul kernels (kernels/attention_rows.wgsl
// for the softmax).

import { Kernel, grid } from '../kernel.ts';
import { Tensor, fmtShape, full, tensor, zeros } from '../tensor.ts';
import { record } from '../autograd.ts';
import { concat, permute, reshape, slice } from './shape.ts';
import { add, mul, mulScalar, where } from './elementwise.ts';
import { max } from './reduce.ts';
import { softmax } from './softmax.ts';
import { gemm, matmul, type GemmOperand } from './matmul.ts';
import { sum } from './reduce.ts';
import { sumFirstAxisPlus } from './reduce_kernel.ts';
import { isSoftwareAdapter, subgroupMinSize } from '../policy.ts';
import { engine } from '../runtime.ts';

// The kernels keep Dh-wide rows in fixed private arrays of this many floats.
const MAX_HEAD_SIZE = 64;
// Invocations per workgroup in every kernel (WG in the WGSL).
const WG = 64;
// Bits of the kernels' `flags`.
const BIAS = 1;
const MASK = 2;
const CAUSAL = 4;
const DBIAS = 8;
const DBIAS_SUM = 16;
const DBIAS_ACC = 32;

// The WGSL's copies of the numbers above, compared with these when each kernel is first used
// (engine/kernel.ts).
const FUSED_CONSTS = { consts: { WG, BIAS, MASK, CAUSAL, DBIAS, MAX_DH4: MAX_HEAD_SIZE / 4 } };
const ROWS_CONSTS = { consts: { WG, BIAS, MASK, CAUSAL } };
const forwardKernel = new Kernel('attention', 'forward', FUSED_CONSTS);
const forwardSplitKernel = new Kernel('attention', 'forward_split', FUSED_CONSTS);
const combineKernel = new Kernel('attention', 'combine', FUSED_CONSTS);
const backwardPrepKernel = new Kernel('attention', 'backward_prep', FUSED_CONSTS);
const backwardQKernel = new Kernel('attention', 'backward_q', FUSED_CONSTS);
const backwardKVKernel = new Kernel('attention', 'backward_kv', FUSED_CONSTS);
// kernels/attention_subgroups.wgsl: lanes per workgroup (one subgroup), and the storage buffers
// its backward_q binds.
const SUBGROUPS_WG = 8;
const SUBGROUPS_STORAGE_BUFFERS = 12;
// Larger heads run slower there than materialized (BENCHMARKS.md): each lane's rows outgrow the
// registers.
const SUBGROUPS_MAX_HEAD_SIZE = 16;
// Decode steps (fewer than 8 query rows) take it with at least this many (batch, head) pairs: 2
// per driver thread. Greedy decoding of tiny at batch 32 (64 pairs) measured faster this way
// than on the split path (BENCHMARKS.md).
const SUBGROUPS_MIN_DECODE_WORKGROUPS = 16;
// The most keys whose shared-bias gradient backward_q sums over the batch itself (a private
// array per lane); longer rows store dS per batch for a reduce pass.
const SUBGROUPS_MAX_SUM_KEYS = 256;
const SUBGROUPS_CONSTS = {
  consts: { WG: SUBGROUPS_WG, BIAS, MASK, CAUSAL, DBIAS, DBIAS_SUM, DBIAS_ACC, MAX_DH4: MAX_HEAD_SIZE / 4, MAX_SUM_KEYS8: SUBGROUPS_MAX_SUM_KEYS / 8 },
};
const subgroupsForwardKernel = new Kernel('attention_subgroups', 'forward', SUBGROUPS_CONSTS);
const subgroupsBackwardQKernel = new Kernel('attention_subgroups', 'backward_q', SUBGROUPS_CONSTS);
const subgroupsBackwardKVKernel = new Kernel('attention_subgroups', 'backward_kv', SUBGROUPS_CONSTS);
const rowsForwardKernel = new Kernel('attention_rows', 'forward', ROWS_CONSTS);
const rowsBackwardKernel = new Kernel('attention_rows', 'backward', ROWS_CONSTS);

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
  /** Force an implementation instead of the adapter's choice (tests, benchmarks); see
   *  attentionPath(). */
  path?: AttentionPath;
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

// The most bytes the materialized path may spend on one [B, H, Lq, Lk] score tensor: on a
// software adapter, in the CPU's memory; on a GPU, in its own, where the path also keeps the
// probabilities and, in the backward, their gradient (about three times this).
const MATERIALIZED_MAX_BYTES = 64 * 2 ** 20;
const GPU_MATERIALIZED_MAX_BYTES = 256 * 2 ** 20;

/**
 * Which implementation runs. On a real GPU the scores are materialized whenever they fit a
 * budget: on an H200 that path measured several times faster than the fused kernels forward
 * and backward (their backward is the slow part), at L = 512 to 2048 (BENCHMARKS.md); longer
 * sequences take the fused kernels, which never store the scores, and so do decode steps (the
 * split path).
 * On a software adapter every lane of attention.wgsl loads the same k and v rows, one load per
 * lane, and runs far slower than the matmul kernels that share loads across a subgroup
 * (BENCHMARKS.md). There, heads of up to 16 take attention_subgroups.wgsl where the adapter has
 * subgroups (decode steps too, given enough batches and heads); otherwise the scores are
 * materialized whenever they fit a modest budget, and decode steps stay fused, on the split path.
 */
function attentionPath(c: Checked, forced?: AttentionPath): AttentionPath {
  if (forced === 'subgroups' && !subgroupsPathAvailable()) {
    throw new Error(`attention: the subgroups path needs subgroups of at least 8 lanes and ${SUBGROUPS_STORAGE_BUFFERS} storage buffers per shader stage, which this device lacks`);
  }
  if (forced) return forced;
  const scoresFit = (budget: number) => 4 * c.batch * c.heads * c.lq * c.lk <= Math.min(budget, engine().device.limits.maxStorageBufferBindingSize);
  if (!isSoftwareAdapter()) return c.lq >= SPLIT_BELOW_ROWS && scoresFit(GPU_MATERIALIZED_MAX_BYTES) ? 'materialized' : 'fused';
  const subgroups = c.dh <= SUBGROUPS_MAX_HEAD_SIZE && subgroupsPathAvailable();
  // A decode step: one workgroup per (batch, head) keeps the cores busy only if there are enough
  // of them; otherwise the split path spreads each row's keys over several.
  if (c.lq < SPLIT_BELOW_ROWS) return subgroups && c.batch * c.heads >= SUBGROUPS_MIN_DECODE_WORKGROUPS ? 'subgroups' : 'fused';
  if (subgroups) return 'subgroups';
  return scoresFit(MATERIALIZED_MAX_BYTES) ? 'materialized' : 'fused';
}

/** Whether this device can run the 'subgroups' path. */
export function subgroupsPathAvailable(): boolean {
  return subgroupMinSize() >= 8 && engine().device.limits.maxStorageBuffersPerShaderStage >= SUBGROUPS_STORAGE_BUFFERS;
}

// With fewer query rows than this per (batch, head), a workgroup of rows would leave most SIMD
// lanes idle: the forward splits each row's keys into chunks instead (the decode step, Lq = 1).
const SPLIT_BELOW_ROWS = 8;
const SPLIT_KEYS = 32;

interface Checked {
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
type TensorLike = Pick<Tensor, 'shape' | 'dtype' | 'requiresGrad'>;

function check(q: TensorLike, k: TensorLike, v: TensorLike, opts: AttentionOptions): Checked {
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

/** The uniforms of every attention kernel that say how the bias, the mask and causality apply. */
function maskParams(c: Checked, o: AttentionOptions) {
  return {
    causal_offset: c.lk - c.lq,
    bias_batch_stride: c.biasBatch > 1 ? c.heads * c.lq * c.lk : 0,
    flags: (o.bias ? BIAS : 0) | (o.keyPaddingMask ? MASK : 0) | (o.causal ? CAUSAL : 0),
  };
}

/** The bias's gradient from dS [B, H, Lq, Lk]: a bias shared by the batch gets the batch's sum. */
function biasGrad(ds: Tensor, bias: Tensor, c: Checked, acc: Tensor | null): Tensor {
  const { batch, heads, lq, lk } = c;
  if (!sumsBiasGrad(c)) return ds.view(bias.shape);
  const perBatch = reshape(ds, [batch, heads * lq * lk]);
  return reshape(acc ? sumFirstAxisPlus(perBatch, acc.view([heads * lq * lk])) : sum(perBatch, 0), bias.shape);
}

/** Whether the bias gradient is a sum over the batch: then it can also take in the gradient the
 *  bias has from other consumers (T5's position bias feeds every layer) in the same pass. */
function sumsBiasGrad(c: Checked): boolean {
  return c.biasBatch <= 1 && c.batch > 1;
}

/** The inputs whose running gradient the backward adds into (autograd's `accumulates`). */
function accumulatedInputs(inputs: Tensor[], bias: Tensor | undefined, c: Checked): number[] {
  return bias && sumsBiasGrad(c) ? [inputs.length] : [];
}

/** The options, as the labels of dispatches and errors give them. */
function describe(o: AttentionOptions): string {
  return `${o.headsLast ? ' heads last' : ''}${o.bias ? ` bias ${fmtShape(o.bias.shape)}` : ''}${o.keyPaddingMask ? ' masked' : ''}${o.causal ? ' causal' : ''}`;
}

function padLast(x: Tensor, to: number): Tensor {
  const d = x.shape[3];
  return concat([x, zeros([...x.shape.slice(0, 3), to - d])], 3);
}

/**
 * softmax(scale * q k^T + bias, masked) v for q [B,H,Lq,Dh], k and v [B,H,Lk,Dh]; returns
 * [B,H,Lq,Dh] (with `headsLast`, every L and H swap places). A query row that may see no key
 * at all yields zeros (and zero gradients).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const c = check(q, k, v, opts);
  const { bias, keyPaddingMask: mask, scale = 1, headsLast = false } = opts;
  if (q.size === 0 || c.lk === 0) {
    // No query rows, or no keys for any row to see: zeros, like a fully masked row.
    const shapes = [q.shape, k.shape, v.shape, ...(bias ? [bias.shape] : [])];
    return record('attention', bias ? [q, k, v, bias] : [q, k, v], zeros(q.shape), () => shapes.map((s) => zeros(s)));
  }
  const path = attentionPath(c, opts.path);
  if (path === 'materialized') {
    return materialized(whole(q, headsLast), whole(k, headsLast), whole(v, headsLast), opts, c, `attention (materialized) q ${fmtShape(q.shape)} k ${fmtShape(k.shape)}${describe(opts)}`);
  }
  if (c.dh % 4 !== 0) {
    // The kernels read rows as vec4; zero columns leave every dot product and P v unchanged.
    const to = Math.ceil(c.dh / 4) * 4;
    return slice(attention(padLast(q, to), padLast(k, to), padLast(v, to), { ...opts, path }), 3, 0, c.dh);
  }
  if (path === 'subgroups') {
    return subgroups(whole(q, headsLast), whole(k, headsLast), whole(v, headsLast), opts, c, `attention (subgroups) q ${fmtShape(q.shape)} k ${fmtShape(k.shape)}${describe(opts)}`);
  }
  const { batch, heads, lq, lk, dh, biasBatch } = c;
  const label = `attention q ${fmtShape(q.shape)} k ${fmtShape(k.shape)}${describe(opts)}`;
  const rows = batch * heads * lq;
  const splits = lq < SPLIT_BELOW_ROWS ? Math.ceil(lk / SPLIT_KEYS) : 1;
  const params = {
    batch,
    heads,
    lq,
    lk,
    dh4: dh / 4,
    batch_per_group: 1,
    scale,
    ...maskParams(c, opts),
    splits,
    split_keys: SPLIT_KEYS,
    // in vec4s: [B,H,L,Dh] steps a head by a whole [L,Dh] block; [B,L,H,Dh] steps a row by H heads
    q_head_stride: headsLast ? dh / 4 : (lq * dh) / 4,
    q_row_stride: headsLast ? (heads * dh) / 4 : dh / 4,
    k_head_stride: headsLast ? dh / 4 : (c.kvCapacity * dh) / 4,
    k_row_stride: headsLast ? (heads * dh) / 4 : dh / 4,
    k_batch_stride: (heads * c.kvCapacity * dh) / 4,
  };
  // Absent optional inputs are bound to q: the kernels never read them then.
  const inputs = (l: string, t: { q: Tensor; k: Tensor; v: Tensor; bias?: Tensor | null; mask?: Tensor | null }) => ({
    q: t.q.arg(l),
    k: t.k.arg(l),
    v: t.v.arg(l),
    bias: (t.bias ?? t.q).arg(l),
    keep: (t.mask ?? t.q).arg(l),
  });

  const out = Tensor.empty(q.shape);
  const lse = Tensor.empty([batch, heads, lq]);
  if (splits > 1) {
    const partAcc = Tensor.empty([rows * splits, dh]);
    const partMl = Tensor.empty([rows * splits, 2]);
    const split = `${label} (${splits} key chunks)`;
    forwardSplitKernel.dispatch({
      label: split,
      buffers: { ...inputs(split, { q, k, v, bias, mask }), part_acc: partAcc.arg(split), part_ml: partMl.arg(split) },
      params,
      workgroups: grid(rows * splits, WG),
    });
    combineKernel.dispatch({
      label: split,
      buffers: { part_acc_in: partAcc.arg(split), part_ml_in: partMl.arg(split), out: out.arg(split), lse: lse.arg(split) },
      params,
      workgroups: grid(rows, WG),
    });
    partAcc.dispose();
    partMl.dispose();
  } else {
    forwardKernel.dispatch({
      label,
      buffers: { ...inputs(label, { q, k, v, bias, mask }), out: out.arg(label), lse: lse.arg(label) },
      params,
      workgroups: [Math.ceil(lq / WG), heads, batch],
    });
  }

  const need = [q.requiresGrad, k.requiresGrad, v.requiresGrad, bias?.requiresGrad ?? false];
  const [hasBias, hasMask] = [bias !== undefined, mask !== undefined];
  const saved = [q, k, v, out, lse, ...(bias ? [bias] : []), ...(mask ? [mask] : [])];
  const result = record(
    'attention',
    bias ? [q, k, v, bias] : [q, k, v],
    out,
    (g, s) => {
      const [sq, sk, sv, so, slse] = s;
      const sbias = hasBias ? s[5] : null;
      const smask = hasMask ? s[hasBias ? 6 : 5] : null;
      const bl = `${label} backward`;
      const common = { ...inputs(bl, { q: sq, k: sk, v: sv, bias: sbias, mask: smask }), dout: g.arg(bl) };
      // (lse, D) per query row, then the key mask as 0/1 words.
      const aux = Tensor.empty([2 * rows + (hasMask ? batch * lk : 0)], 'u32');
      backwardPrepKernel.dispatch({
        label: bl,
        buffers: { ...common, o: so.arg(bl), lse_in: slse.arg(bl), aux: aux.arg(bl) },
        params,
          workgroups: grid(Math.max(rows, hasMask ? batch * lk : 0), WG),
      });
      const dq = Tensor.empty(sq.shape);
      const dk = Tensor.empty(sk.shape);
      const dv = Tensor.empty(sk.shape);
      // A shared bias has one gradient row per (h, i); the invocation owning it walks the batch.
      const writeDbias = need[3];
      const groups = writeDbias ? biasBatch : batch;
      const dbias = Tensor.empty(writeDbias ? [groups, heads, lq, lk] : [1]);
      backwardQKernel.dispatch({
        label: bl,
        buffers: { ...common, aux_in: aux.arg(bl), dq: dq.arg(bl), dbias: dbias.arg(bl) },
        params: { ...params, batch_per_group: batch / groups, flags: params.flags | (writeDbias ? DBIAS : 0) },
        workgroups: [Math.ceil(lq / WG), heads, groups],
      });
      backwardKVKernel.dispatch({
        label: bl,
        buffers: { ...common, aux_in: aux.arg(bl), dk: dk.arg(bl), dv: dv.arg(bl) },
        params,
        workgroups: [Math.ceil(lk / WG), heads, batch],
      });
      const grads = [dq, dk, dv, writeDbias ? dbias.view(sbias!.shape) : null];
      return grads.slice(0, hasBias ? 4 : 3).map((t, i) => (need[i] ? t : null));
    },
    saved,
  );
  lse.dispose();
  return result;
}

/**
 * Where q, k or v lies for the materialized and subgroups paths: `tensor` holds it, possibly as
 * one column block of a packed projection (packedAttention): its rows start `offset` elements in
 * and lie `ld` apart, heads last. Without headsLast, [B, H, L, Dh] tensors of their own (offset 0).
 */
interface Part {
  tensor: Tensor;
  offset: number;
  ld: number;
}

const whole = (t: Tensor, headsLast: boolean): Part => ({ tensor: t, offset: 0, ld: headsLast ? t.shape[2] * t.shape[3] : t.shape[3] });

/**
 * The autograd inputs for parts q, k and v, and which input each part is: the blocks of a packed
 * projection are disjoint, so they share their tensor's input and one gradient tensor holds all
 * of theirs; q, k and v passed whole are three inputs even when they are one tensor (autograd
 * sums).
 */
function autogradInputs(q: Part, k: Part, v: Part, packed: boolean): { inputs: Tensor[]; at: (p: Part) => number } {
  const parts = [q, k, v];
  const inputs = packed ? [...new Set(parts.map((p) => p.tensor))] : parts.map((p) => p.tensor);
  return { inputs, at: (p) => (packed ? inputs.indexOf(p.tensor) : parts.indexOf(p)) };
}

/**
 * Attention with the [B, H, Lq, Lk] scores stored: S = q kᵀ (a matmul per batch and head, read
 * in place from either layout), P = softmax(scale S + bias) in place, O = P v; the backward runs
 * dP = dO vᵀ, dS = P (dP - rowsum(P dP)), dq = scale dS k, dk = scale dSᵀ q, dv = Pᵀ dO and sums
 * dS over the batch for a shared bias. P is saved instead of the log-sum-exp. With `packed`,
 * q, k and v may be blocks of one tensor, whose gradient is then one tensor into which dq, dk
 * and dv are written at their blocks.
 */
function materialized(q: Part, k: Part, v: Part, opts: AttentionOptions, c: Checked, label: string, packed = false): Tensor {
  const { bias, keyPaddingMask: mask, causal = false, scale = 1, headsLast = false } = opts;
  const { batch, heads, lq, lk, kvCapacity, dh } = c;
  // One (b, h) matrix of a q-like [.., L, .., Dh] part, as a gemm operand.
  const view = (p: Part, l: number, tensor = p.tensor): GemmOperand =>
    ({ tensor, offset: p.offset, ld: p.ld, batchStrides: headsLast ? [l * p.ld, dh] : [heads * l * dh, l * dh] });
  const scores = (t: Tensor): GemmOperand => ({ tensor: t, ld: lk, batchStrides: [heads * lq * lk, lq * lk] });
  const batchShape = [batch, heads];

  const probs = Tensor.empty([batch, heads, lq, lk]);
  gemm({ label: `${label}: q kᵀ`, m: lq, n: lk, k: dh, batchShape, a: view(q, lq), b: view(k, kvCapacity), c: scores(probs), transB: true });
  const rows = batch * heads * lq;
  rowsForwardKernel.dispatch({
    label: `${label}: softmax`,
    // Absent inputs are bound to q: the kernel never reads them then.
    buffers: { s: probs.arg(label), bias: (bias ?? q.tensor).arg(label), keep: (mask ?? q.tensor).arg(label) },
    params: {
      rows,
      heads,
      lq,
      lk,
      scale,
      ...maskParams(c, opts),
    },
    workgroups: grid(rows, WG),
  });
  const out = Tensor.empty(headsLast ? [batch, lq, heads, dh] : [batch, heads, lq, dh]);
  const outPart = whole(out, headsLast);
  // With a causal mask, P is zero right of each row's diagonal: the products may skip those keys.
  const lower = causal ? ({ zero: 'lower', offset: lk - lq } as const) : undefined;
  const upper = causal ? ({ zero: 'upper', offset: lk - lq } as const) : undefined;
  gemm({ label: `${label}: P v`, m: lq, n: dh, k: lk, batchShape, a: scores(probs), b: view(v, kvCapacity), c: view(outPart, lq), band: lower });

  const { inputs, at } = autogradInputs(q, k, v, packed);
  const result = record(
    'attention',
    bias ? [...inputs, bias] : inputs,
    out,
    (g, kept, acc) => {
      const sp = kept[inputs.length];
      const bl = `${label} backward`;
      const gPart = whole(g, headsLast);
      const ds = Tensor.empty([batch, heads, lq, lk]);
      gemm({ label: `${bl}: dO vᵀ`, m: lq, n: lk, k: dh, batchShape, a: view(gPart, lq), b: view(v, lk, kept[at(v)]), c: scores(ds), transB: true });
      rowsBackwardKernel.dispatch({
        label: `${bl}: softmax`,
        buffers: { probs: sp.arg(bl), ds: ds.arg(bl) },
        params: { rows, heads, lq, lk, scale, causal_offset: lk - lq, bias_batch_stride: 0, flags: causal ? CAUSAL : 0 },
        workgroups: grid(rows, WG),
      });
      // One gradient per input tensor; every block of it is written below (a packed tensor holds
      // nothing but its q, k and v blocks).
      const grads = inputs.map((t) => (t.requiresGrad ? Tensor.empty(t.shape) : null));
      const into = (p: Part, l: number) => view(p, l, grads[at(p)]!);
      const saved = (p: Part, l: number) => view(p, l, kept[at(p)]);
      if (grads[at(q)]) gemm({ label: `${bl}: dS k`, m: lq, n: dh, k: lk, batchShape, a: scores(ds), b: saved(k, lk), c: into(q, lq), alpha: scale, band: lower });
      if (grads[at(k)]) gemm({ label: `${bl}: dSᵀ q`, m: lk, n: dh, k: lq, batchShape, a: scores(ds), b: saved(q, lq), c: into(k, lk), transA: true, alpha: scale, band: upper });
      if (grads[at(v)]) gemm({ label: `${bl}: Pᵀ dO`, m: lk, n: dh, k: lq, batchShape, a: scores(sp), b: view(gPart, lq), c: into(v, lk), transA: true, band: upper });
      if (!bias) return grads;
      let dbias: Tensor | null = null;
      if (bias.requiresGrad) {
        // A bias shared by the batch gets the batch's sum; a per-batch bias its own rows.
        dbias = biasGrad(ds, bias, c, acc[inputs.length]);
      }
      return [...grads, dbias];
    },
    [...inputs, probs],
    accumulatedInputs(inputs, bias, c),
  );
  probs.dispose();
  return result;
}

/**
 * The fused attention of kernels/attention_subgroups.wgsl: forward, then backward_q (D, dq and
 * the bias gradient) and backward_kv (dk and dv). q, k and v are read where they lie, so the
 * blocks of a packed projection need no copies; with `packed` their gradients are written into
 * one tensor, as in materialized(). Dh must be a multiple of 4.
 */
function subgroups(q: Part, k: Part, v: Part, opts: AttentionOptions, c: Checked, label: string, packed = false): Tensor {
  const { bias, keyPaddingMask: mask, scale = 1, headsLast = false } = opts;
  const { batch, heads, lq, lk, kvCapacity, dh } = c;
  const out = Tensor.empty(headsLast ? [batch, lq, heads, dh] : [batch, heads, lq, dh]);
  const lse = Tensor.empty([batch, heads, lq]);
  // vec4 strides between batches, heads and rows of a part holding l rows per (batch, head).
  const strides = (p: Part, l: number) => (headsLast ? [l * p.ld, dh, p.ld] : [heads * l * dh, l * dh, dh]).map((x) => x / 4);
  const [qs, ks, os] = [strides(q, lq), strides(k, kvCapacity), strides(whole(out, headsLast), lq)];
  const params = {
    heads,
    lq,
    lk,
    scale,
    ...maskParams(c, opts),
    q_offset: q.offset / 4,
    k_offset: k.offset / 4,
    v_offset: v.offset / 4,
    dq_offset: 0,
    dk_offset: 0,
    dv_offset: 0,
    q_batch_stride: qs[0],
    q_head_stride: qs[1],
    q_row_stride: qs[2],
    k_batch_stride: ks[0],
    k_head_stride: ks[1],
    k_row_stride: ks[2],
    o_batch_stride: os[0],
    o_head_stride: os[1],
    o_row_stride: os[2],
    batch,
  };
  // Absent optional inputs are bound to q: the kernels never read them then.
  const reads = (l: string, t: { q: Tensor; k: Tensor; v: Tensor; bias?: Tensor | null; mask?: Tensor | null }) => ({
    q: t.q.arg(l),
    k: t.k.arg(l),
    v: t.v.arg(l),
    bias: (t.bias ?? t.q).arg(l),
    keep: (t.mask ?? t.q).arg(l),
  });
  // The head size is a pipeline constant: the loops over it unroll and the rows stay in registers.
  const constants = { DH4: dh / 4 };
  subgroupsForwardKernel.dispatch({
    label,
    buffers: { ...reads(label, { q: q.tensor, k: k.tensor, v: v.tensor, bias, mask }), out: out.arg(label), lse: lse.arg(label) },
    params,
    constants,
    workgroups: [Math.ceil(lq / SUBGROUPS_WG), heads, batch],
  });

  const { inputs, at } = autogradInputs(q, k, v, packed);
  const n = inputs.length;
  const result = record(
    'attention',
    bias ? [...inputs, bias] : inputs,
    out,
    (g, kept, acc) => {
      const [so, slse] = [kept[n], kept[n + 1]];
      const sbias = bias ? kept[n + 2] : null;
      const smask = mask ? kept[n + (bias ? 3 : 2)] : null;
      const bl = `${label} backward`;
      const common = { ...reads(bl, { q: kept[at(q)], k: kept[at(k)], v: kept[at(v)], bias: sbias, mask: smask }), dout: g.arg(bl), lse_in: slse.arg(bl) };
      // Every block of every gradient tensor is written below; gradients nobody asked for are
      // computed all the same (the kernels write all three) and dropped.
      const grads = inputs.map((t) => Tensor.empty(t.shape));
      // dk and dv share one writable binding: the packed tensor's gradient, or a [2, ...] pair.
      const apart = grads[at(k)] !== grads[at(v)];
      const dkv = apart ? Tensor.empty([2, ...kept[at(k)].shape]) : grads[at(k)];
      const d = Tensor.empty([batch, heads, lq]);
      // With a bias to differentiate, backward_q stores dS per batch, or for a bias shared by
      // the batch (up to SUBGROUPS_MAX_SUM_KEYS keys) its sum over the batch, plus the gradient
      // the bias already has from other consumers.
      const writeDbias = bias?.requiresGrad ?? false;
      const summed = writeDbias && sumsBiasGrad(c) && lk <= SUBGROUPS_MAX_SUM_KEYS;
      const running = summed ? acc[n] : null;
      const ds = Tensor.empty(writeDbias ? (summed ? [heads, lq, lk] : [batch, heads, lq, lk]) : [1]);
      const gradParams = {
        ...params,
        dq_offset: q.offset / 4,
        dk_offset: apart ? 0 : k.offset / 4,
        dv_offset: apart ? dkv.size / 8 : v.offset / 4,
      };
      subgroupsBackwardQKernel.dispatch({
        label: bl,
        // Without a running gradient dbias_in is not read; q fills the slot.
        buffers: { ...common, o: so.arg(bl), d: d.arg(bl), dq: grads[at(q)].arg(bl), dbias: ds.arg(bl), dbias_in: (running ?? kept[at(q)]).arg(bl) },
        params: { ...gradParams, flags: params.flags | (writeDbias ? DBIAS : 0) | (summed ? DBIAS_SUM : 0) | (running ? DBIAS_ACC : 0) },
        constants,
        workgroups: [Math.ceil(lq / SUBGROUPS_WG), heads, summed ? 1 : batch],
      });
      subgroupsBackwardKVKernel.dispatch({
        label: bl,
        buffers: { ...common, d_in: d.arg(bl), dkv: dkv.arg(bl) },
        params: gradParams,
        constants,
        workgroups: [Math.ceil(lk / SUBGROUPS_WG), heads, batch],
      });
      d.dispose();
      if (apart) {
        const half = (i: number) => reshape(slice(dkv, 0, i, i + 1), kept[at(k)].shape);
        grads[at(k)].dispose();
        grads[at(v)].dispose();
        grads[at(k)] = half(0);
        grads[at(v)] = half(1);
        dkv.dispose();
      }
      const result: (Tensor | null)[] = grads.map((t, i) => {
        if (inputs[i].requiresGrad) return t;
        t.dispose();
        return null;
      });
      if (!bias) return result;
      if (!writeDbias) {
        ds.dispose();
        return [...result, null];
      }
      if (summed) return [...result, ds.view(bias.shape)];
      return [...result, biasGrad(ds, bias, c, acc[n])];
    },
    [...inputs, out, lse, ...(bias ? [bias] : []), ...(mask ? [mask] : [])],
    accumulatedInputs(inputs, bias, c),
  );
  lse.dispose();
  return result;
}

export type PackedInputs = { qkv: Tensor } | { q: Tensor; kv: Tensor };

/**
 * Attention over projections packed side by side, heads last: `qkv` [B, L, 3, H, Dh] holds q, k
 * and v (self-attention), or q [B, Lq, H, Dh] comes alone and `kv` [B, Lk, 2, H, Dh] holds k and
 * v (attention to another sequence). A model then projects with one product instead of three
 * (or two), and the packed tensor's gradient comes back as one tensor, so the backward is one
 * product for the input and one for the weights. Same options as attention() (heads last; no
 * kvLength: a KV cache keeps k and v apart). The materialized and subgroups paths read the
 * blocks where they lie; the fused path takes copies of them.
 */
export function packedAttention(inputs: PackedInputs, opts: Omit<AttentionOptions, 'headsLast' | 'kvLength'> = {}): Tensor {
  const packed = 'qkv' in inputs ? inputs.qkv : inputs.kv;
  const blocks = 'qkv' in inputs ? 3 : 2;
  const name = blocks === 3 ? 'qkv' : 'kv';
  if (packed.rank !== 5 || packed.shape[2] !== blocks) {
    throw new Error(`packedAttention: ${name} ${fmtShape(packed.shape)} must be [B, L, ${blocks}, H, Dh]`);
  }
  const [B, L, , H, D] = packed.shape;
  const block = (i: number): Part => ({ tensor: packed, offset: i * H * D, ld: blocks * H * D });
  const q = 'qkv' in inputs ? block(0) : whole(inputs.q, true);
  const [k, v] = [block(blocks - 2), block(blocks - 1)];
  const o = { ...opts, headsLast: true };
  // The checks see each block as the [B, L, H, Dh] tensor it stands for.
  const stand = (p: Part): TensorLike => (p.tensor === packed ? { shape: [B, L, H, D], dtype: packed.dtype, requiresGrad: packed.requiresGrad } : p.tensor);
  const c = check(stand(q), stand(k), stand(v), o);
  const path = L === 0 || c.lq === 0 ? 'fused' : attentionPath(c, opts.path);
  if (path === 'fused' || (path === 'subgroups' && D % 4 !== 0)) {
    const take = (i: number) => reshape(slice(packed, 2, i, i + 1), [B, L, H, D]);
    return attention('qkv' in inputs ? take(0) : inputs.q, take(blocks - 2), take(blocks - 1), { ...o, path });
  }
  const label = `attention (${path}) ${'qkv' in inputs ? `qkv ${fmtShape(packed.shape)}` : `q ${fmtShape(inputs.q.shape)} kv ${fmtShape(packed.shape)}`}${describe(o)}`;
  return (path === 'subgroups' ? subgroups : materialized)(q, k, v, o, c, label, true);
}

/**
 * The same attention composed from unfused ops (matmul, softmax, matmul) and differentiated by
 * autograd: the baseline the fused op is tested and benchmarked against. It materializes the
 * [B,H,Lq,Lk] scores and probabilities.
 */
export function attentionUnfused(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const { batch, lq, lk } = check(q, k, v, opts);
  if (opts.headsLast) {
    const swap = (t: Tensor) => permute(t, [0, 2, 1, 3]);
    return swap(attentionUnfused(swap(q), swap(k), swap(v), { ...opts, headsLast: false }));
  }
  const { bias, keyPaddingMask: mask, causal = false, scale = 1 } = opts;
  let s = mulScalar(matmul(q, k, { transB: true }), scale);
  if (bias) s = add(s, bias);
  let p: Tensor;
  if (mask || causal) {
    const visible = causal ? tensor(Float32Array.from({ length: lq * lk }, (_, n) => (n % lk <= Math.floor(n / lk) + lk - lq ? 1 : 0)), [lq, lk]) : full([], 1);
    // [B or 1, 1, Lq or 1, Lk]: 1 where the query attends to the key
    const allowed = mask ? where(reshape(mask, [batch, 1, 1, lk]), visible, full([], 0)) : reshape(visible, [1, 1, lq, lk]);
    // A row with no key left would get a uniform softmax; zeroing it matches the fused op.
    p = mul(softmax(where(allowed, s, full([], -1e30))), max(allowed, -1, true));
  } else {
    p = softmax(s);
  }
  return matmul(p, v);
}
