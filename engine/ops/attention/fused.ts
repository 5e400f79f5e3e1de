// Fused attention on kernels/attention.wgsl (FlashAttention-2 style): the forward streams over the
// keys with an online softmax, so the [Lq, Lk] scores are never stored and memory does not grow
// with Lq x Lk; it saves the output and each row's log-sum-exp, from which the backward
// recomputes the probabilities (backward_prep: D = rowsum(dO * O); backward_q: dq and the bias
// gradient; backward_kv: dk and dv).
//
// Chosen where the scores would not fit the materialized path's budget, for decode steps, and
// wherever the other paths are unavailable: it needs nothing of the adapter. One invocation owns
// one query row, so a decode step (a handful of rows) would leave most lanes idle: below the
// adapter profile's attention.splitBelowRows rows (engine/profile.ts) the forward splits each
// row's keys into chunks of its splitKeys (forward_split) and a second pass combines them.
//
// q, k and v are whole tensors in either layout (index.ts copies a packed projection's blocks out
// and pads Dh to a multiple of 4 first: the kernels read rows as vec4).

import { Kernel, grid } from '../../kernel.ts';
import { Tensor } from '../../tensor.ts';
import { engine } from '../../runtime.ts';
import { BIAS, CAUSAL, DBIAS, MASK, MAX_HEAD_SIZE, WG, inputBindings, maskParams } from './shared.ts';
import type { Call, Implementation } from './implementation.ts';

// The WGSL's copies of the numbers above, compared with these when each kernel is first used.
const CONSTS = { consts: { WG, BIAS, MASK, CAUSAL, DBIAS, MAX_DH4: MAX_HEAD_SIZE / 4 } };
const forwardKernel = new Kernel('attention', 'forward', CONSTS);
const forwardSplitKernel = new Kernel('attention', 'forward_split', CONSTS);
const combineKernel = new Kernel('attention', 'combine', CONSTS);
const backwardPrepKernel = new Kernel('attention', 'backward_prep', CONSTS);
const backwardQKernel = new Kernel('attention', 'backward_q', CONSTS);
const backwardKVKernel = new Kernel('attention', 'backward_kv', CONSTS);

type Saved = { q: Tensor; k: Tensor; v: Tensor; out: Tensor; lse: Tensor; bias?: Tensor; mask?: Tensor };

/** Rows of q, the forward's key chunks per row (1: not split) and the keys in a chunk. */
function layout({ c }: Call) {
  const { splitBelowRows, splitKeys } = engine().adapterProfile.attention;
  const rows = c.batch * c.heads * c.lq;
  return { rows, splits: c.lq < splitBelowRows ? Math.ceil(c.lk / splitKeys) : 1, splitKeys };
}

/** The uniforms every kernel of attention.wgsl reads. */
function params(call: Call) {
  const { c, opts } = call;
  const { batch, heads, lq, lk, kvCapacity, dh } = c;
  const headsLast = opts.headsLast ?? false;
  const { splits, splitKeys } = layout(call);
  return {
    batch,
    heads,
    lq,
    lk,
    dh4: dh / 4,
    batch_per_group: 1,
    scale: opts.scale ?? 1,
    ...maskParams(c, opts),
    splits,
    split_keys: splitKeys,
    // in vec4s: [B,H,L,Dh] steps a head by a whole [L,Dh] block; [B,L,H,Dh] steps a row by H heads
    q_head_stride: headsLast ? dh / 4 : (lq * dh) / 4,
    q_row_stride: headsLast ? (heads * dh) / 4 : dh / 4,
    k_head_stride: headsLast ? dh / 4 : (kvCapacity * dh) / 4,
    k_row_stride: headsLast ? (heads * dh) / 4 : dh / 4,
    k_batch_stride: (heads * kvCapacity * dh) / 4,
  };
}

export const fused: Implementation<Saved> = {
  addsIntoBiasGrad: false,

  forward(call) {
    const { c, label } = call;
    const { bias, keyPaddingMask: mask } = call.opts;
    const [q, k, v] = [call.q.tensor, call.k.tensor, call.v.tensor];
    const { rows, splits } = layout(call);
    const p = params(call);
    const out = Tensor.empty(q.shape);
    const lse = Tensor.empty([c.batch, c.heads, c.lq]);
    if (splits > 1) {
      const partAcc = Tensor.empty([rows * splits, c.dh]);
      const partMl = Tensor.empty([rows * splits, 2]);
      const split = `${label} (${splits} key chunks)`;
      forwardSplitKernel.dispatch({
        label: split,
        buffers: { ...inputBindings(split, { q, k, v, bias, mask }), part_acc: partAcc.arg(split), part_ml: partMl.arg(split) },
        params: p,
        workgroups: grid(rows * splits, WG),
      });
      combineKernel.dispatch({
        label: split,
        buffers: { part_acc_in: partAcc.arg(split), part_ml_in: partMl.arg(split), out: out.arg(split), lse: lse.arg(split) },
        params: p,
        workgroups: grid(rows, WG),
      });
      partAcc.dispose();
      partMl.dispose();
    } else {
      forwardKernel.dispatch({
        label,
        buffers: { ...inputBindings(label, { q, k, v, bias, mask }), out: out.arg(label), lse: lse.arg(label) },
        params: p,
        workgroups: [Math.ceil(c.lq / WG), c.heads, c.batch],
      });
    }
    return { out, saved: { q, k, v, out, lse, bias, mask }, made: [lse] };
  },

  backward(call, g, saved) {
    const { batch, heads, lq, lk, biasBatch } = call.c;
    const { q, k, v, out, lse, bias, mask } = saved;
    const { rows } = layout(call);
    const p = params(call);
    const bl = `${call.label} backward`;
    const common = { ...inputBindings(bl, { q, k, v, bias, mask }), dout: g.arg(bl) };
    // (lse, D) per query row, then the key mask as 0/1 words.
    const aux = Tensor.empty([2 * rows + (mask ? batch * lk : 0)], 'u32');
    backwardPrepKernel.dispatch({
      label: bl,
      buffers: { ...common, o: out.arg(bl), lse_in: lse.arg(bl), aux: aux.arg(bl) },
      params: p,
      workgroups: grid(Math.max(rows, mask ? batch * lk : 0), WG),
    });
    const dq = Tensor.empty(q.shape);
    const dk = Tensor.empty(k.shape);
    const dv = Tensor.empty(k.shape);
    // A shared bias has one gradient row per (h, i); the invocation owning it walks the batch.
    const writeDbias = call.opts.bias?.requiresGrad ?? false;
    const groups = writeDbias ? biasBatch : batch;
    const dbias = Tensor.empty(writeDbias ? [groups, heads, lq, lk] : [1]);
    backwardQKernel.dispatch({
      label: bl,
      buffers: { ...common, aux_in: aux.arg(bl), dq: dq.arg(bl), dbias: dbias.arg(bl) },
      params: { ...p, batch_per_group: batch / groups, flags: p.flags | (writeDbias ? DBIAS : 0) },
      workgroups: [Math.ceil(lq / WG), heads, groups],
    });
    backwardKVKernel.dispatch({
      label: bl,
      buffers: { ...common, aux_in: aux.arg(bl), dk: dk.arg(bl), dv: dv.arg(bl) },
      params: p,
      workgroups: [Math.ceil(lk / WG), heads, batch],
    });
    // Never packed: call.inputs are q, k and v in that order.
    return {
      inputs: [dq, dk, dv].map((t, i) => (call.inputs[i].requiresGrad ? t : null)),
      bias: writeDbias ? dbias.view(bias!.shape) : null,
    };
  },
};
