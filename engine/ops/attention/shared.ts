// What the kernel-running implementations (fused.ts, subgroups.ts, materialized.ts) share: the
// numbers their WGSL must agree with, where q, k and v lie (Part), how a missing bias or mask is
// bound, the uniforms that apply the bias, mask and causality, and the bias's gradient.

import { Tensor } from '../../tensor.ts';
import { reshape } from '../shape.ts';
import { sum } from '../reduce.ts';
import { sumFirstAxisPlus } from '../reduce_kernel.ts';
import type { AttentionOptions, Checked } from './check.ts';

// The kernels keep Dh-wide rows in fixed private arrays of this many floats.
export const MAX_HEAD_SIZE = 64;
// Invocations per workgroup in kernels/attention.wgsl and kernels/attention_rows.wgsl (WG there).
export const WG = 64;
// Bits of the kernels' `flags`. test/kernel-constants.test.ts reads these lines, and each kernel
// compares its own copies with them when it first loads (engine/kernel.ts).
export const BIAS = 1;
export const MASK = 2;
export const CAUSAL = 4;
export const DBIAS = 8;
export const DBIAS_SUM = 16;
export const DBIAS_ACC = 32;

/**
 * Where q, k or v lies: `tensor` holds it, possibly as one column block of a packed projection
 * (packedAttention): its rows start `offset` elements in and lie `ld` apart, heads last. Passed
 * whole, a tensor of its own (offset 0) in either layout.
 */
export interface Part {
  tensor: Tensor;
  offset: number;
  ld: number;
}

/** A tensor that is the whole of q, k or v. */
export const whole = (t: Tensor, headsLast: boolean): Part => ({ tensor: t, offset: 0, ld: headsLast ? t.shape[2] * t.shape[3] : t.shape[3] });

/**
 * The binding of an input a call may lack (the bias, the mask, a running gradient). WebGPU wants
 * every binding of a pipeline bound, so a missing one gets `standIn`, a buffer the kernel binds
 * anyway; the kernel's flags tell it not to read the slot.
 */
export function optional(t: Tensor | null | undefined, standIn: Tensor, label: string) {
  return (t ?? standIn).arg(label);
}

/** The q, k, v, bias and keep bindings of the fused and subgroups kernels (missing ones bound to q). */
export function inputBindings(label: string, t: { q: Tensor; k: Tensor; v: Tensor; bias?: Tensor; mask?: Tensor }) {
  return {
    q: t.q.arg(label),
    k: t.k.arg(label),
    v: t.v.arg(label),
    bias: optional(t.bias, t.q, label),
    keep: optional(t.mask, t.q, label),
  };
}

/** The uniforms of every attention kernel that say how the bias, the mask and causality apply. */
export function maskParams(c: Checked, o: AttentionOptions) {
  return {
    causal_offset: c.lk - c.lq,
    bias_batch_stride: c.biasBatch > 1 ? c.heads * c.lq * c.lk : 0,
    flags: (o.bias ? BIAS : 0) | (o.keyPaddingMask ? MASK : 0) | (o.causal ? CAUSAL : 0),
  };
}

/** Whether the bias gradient is a sum over the batch: then it can also take in the gradient the
 *  bias has from other consumers (T5's position bias feeds every layer) in the same pass. */
export function sumsBiasGrad(c: Checked): boolean {
  return c.biasBatch <= 1 && c.batch > 1;
}

/** The bias's gradient from dS [B, H, Lq, Lk]: a bias shared by the batch gets the batch's sum,
 *  plus `acc`, the gradient it already has, when given. */
export function biasGrad(ds: Tensor, bias: Tensor, c: Checked, acc: Tensor | null): Tensor {
  const { batch, heads, lq, lk } = c;
  if (!sumsBiasGrad(c)) return ds.view(bias.shape);
  const perBatch = reshape(ds, [batch, heads * lq * lk]);
  return reshape(acc ? sumFirstAxisPlus(perBatch, acc.view([heads * lq * lk])) : sum(perBatch, 0), bias.shape);
}
