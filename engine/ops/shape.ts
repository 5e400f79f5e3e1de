// Ops that only move data: reshape (no copy), permute/transpose, slice, concat and writeSlice (copies
// through the strided map of kernels/elementwise.wgsl).

import { Tensor, fmtShape, sizeOf, zeros, type Shape } from '../tensor.ts';
import { isGradEnabled, record } from '../autograd.ts';
import { normAxis, stridesOf } from '../shape.ts';
import { stridedMap } from './elementwise.ts';

/** Same data, new shape; one dim may be -1. Shares the buffer. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const dims = [...shape];
  const free = dims.indexOf(-1);
  if (free >= 0) {
    const known = dims.reduce((n, d, i) => (i === free ? n : n * d), 1);
    dims[free] = known === 0 ? 0 : x.size / known;
  }
  if (sizeOf(dims) !== x.size || dims.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`reshape: cannot reshape ${fmtShape(x.shape)} (${x.size} elements) to ${fmtShape(shape)}`);
  }
  return record('reshape', [x], x.view(dims), (g) => [g.view(x.shape)]);
}

/** Reorders axes: out.shape[i] = x.shape[perm[i]]. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const label = `permute ${fmtShape(x.shape)} by [${perm.join(',')}]`;
  if (perm.length !== x.rank || new Set(perm.map((p) => normAxis('permute', p, x.rank))).size !== x.rank) {
    throw new Error(`${label}: not a permutation of ${x.rank} axes`);
  }
  const p = perm.map((a) => normAxis('permute', a, x.rank));
  const shape = p.map((a) => x.shape[a]);
  const inStrides = stridesOf(x.shape);
  const out = Tensor.empty(shape, x.dtype);
  stridedMap(label, 'copy', { tensor: x, strides: p.map((a) => inStrides[a]) }, { tensor: out, strides: stridesOf(shape) }, shape);
  const inverse = new Array<number>(p.length);
  p.forEach((a, i) => (inverse[a] = i));
  return record('permute', [x], out, (g) => [permute(g, inverse)]);
}

/** Swaps two axes (the last two by default). */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const perm = x.shape.map((_, i) => i);
  const [i, j] = [normAxis('transpose', a, x.rank), normAxis('transpose', b, x.rank)];
  [perm[i], perm[j]] = [perm[j], perm[i]];
  return permute(x, perm);
}

/** x[start:end] along `axis` (a copy). */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const ax = normAxis('slice', axis, x.rank);
  const dim = x.shape[ax];
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= dim)) {
    throw new Error(`slice: range ${start}..${end} is outside axis ${ax} of ${fmtShape(x.shape)}`);
  }
  const shape = x.shape.map((d, i) => (i === ax ? end - start : d));
  const strides = stridesOf(x.shape);
  const out = Tensor.empty(shape, x.dtype);
  stridedMap(
    `slice ${fmtShape(x.shape)} axis ${ax} ${start}..${end}`,
    'copy',
    { tensor: x, strides, offset: start * strides[ax] },
    { tensor: out, strides: stridesOf(shape) },
    shape,
  );
  return record('slice', [x], out, (g) => {
    if (end - start === dim) return [g];
    const gx = zeros(x.shape, x.dtype);
    writeSlice(gx, g, ax, start);
    return [gx];
  });
}

/** Joins tensors along `axis`; all other dims must agree. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new Error('concat: no tensors');
  const first = xs[0];
  const ax = normAxis('concat', axis, first.rank);
  for (const t of xs) {
    const ok = t.rank === first.rank && t.dtype === first.dtype && t.shape.every((d, i) => i === ax || d === first.shape[i]);
    if (!ok) {
      throw new Error(`concat: ${fmtShape(t.shape)} ${t.dtype} does not fit ${fmtShape(first.shape)} ${first.dtype} along axis ${ax}`);
    }
  }
  const shape = first.shape.map((d, i) => (i === ax ? xs.reduce((n, t) => n + t.shape[ax], 0) : d));
  const out = Tensor.empty(shape, first.dtype);
  const outStrides = stridesOf(shape);
  let at = 0;
  const starts: number[] = [];
  for (const t of xs) {
    starts.push(at);
    stridedMap(
      `concat ${xs.map((x) => fmtShape(x.shape)).join(' ')} axis ${ax}`,
      'copy',
      { tensor: t, strides: stridesOf(t.shape) },
      { tensor: out, strides: outStrides, offset: at * outStrides[ax] },
      t.shape,
    );
    at += t.shape[ax];
  }
  return record('concat', [...xs], out, (g) => xs.map((t, i) => slice(g, ax, starts[i], starts[i] + t.shape[ax])));
}

/**
 * Overwrites dst[start:start + n] along `axis` with src (n = src's size there), in place: a KV
 * cache appends a step's keys this way instead of copying the whole cache into a new tensor. Not
 * differentiable.
 */
export function writeSlice(dst: Tensor, src: Tensor, axis: number, start: number): void {
  const ax = normAxis('writeSlice', axis, dst.rank);
  const n = src.shape[ax];
  const fits = src.rank === dst.rank && src.dtype === dst.dtype && src.shape.every((d, i) => i === ax || d === dst.shape[i]);
  if (!fits || !(Number.isInteger(start) && start >= 0 && start + n <= dst.shape[ax])) {
    throw new Error(`writeSlice: ${fmtShape(src.shape)} ${src.dtype} does not fit ${fmtShape(dst.shape)} ${dst.dtype} at ${start} along axis ${ax}`);
  }
  if (isGradEnabled() && (src.requiresGrad || dst.requiresGrad)) throw new Error('writeSlice: not differentiable; call it inside noGrad()');
  const strides = stridesOf(dst.shape);
  stridedMap(
    `writeSlice ${fmtShape(src.shape)} into ${fmtShape(dst.shape)} axis ${ax} at ${start}`,
    'copy',
    { tensor: src, strides: stridesOf(src.shape) },
    { tensor: dst, strides, offset: start * strides[ax] },
    src.shape,
  );
}
