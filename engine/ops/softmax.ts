// Softmax and log-softmax over the last axis (kernels/softmax.wgsl), forward and backward.

import { Kernel } from '../kernel.ts';
import { Tensor, fmtShape } from '../tensor.ts';
import { record } from '../autograd.ts';
import { rowPlan } from './rows.ts';

const forwardKernel = new Kernel('softmax', 'forward');
const backwardKernel = new Kernel('softmax', 'backward');

function rowsOf(op: string, x: Tensor): { rows: number; len: number } {
  if (x.dtype !== 'f32') throw new Error(`${op}: expects an f32 tensor, got ${x.dtype} ${fmtShape(x.shape)}`);
  if (x.rank === 0) throw new Error(`${op}: needs at least one axis, got a scalar`);
  const len = x.shape[x.rank - 1];
  return { rows: len === 0 ? 0 : x.size / len, len };
}

function run(op: string, kernel: Kernel, log: boolean, buffers: Record<string, Tensor>, shape: readonly number[]): Tensor {
  const { rows, len } = rowsOf(op, buffers.x);
  const out = Tensor.empty(shape);
  const label = `${op} ${fmtShape(shape)}`;
  const args = Object.fromEntries(Object.entries(buffers).map(([k, t]) => [k, t.arg(label)]));
  const plan = rowPlan(rows, len);
  kernel.dispatch({
    label,
    buffers: { ...args, out: out.arg(label) },
    params: { rows, len },
    constants: { ...plan.constants, LOG: log ? 1 : 0 },
    workgroups: plan.workgroups,
  });
  return out;
}

function rowSoftmax(op: string, log: boolean, x: Tensor): Tensor {
  const y = run(op, forwardKernel, log, { x }, x.shape);
  return record(op, [x], y, (g, [y]) => [run(`${op} backward`, backwardKernel, log, { x: y, g }, y.shape)], [y]);
}

/** exp(x) / sum(exp(x)) over the last axis. */
export function softmax(x: Tensor): Tensor {
  return rowSoftmax('softmax', false, x);
}

/** x - log(sum(exp(x))) over the last axis. */
export function logSoftmax(x: Tensor): Tensor {
  return rowSoftmax('logSoftmax', true, x);
}
