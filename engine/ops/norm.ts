// Layer norm and RMS norm over the last axis (kernels/norm.wgsl), forward and fused backward.

import { Kernel } from '../kernel.ts';
import { Tensor, fmtShape } from '../tensor.ts';
import { record } from '../autograd.ts';
import { sum } from './reduce.ts';
import { rowPlan } from './rows.ts';

const forwardKernel = new Kernel('norm', 'forward');
const backwardKernel = new Kernel('norm', 'backward');

function norm(op: string, rms: boolean, x: Tensor, weight: Tensor, bias: Tensor | null, eps: number): Tensor {
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

  const rows = len === 0 ? 0 : x.size / len;
  const plan = rowPlan(rows, len);
  const constants = { ...plan.constants, RMS: rms ? 1 : 0, HAS_BIAS: bias ? 1 : 0 };
  const params = { rows, len, eps };
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

  const needW = weight.requiresGrad;
  const needB = bias?.requiresGrad ?? false;
  const out = record(
    op,
    bias ? [x, weight, bias] : [x, weight],
    y,
    (g, [sx, sw, sstats], [dxIn]) => {
      const blabel = `${label} backward`;
      const dx = Tensor.empty(sx.shape);
      const dwRows = Tensor.empty([rows, len]);
      backwardKernel.dispatch({
        label: blabel,
        buffers: {
          x: sx.arg(blabel),
          weight: sw.arg(blabel),
          stats: sstats.arg(blabel),
          g: g.arg(blabel),
          dx: dx.arg(blabel),
          dweight_rows: dwRows.arg(blabel),
          // Bound but not read without ACCUMULATE.
          dx_in: (dxIn ?? sx).arg(blabel),
        },
        params,
        constants: { ...constants, ACCUMULATE: dxIn ? 1 : 0 },
        workgroups: plan.workgroups,
      });
      return [dx, needW ? sum(dwRows, 0) : null, needB ? sum(g.view([rows, len]), 0) : null];
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

/** x / sqrt(mean(x^2) + eps) * weight over the last axis (T5's layer norm: no centering, no bias). */
export function rmsNorm(x: Tensor, weight: Tensor, eps = 1e-6): Tensor {
  return norm('rmsNorm', true, x, weight, null, eps);
}
