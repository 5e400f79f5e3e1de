// Fused attention on kernels/attention_subgroups.wgsl: the math of fused.ts (an online-softmax
// forward that saves each row's log-sum-exp; a backward that recomputes the probabilities, in
// backward_q for D, dq and the bias gradient and backward_kv for dk and dv), for software
// adapters. There every lane of attention.wgsl loads the same k and v rows once per lane; here a
// workgroup is one subgroup, each lane loads one row of the other side and subgroupBroadcast
// hands it to the others, so no row is loaded twice.
//
// Chosen on software adapters with subgroups of 8+ lanes for small heads (index.ts, by the adapter
// profile's attention choices): a lane keeps several Dh-wide rows in registers, which larger heads
// outgrow. q, k and v are read where they
// lie, so the blocks of a packed projection need no copies and their gradients are written into
// one tensor. Dh must be a multiple of 4 (index.ts pads it).

import { Kernel } from '../../kernel.ts';
import { Tensor } from '../../tensor.ts';
import { reshape, slice } from '../shape.ts';
import { SUBGROUPS_ATTENTION_STORAGE_BUFFERS, SUBGROUP_KERNEL_LANES } from '../../profile.ts';
import { BIAS, CAUSAL, DBIAS, DBIAS_ACC, DBIAS_SUM, MASK, MAX_HEAD_SIZE, biasGrad, inputBindings, maskParams, optional, sumsBiasGrad, whole, type Part } from './shared.ts';
import type { Call, Implementation } from './implementation.ts';

// Lanes per workgroup: one subgroup of the smallest size the path accepts (the adapter profile
// says which adapters have it, and whether they can bind backward_q's storage buffers).
const SUBGROUPS_WG = SUBGROUP_KERNEL_LANES;
// The most keys whose shared-bias gradient backward_q sums over the batch itself (a private
// array per lane); longer rows store dS per batch for a reduce pass.
const SUBGROUPS_MAX_SUM_KEYS = 256;
const CONSTS = {
  consts: { WG: SUBGROUPS_WG, BIAS, MASK, CAUSAL, DBIAS, DBIAS_SUM, DBIAS_ACC, MAX_DH4: MAX_HEAD_SIZE / 4, MAX_SUM_KEYS8: SUBGROUPS_MAX_SUM_KEYS / 8 },
};
const forwardKernel = new Kernel('attention_subgroups', 'forward', CONSTS);
const backwardQKernel = new Kernel('attention_subgroups', 'backward_q', CONSTS);
const backwardKVKernel = new Kernel('attention_subgroups', 'backward_kv', CONSTS);

/** Why a forced 'subgroups' path cannot run here (the profile's supports.subgroupsAttention). */
export const SUBGROUPS_UNAVAILABLE = `the subgroups path needs subgroups of at least ${SUBGROUP_KERNEL_LANES} lanes and ${SUBGROUPS_ATTENTION_STORAGE_BUFFERS} storage buffers per shader stage, which this device lacks`;

type Saved = { q: Tensor; k: Tensor; v: Tensor; out: Tensor; lse: Tensor; bias?: Tensor; mask?: Tensor };

