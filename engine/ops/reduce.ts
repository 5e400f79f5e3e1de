// Reductions over any axes with their backward: sum, mean, max. The kernel passes are in
// engine/ops/reduce_kernel.ts, which elementwise ops use too (sumTo) without importing this file.

import type { Tensor } from '../tensor.ts';
import { record } from '../autograd.ts';
import { normAxis } from '../shape.ts';
import { div, eq, expand, mul, mulScalar } from './elementwise.ts';
import { reduceKeep } from './reduce_kernel.ts';

export { sumTo } from './reduce_kernel.ts';

function axesOf(op: string, x: Tensor, axes: number | readonly number[] | undefined): number[] {
  if (axes === undefined) return x.shape.map((_, i) => i);
  const list = (typeof axes === 'number' ? [axes] : [...axes]).map((a) => normAxis(op, a, x.rank));
  return [...new Set(list)].sort((a, b) => a - b);
}

function finish(t: Tensor, x: Tensor, axes: number[], keepDims: boolean): Tensor {
  if (keepDims) return t;
  const v = t.view(x.shape.filter((_, i) => !axes.includes(i)));
  t.dispose();
  return v;
}

export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const ax = axesOf('sum', x, axes);
  const out = finish(reduceKeep('sum', x, ax, 1), x, ax, keepDims);
  const kept = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  return record('sum', [x], out, (g) => [expand(g.view(kept), x.shape)]);
}

export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const ax = axesOf('mean', x, axes);
  const count = ax.reduce((n, a) => n * x.shape[a], 1);
  const out = finish(reduceKeep('sum', x, ax, 1 / count), x, ax, keepDims);
  const kept = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  return record('mean', [x], out, (g) => [expand(mulScalar(g.view(kept), 1 / count), x.shape)]);
}

/** Max over axes. The gradient is shared equally among tied maxima. */
export function max(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const ax = axesOf('max', x, axes);
  const m = reduceKeep('max', x, ax, 1);
  const out = record(
    'max',
    [x],
    finish(m.view(m.shape), x, ax, keepDims),
    (g, [sx, sm]) => {
      const hits = eq(sx, sm);
      const share = div(hits, expand(reduceKeep('sum', hits, ax, 1), x.shape));
      return [mul(share, expand(g.view(sm.shape), x.shape))];
    },
    [x, m],
  );
  m.dispose();
  return out;
}
