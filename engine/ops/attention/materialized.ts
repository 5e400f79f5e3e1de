// Attention with the [B, H, Lq, Lk] scores stored: S = q kᵀ (a matmul per batch and head, read in
// place from either layout), P = softmax(scale S + bias) in place (kernels/attention_rows.wgsl),
// O = P v. The backward runs dP = dO vᵀ, dS = P (dP - rowsum(P dP)), dq = scale dS k,
// dk = scale dSᵀ q, dv = Pᵀ dO, and sums dS over the batch for a shared bias. P is saved instead
// of the log-sum-exp.
//
// Chosen where the scores fit a memory budget (index.ts) and the adapter's matmul kernels beat
// the streaming kernels: the products run on tiles that share their loads, which the fused
// kernels' one-row-per-invocation loops do not. q, k and v are read where they lie, so the blocks
// of a packed projection need no copies and their gradients are written into one tensor. Any Dh.

import { Kernel, grid } from '../../kernel.ts';
import { Tensor } from '../../tensor.ts';
import { gemm, type GemmOperand } from '../matmul.ts';
import { BIAS, CAUSAL, MASK, WG, biasGrad, maskParams, optional, whole, type Part } from './shared.ts';
import type { Call, Implementation } from './implementation.ts';

// The WGSL's copies of the numbers above, compared with these when each kernel is first used.
const CONSTS = { consts: { WG, BIAS, MASK, CAUSAL } };
const rowsForwardKernel = new Kernel('attention_rows', 'forward', CONSTS);
const rowsBackwardKernel = new Kernel('attention_rows', 'backward', CONSTS);

type Saved = { q: Tensor; k: Tensor; v: Tensor; probs: Tensor };

/** The gemm operands of a call: its q-like parts and its [B, H, Lq, Lk] score tensors. */
function operands({ c, opts }: Call) {
  const { batch, heads, lq, lk, dh } = c;
  const headsLast = opts.headsLast ?? false;
  // One (b, h) matrix of a q-like [.., L, .., Dh] part, as a gemm operand.
  const view = (p: Part, l: number, tensor = p.tensor): GemmOperand =>
    ({ tensor, offset: p.offset, ld: p.ld, batchStrides: headsLast ? [l * p.ld, dh] : [heads * l * dh, l * dh] });
  const scores = (t: Tensor): GemmOperand => ({ tensor: t, ld: lk, batchStrides: [heads * lq * lk, lq * lk] });
  // With a causal mask, P is zero right of each row's diagonal: the products may skip those keys.
  const lower = opts.causal ? ({ zero: 'lower', offset: lk - lq } as const) : undefined;
  const upper = opts.causal ? ({ zero: 'upper', offset: lk - lq } as const) : undefined;
  return { view, scores, lower, upper, batchShape: [batch, heads], rows: batch * heads * lq };
}

export const materialized: Implementation<Saved> = {
  addsIntoBiasGrad: true,

  forward(call) {
    const { c, label, q, k, v } = call;
    const { batch, heads, lq, lk, kvCapacity, dh } = c;
    const { bias, keyPaddingMask: mask, scale = 1, headsLast = false } = call.opts;
    const { view, scores, lower, batchShape, rows } = operands(call);
    const probs = Tensor.empty([batch, heads, lq, lk]);
    gemm({ label: `${label}: q kᵀ`, m: lq, n: lk, k: dh, batchShape, a: view(q, lq), b: view(k, kvCapacity), c: scores(probs), transB: true });
    rowsForwardKernel.dispatch({
      label: `${label}: softmax`,
      buffers: { s: probs.arg(label), bias: optional(bias, q.tensor, label), keep: optional(mask, q.tensor, label) },
      params: { rows, heads, lq, lk, scale, ...maskParams(c, call.opts) },
      workgroups: grid(rows, WG),
    });
    const out = Tensor.empty(headsLast ? [batch, lq, heads, dh] : [batch, heads, lq, dh]);
    gemm({ label: `${label}: P v`, m: lq, n: dh, k: lk, batchShape, a: scores(probs), b: view(v, kvCapacity), c: view(whole(out, headsLast), lq), band: lower });
    return { out, saved: { q: q.tensor, k: k.tensor, v: v.tensor, probs }, made: [probs] };
  },

  backward(call, g, saved, biasAcc) {
    const { c, q, k, v, inputs, slot } = call;
    const { batch, heads, lq, lk, dh } = c;
    const { bias, causal = false, scale = 1, headsLast = false } = call.opts;
    const { view, scores, lower, upper, batchShape, rows } = operands(call);
    const { probs } = saved;
    const bl = `${call.label} backward`;
    const gPart = whole(g, headsLast);
    const ds = Tensor.empty([batch, heads, lq, lk]);
    gemm({ label: `${bl}: dO vᵀ`, m: lq, n: lk, k: dh, batchShape, a: view(gPart, lq), b: view(v, lk, saved.v), c: scores(ds), transB: true });
    rowsBackwardKernel.dispatch({
      label: `${bl}: softmax`,
      buffers: { probs: probs.arg(bl), ds: ds.arg(bl) },
      params: { rows, heads, lq, lk, scale, causal_offset: lk - lq, bias_batch_stride: 0, flags: causal ? CAUSAL : 0 },
      workgroups: grid(rows, WG),
    });
    // One gradient per input tensor; every block of it is written below (a packed tensor holds
    // nothing but its q, k and v blocks).
    const grads = inputs.map((t) => (t.requiresGrad ? Tensor.empty(t.shape) : null));
    const [dq, dk, dv] = [grads[slot.q], grads[slot.k], grads[slot.v]];
    if (dq) gemm({ label: `${bl}: dS k`, m: lq, n: dh, k: lk, batchShape, a: scores(ds), b: view(k, lk, saved.k), c: view(q, lq, dq), alpha: scale, band: lower });
    if (dk) gemm({ label: `${bl}: dSᵀ q`, m: lk, n: dh, k: lq, batchShape, a: scores(ds), b: view(q, lq, saved.q), c: view(k, lk, dk), transA: true, alpha: scale, band: upper });
    if (dv) gemm({ label: `${bl}: Pᵀ dO`, m: lk, n: dh, k: lq, batchShape, a: scores(probs), b: view(gPart, lq), c: view(v, lk, dv), transA: true, band: upper });
    // A bias shared by the batch gets the batch's sum; a per-batch bias its own rows.
    return { inputs: grads, bias: bias?.requiresGrad ? biasGrad(ds, bias, c, biasAcc) : null };
  },
};
