// The reduction kernel (kernels/reduce.wgsl) without autograd: the passes over any axes that
// sum, mean and max (engine/ops/reduce.ts) record, and sumTo, which undoes a broadcast in the
// backward of elementwise ops. It sits below both so that neither imports the other.

import { Kernel, grid } from '../kernel.ts';
import { Tensor, fmtShape, type Shape } from '../tensor.ts';
import { sameShape } from '../shape.ts';

const WG = 64;
const kernel = new Kernel('reduce');
// Below this many outputs a long reduced axis is split into chunks first (see the kernel).
const FEW_OUTPUTS = 1024;
const CHUNK = 256;

export type Reduction = 'sum' | 'max';

/** One pass over [outer, r, inner]; returns [outer, chunks, inner], plus `addend` if given. */
function pass(label: string, op: Reduction, x: Tensor, outer: number, r: number, inner: number, scale: number, chunk: number, addend?: Tensor): Tensor {
  const chunks = Math.ceil(r / chunk);
  const out = Tensor.empty([outer, chunks, inner]);
  kernel.dispatch({
    label,
    // The addend is bound but not read without ACCUMULATE.
    buffers: { x: x.arg(label), out: out.arg(label), addend: (addend ?? x).arg(label) },
    params: { outer, r, inner, chunk, chunks, scale },
    constants: { OP: op === 'sum' ? 0 : 1, WG, ACCUMULATE: addend ? 1 : 0 },
    workgroups: grid(outer * chunks * inner, WG),
  });
  return out;
}

/** Reduces axes [from, to) of x, which must be adjacent; result keeps them as size 1. A sum
 *  may add `addend` (as many elements as the result) in its last pass. */
function reduceSpan(op: Reduction, x: Tensor, from: number, to: number, scale: number, addend?: Tensor): Tensor {
  const label = `${op} ${fmtShape(x.shape)} axes ${from}..${to - 1}`;
  const prod = (a: number, b: number) => a * b;
  const outer = x.shape.slice(0, from).reduce(prod, 1);
  let r = x.shape.slice(from, to).reduce(prod, 1);
  const inner = x.shape.slice(to).reduce(prod, 1);
  const outShape = x.shape.map((d, i) => (i >= from && i < to ? 1 : d));
  if (r === 0) throw new Error(`${label}: cannot reduce an empty axis`);
  let cur = x;
  while (outer * inner < FEW_OUTPUTS && r > CHUNK) {
    const next = pass(label, op, cur, outer, r, inner, 1, CHUNK);
    if (cur !== x) cur.dispose();
    cur = next;
    r = cur.shape[1];
  }
  const out = pass(label, op, cur, outer, r, inner, scale, r, addend);
  if (cur !== x) cur.dispose();
  const shaped = out.view(outShape);
  out.dispose();
  return shaped;
}

export /** Reduces `axes` (kept as size 1), grouping adjacent axes into one pass. */
function reduceKeep(op: Reduction, x: Tensor, axes: number[], scale: number): Tensor {
  let cur = x;
  // Runs of adjacent axes, last run first, so earlier axis numbers stay valid.
  const runs: [number, number][] = [];
  for (const a of axes) {
    const last = runs[runs.length - 1];
    if (last && last[1] === a) last[1] = a + 1;
    else runs.push([a, a + 1]);
  }
  runs.reverse().forEach(([from, to], i) => {
    // A sum is linear, so scaling only the last pass scales the whole reduction.
    const next = reduceSpan(op, cur, from, to, i === runs.length - 1 ? scale : 1);
    if (cur !== x) cur.dispose();
    cur = next;
  });
  return cur;
}

/** x summed over its first axis, plus `addend` (shaped like the result) in the same pass. */
export function sumFirstAxisPlus(x: Tensor, addend: Tensor): Tensor {
  const shape = x.shape.slice(1);
  if (!sameShape(addend.shape, shape)) {
    throw new Error(`sumFirstAxisPlus: addend ${fmtShape(addend.shape)} does not match the sum of ${fmtShape(x.shape)} over its first axis`);
  }
  const summed = reduceSpan('sum', x, 0, 1, 1, addend);
  const out = summed.view(shape);
  summed.dispose();
  return out;
}

/** Sums a broadcast gradient back down to `shape` (the inverse of broadcasting). */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  if (lead < 0) throw new Error(`sumTo: ${fmtShape(g.shape)} cannot be reduced to ${fmtShape(shape)}`);
  const axes: number[] = [];
  g.shape.forEach((d, i) => {
    if (i < lead || (shape[i - lead] === 1 && d !== 1)) axes.push(i);
  });
  const reduced = axes.length ? reduceKeep('sum', g, axes, 1) : g;
  const out = reduced.view(shape);
  if (reduced !== g) reduced.dispose();
  return out;
}