/** The uniforms every kernel reads: offsets and strides in vec4s, so any layout reads in place. */
function params(call: Call, out: Tensor) {
  const { c, opts, q, k, v } = call;
  const { batch, heads, lq, kvCapacity, dh } = c;
  const headsLast = opts.headsLast ?? false;
  // between batches, heads and rows of a part holding l rows per (batch, head)
  const strides = (p: Part, l: number) => (headsLast ? [l * p.ld, dh, p.ld] : [heads * l * dh, l * dh, dh]).map((x) => x / 4);
  const [qs, ks, os] = [strides(q, lq), strides(k, kvCapacity), strides(whole(out, headsLast), lq)];
  return {
    heads,
    lq,
    lk: c.lk,
    scale: opts.scale ?? 1,
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
}

// The head size is a pipeline constant: the loops over it unroll and the rows stay in registers.
const constants = (call: Call) => ({ DH4: call.c.dh / 4 });

export const subgroups: Implementation<Saved> = {
  addsIntoBiasGrad: true,

  forward(call) {
    const { c, label } = call;
    const { bias, keyPaddingMask: mask, headsLast = false } = call.opts;
    const out = Tensor.empty(headsLast ? [c.batch, c.lq, c.heads, c.dh] : [c.batch, c.heads, c.lq, c.dh]);
    const lse = Tensor.empty([c.batch, c.heads, c.lq]);
    const [q, k, v] = [call.q.tensor, call.k.tensor, call.v.tensor];
    forwardKernel.dispatch({
      label,
      buffers: { ...inputBindings(label, { q, k, v, bias, mask }), out: out.arg(label), lse: lse.arg(label) },
      params: params(call, out),
      constants: constants(call),
      workgroups: [Math.ceil(c.lq / SUBGROUPS_WG), c.heads, c.batch],
    });
    return { out, saved: { q, k, v, out, lse, bias, mask }, made: [lse] };
  },

  backward(call, g, saved, biasAcc) {
    const { c, inputs, slot } = call;
    const { batch, heads, lq, lk } = c;
    const { q, k, v, out, lse, bias, mask } = saved;
    const bl = `${call.label} backward`;
    const p = params(call, out);
    const common = { ...inputBindings(bl, { q, k, v, bias, mask }), dout: g.arg(bl), lse_in: lse.arg(bl) };
    // Every block of every gradient tensor is written below; gradients nobody asked for are
    // computed all the same (the kernels write all three) and dropped.
    const grads = inputs.map((t) => Tensor.empty(t.shape));
    // dk and dv share one writable binding: the packed tensor's gradient, or a [2, ...] pair.
    const apart = grads[slot.k] !== grads[slot.v];
    const dkv = apart ? Tensor.empty([2, ...k.shape]) : grads[slot.k];
    const d = Tensor.empty([batch, heads, lq]);
    // With a bias to differentiate, backward_q stores dS per batch, or for a bias shared by
    // the batch (up to SUBGROUPS_MAX_SUM_KEYS keys) its sum over the batch, plus the gradient
    // the bias already has from other consumers.
    const writeDbias = call.opts.bias?.requiresGrad ?? false;
    const summed = writeDbias && sumsBiasGrad(c) && lk <= SUBGROUPS_MAX_SUM_KEYS;
    const running = summed ? biasAcc : null;
    const ds = Tensor.empty(writeDbias ? (summed ? [heads, lq, lk] : [batch, heads, lq, lk]) : [1]);
    const gradParams = {
      ...p,
      dq_offset: call.q.offset / 4,
      dk_offset: apart ? 0 : call.k.offset / 4,
      dv_offset: apart ? dkv.size / 8 : call.v.offset / 4,
    };
    backwardQKernel.dispatch({
      label: bl,
      buffers: { ...common, o: out.arg(bl), d: d.arg(bl), dq: grads[slot.q].arg(bl), dbias: ds.arg(bl), dbias_in: optional(running, q, bl) },
      params: { ...gradParams, flags: p.flags | (writeDbias ? DBIAS : 0) | (summed ? DBIAS_SUM : 0) | (running ? DBIAS_ACC : 0) },
      constants: constants(call),
      workgroups: [Math.ceil(lq / SUBGROUPS_WG), heads, summed ? 1 : batch],
    });
    backwardKVKernel.dispatch({
      label: bl,
      buffers: { ...common, d_in: d.arg(bl), dkv: dkv.arg(bl) },
      params: gradParams,
      constants: constants(call),
      workgroups: [Math.ceil(lk / SUBGROUPS_WG), heads, batch],
    });
    d.dispose();
    if (apart) {
      const half = (i: number) => reshape(slice(dkv, 0, i, i + 1), k.shape);
      grads[slot.k].dispose();
      grads[slot.v].dispose();
      grads[slot.k] = half(0);
      grads[slot.v] = half(1);
      dkv.dispose();
    }
    const wanted = grads.map((t, i) => {
      if (inputs[i].requiresGrad) return t;
      t.dispose();
      return null;
    });
    if (!writeDbias) {
      ds.dispose();
      return { inputs: wanted, bias: null };
    }
    return { inputs: wanted, bias: summed ? ds.view(bias!.shape) : biasGrad(ds, bias!, c, biasAcc) };
  },
};
