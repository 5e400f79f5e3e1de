// Layer norm and RMS norm over the last axis (kernels/norm.wgsl), forward and fused backward.

import { Kernel, grid } from '../kernel.ts';
import { Tensor, fmtShape } from '../tensor.ts';
import { record } from '../autograd.ts';
import { rowPlan } from './rows.ts';
import { heldProduct } from './held.ts';
import { engine } from '../runtime.ts';

const MAX_GROUP_ROWS = 16;
const forwardKernel = new Kernel('norm', 'forward');
const backwardKernel = new Kernel('norm', 'backward', { consts: { MAX_GROUP_ROWS } });
const paramGradsKernel = new Kernel('norm', 'param_grads');

/** Rows per group in the backward (kernels/norm.wgsl): param_grads walks one partial row per
 *  group, so groups stay at most 256 up to 256 * MAX_GROUP_ROWS rows, and at least the adapter
 *  profile's norm.minGroupRows (engine/profile.ts). */
function groupRows(rows: number): number {
  return Math.min(MAX_GROUP_ROWS, Math.max(engine().adapterProfile.norm.minGroupRows, Math.ceil(rows / 256)));
}

function checkNorm(op: string, x: Tensor, weight: Tensor, bias: Tensor | null, eps: number): { label: string; rows: number; len: number } {
  const shapes = [x, weight, ...(bias ? [bias] : [])].map((t) => fmtShape(t.shape)).join(' and ');
  const label = `${op} ${shapes}`;
  if (x.rank === 0) throw new Error(`${op}: needs at least one axis, got a scalar x`);
  const len = x.shape[x.rank - 1];
  for (const [name, t] of [['x', x], ['weight', weight], ['bias', bias]] as const) {
    if (t && t.dtype !== 'f32') throw new Error(`${label}: ${name} must be f32, got ${t.dtype}`);
  }
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t && !(t.rank === 1 && t.shape[0] === len)) {
      throw new Error(`${label}: ${name} must have shape [${len}] (the last axis of x)`);
    }
  }
  if (!(eps >= 0)) throw new Error(`${label}: eps must be >= 0, got ${eps}`);
  return { label, rows: len === 0 ? 0 : x.size / len, len };
}

/** The kernels' row plan, pipeline constants and parameters for a norm of rows x len. */
function settings(rows: number, len: number, rms: boolean, bias: Tensor | null, eps: number) {
  const plan = rowPlan(rows, len);
  return { plan, constants: { ...plan.constants, RMS: rms ? 1 : 0, HAS_BIAS: bias ? 1 : 0 }, params: { rows, len, eps } };
}

function norm(op: string, rms: boolean, x: Tensor, weight: Tensor, bias: Tensor | null, eps: number): Tensor {
  const { label, rows, len } = checkNorm(op, x, weight, bias, eps);
  const { plan, constants, params } = settings(rows, len, rms, bias, eps);
  const y = Tensor.empty(x.shape);
  const stats = Tensor.empty([rows, 2]);
  forwardKernel.dispatch({
    label,
    // Without a bias the kernel never reads `bias`; the weight fills the slot.
    buffers: { x: x.arg(label), weight: weight.arg(label), bias: (bias ?? weight).arg(label), y: y.arg(label), stats_out: stats.arg(label) },
    params,
    constants,
    workgroups: plan.workgroups,
  });
  return recordNorm(op, label, rms, x, weight, bias, eps, y, stats, rows, len);
}

/** The autograd node of a norm whose forward wrote y and stats; disposes the caller's stats handle. */
function recordNorm(op: string, label: string, rms: boolean, x: Tensor, weight: Tensor, bias: Tensor | null, eps: number, y: Tensor, stats: Tensor, rows: number, len: number): Tensor {
  const { constants, params } = settings(rows, len, rms, bias, eps);
  const needW = weight.requiresGrad;
  const needB = bias?.requiresGrad ?? false;
  const out = record(
    op,
    bias ? [x, weight, bias] : [x, weight],
    y,
    (g, [sx, sw, sstats], [dxIn]) => {
      const blabel = `${label} backward`;
      const dx = Tensor.empty(sx.shape);
      const R = groupRows(rows);
      const groups = Math.ceil(rows / R);
      const bplan = rowPlan(groups, len, engine().adapterProfile.norm.backwardWorkgroupSize);
      const part = Tensor.empty([bias ? 2 : 1, groups, len]);
      const bconstants = { ...constants, ...bplan.constants, GROUP_ROWS: R };
      backwardKernel.dispatch({
        label: blabel,
        buffers: {
          x: sx.arg(blabel),
          weight: sw.arg(blabel),
          stats: sstats.arg(blabel),
          g: g.arg(blabel),
          dx: dx.arg(blabel),
          part: part.arg(blabel),
          // Bound but not read without ACCUMULATE.
          dx_in: (dxIn ?? sx).arg(blabel),
        },
        params,
        constants: { ...bconstants, ACCUMULATE: dxIn ? 1 : 0 },
        workgroups: bplan.workgroups,
      });
      const dw = needW || needB ? Tensor.empty([len]) : null;
      const db = dw && bias ? Tensor.empty([len]) : null;
      if (dw) {
        paramGradsKernel.dispatch({
          label: `${blabel} of the parameters`,
          // Without a bias dbias is never written; the stats fill the slot.
          buffers: { part: part.arg(blabel), dweight: dw.arg(blabel), dbias: (db ?? sstats).arg(blabel) },
          params,
          constants: bconstants,
          workgroups: grid(part.shape[0] * len, bconstants.WG),
        });
      }
      part.dispose();
      // One dispatch makes both; a gradient no input wants is dropped.
      if (dw && !needW) dw.dispose();
      if (db && !needB) db.dispose();
      return [dx, needW ? dw : null, needB ? db : null];
    },
    [x, weight, stats],
    [0],
  );
  stats.dispose();
  return out;
}

/** (x - mean) / sqrt(var + eps) * weight + bias over the last axis; weight and bias are [D]. */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor | null = null, eps = 1e-5): Tensor {
  return norm('layerNorm', false, x, weight, bias, eps);
}

/**
 * x / sqrt(mean(x^2) + eps) * weight over the last axis (T5's layer norm: no centering, no bias).
 * Where x is a residual sum whose product's pass is still held back, that pass writes the norm
 * too if its kernel can (engine/ops/held.ts): one dispatch fewer, the same node.
 */
export function rmsNorm(x: Tensor, weight: Tensor, eps = 1e-6): Tensor {
  const { label, rows, len } = checkNorm('rmsNorm', x, weight, null, eps);
  const folded = heldProduct(x)?.foldRmsNorm(weight, eps);
  if (folded) return recordNorm('rmsNorm', label, true, x, weight, null, eps, folded.normed, folded.stats, rows, len);
  return norm('rmsNorm', true, x, weight, null, eps);
}
