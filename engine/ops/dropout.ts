// Dropout with a seeded, counter-based mask (kernels/dropout.wgsl): the backward regenerates the
// mask from the seed instead of storing it.

import { Kernel, grid } from '../kernel.ts';
import { Tensor, fmtShape } from '../tensor.ts';
import { record } from '../autograd.ts';

const kernel = new Kernel('dropout');

function apply(x: Tensor, p: number, seed: number): Tensor {
  const label = `dropout ${fmtShape(x.shape)} p=${p}`;
  const out = Tensor.empty(x.shape);
  kernel.dispatch({
    label,
    buffers: { x: x.arg(label), out: out.arg(label) },
    params: { n: x.size, seed: seed >>> 0, threshold: Math.min(Math.round(p * 2 ** 32), 2 ** 32 - 1), scale: 1 / (1 - p) },
    workgroups: grid(x.size, 256),
  });
  return out;
}

/** Zeroes each element with probability p and scales the rest by 1/(1-p). `seed` (a 32-bit
 *  integer) decides the mask; use a fresh one per call, e.g. from a seeded Rng. */
export function dropout(x: Tensor, p: number, seed: number): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (p === 0) return x;
  return record('dropout', [x], apply(x, p, seed), (g) => [apply(g, p, seed)]);
}
