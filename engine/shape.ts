// Shape arithmetic shared by the ops: broadcasting, strides, axes.

import { fmtShape, type Shape } from './tensor.ts';

export const MAX_RANK = 8;

export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

/** NumPy broadcasting: dims are aligned from the right; each pair must match or be 1. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + i] ?? 1;
      if (v === 1) continue;
      if (d !== 1 && d !== v) {
        throw new Error(`${op}: shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast together`);
      }
      d = v;
    }
    out.push(d);
  }
  return out;
}

/** Strides that read a tensor of `shape` while iterating over the larger `target` shape. */
export function broadcastStrides(shape: Shape, target: Shape): number[] {
  const own = stridesOf(shape);
  const lead = target.length - shape.length;
  return target.map((_, i) => (i < lead || shape[i - lead] === 1 ? 0 : own[i - lead]));
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Resolves a possibly negative axis, naming the op when it is out of range. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= Math.max(rank, 1)) {
    throw new Error(`${op}: axis ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

/** Pads a list of dims or strides to a uniform vector of MAX_RANK entries. */
export function padTo8(v: readonly number[]): number[] {
  const out = new Array<number>(MAX_RANK).fill(0);
  v.forEach((x, i) => (out[i] = x));
  return out;
}

export function checkRank(op: string, shape: Shape): void {
  if (shape.length > MAX_RANK) throw new Error(`${op}: rank ${shape.length} of ${fmtShape(shape)} exceeds ${MAX_RANK}`);
}
