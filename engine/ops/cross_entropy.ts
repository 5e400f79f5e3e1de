// Cross-entropy loss (kernels/cross_entropy.wgsl): one fused pass gives the per-row loss and,
// when a gradient will be needed, the per-row gradient, which the backward only rescales.

import { Kernel } from '../kernel.ts';
import { Tensor, fmtShape, full } from '../tensor.ts';
import { isGradEnabled, isOnesSeed, record } from '../autograd.ts';
import { sameShape } from '../shape.ts';
import { mul } from './elementwise.ts';
import { sum } from './reduce.ts';
import { rowPlan } from './rows.ts';

const forwardKernel = new Kernel('cross_entropy', 'forward');
const countKernel = new Kernel('cross_entropy', 'count');
const COUNT_WG = 64;

export interface CrossEntropyOptions {
  /** Rows with this target add no loss and get no gradient (default -100, as in PyTorch). */
  ignoreIndex?: number;
  /** 'mean' over the rows that are not ignored (default), 'sum', or 'none': one loss per row. */
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * Softmax cross-entropy of logits [..., V] against class ids [...] (i32).
 * Returns a scalar for 'mean' and 'sum', a tensor shaped like `targets` for 'none'.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const { ignoreIndex = -100, reduction = 'mean' } = options;
  const label = `crossEntropy logits ${fmtShape(logits.shape)} targets ${fmtShape(targets.shape)}`;
  if (logits.dtype !== 'f32') throw new Error(`${label}: logits must be f32, got ${logits.dtype}`);
  if (targets.dtype !== 'i32') throw new Error(`${label}: targets must be i32 class ids, got ${targets.dtype}`);
  if (logits.rank === 0 || !sameShape(targets.shape, logits.shape.slice(0, -1))) {
    throw new Error(`${label}: targets must have the shape of logits without its last (class) axis`);
  }
  if (!['mean', 'sum', 'none'].includes(reduction)) throw new Error(`${label}: unknown reduction '${reduction}'`);
  if (!Number.isInteger(ignoreIndex)) throw new Error(`${label}: ignoreIndex must be an integer, got ${ignoreIndex}`);
  const len = logits.shape[logits.rank - 1];
  const rows = targets.size;
  if (len === 0 && rows > 0) throw new Error(`${label}: there are no classes`);

  let divisor: Tensor;
  if (targets.host) {
    let counted = 0;
    targets.host.forEach((t, row) => {
      if (t === ignoreIndex) return;
      if (!(t >= 0 && t < len)) {
        throw new Error(`${label}: target ${t} at row ${row} is out of range for ${len} classes (and is not ignoreIndex ${ignoreIndex})`);
      }
      counted += 1;
    });
    divisor = Tensor.fromData([reduction === 'mean' ? counted : 1], [1], 'u32');
  } else if (reduction === 'mean') {
    divisor = Tensor.empty([1], 'u32');
    countKernel.dispatch({
      label: `${label} count`,
      buffers: { targets: targets.arg(label), count_out: divisor.arg(label) },
      params: { rows, len, ignore_index: ignoreIndex, nan: NaN },
      constants: { WG: COUNT_WG },
      workgroups: [1],
    });
  } else {
    divisor = Tensor.fromData([1], [1], 'u32');
  }

  const needGrad = isGradEnabled() && logits.requiresGrad;
  const rowLoss = Tensor.empty(targets.shape);
  // Without a gradient the kernel never writes `grad`; a one-element buffer fills the slot.
  const grad = Tensor.empty(needGrad ? logits.shape : [1]);
  const plan = rowPlan(rows, len);
  forwardKernel.dispatch({
    label,
    buffers: {
      logits: logits.arg(label),
      targets: targets.arg(label),
      divisor: divisor.arg(label),
      loss: rowLoss.arg(label),
      grad: grad.arg(label),
    },
    params: { rows, len, ignore_index: ignoreIndex, nan: NaN },
    constants: { ...plan.constants, NEED_GRAD: needGrad ? 1 : 0 },
    workgroups: plan.workgroups,
  });
  divisor.dispose();

  let out: Tensor;
  if (reduction === 'none') out = rowLoss;
  else {
    out = rows === 0 ? full([], 0) : sum(rowLoss);
    rowLoss.dispose();
  }
  // The upstream gradient is one value per row for 'none' (broadcast along the classes), one
  // scalar otherwise; the saved gradient already holds the 1/count of 'mean'.
  const upstreamShape = reduction === 'none' ? [...targets.shape, 1] : [];
  // The forward wrote the gradient for an upstream gradient of one: backward()'s own seed needs
  // no multiply.
  const result = record('crossEntropy', [logits], out, (g, [sgrad]) => [isOnesSeed(g) ? sgrad : mul(sgrad, g.view(upstreamShape))], [grad]);
  grad.dispose();
  return result;
}
