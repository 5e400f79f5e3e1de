// The dispatches of kernels/elementwise.wgsl without autograd: the strided map (unary ops and
// every copy), the broadcasting zip (binary ops) and the select of `where`. The differentiable
// ops of engine/ops/elementwise.ts record them; autograd.ts sums gradients with binaryOp('add')
// directly, which it could not import from elementwise.ts (that file imports autograd.ts).

import { Kernel, grid } from '../kernel.ts';
import { Tensor, fmtShape, sizeOf, type Shape } from '../tensor.ts';
import { engine } from '../runtime.ts';
import { broadcastShapes, broadcastStrides, checkRank, padTo8, sameShape, stridesOf } from '../shape.ts';
import { BINARY, UNARY } from './elementwise_opcodes.ts';

const WG = 64;
const PER_THREAD = 4;
const mapKernel = new Kernel('elementwise', 'map');
const zipKernel = new Kernel('elementwise', 'zip');
const whereKernel = new Kernel('elementwise', 'where_');

export interface Strided {
  tensor: Tensor;
  strides: readonly number[];
  offset?: number;
}

// A scalar iterates as shape [1], so the kernel always has a last dim to walk.
function baseParams(n: number, shape: Shape) {
  return {
    n,
    rank: Math.max(1, shape.length),
    off_a: 0,
    off_b: 0,
    off_c: 0,
    off_out: 0,
    alpha: 0,
    _pad: 0,
    shape: padTo8(shape.length > 0 ? shape : [1]),
    stride_a: padTo8([]),
    stride_b: padTo8([]),
    stride_c: padTo8([]),
    stride_out: padTo8([]),
  };
}

/**
 * The general strided map: for every index i of `shape`, out[i in dst strides] = f(src[i in src
 * strides]). Elementwise unary ops, expand, permute, slice and concat are all this one kernel.
 */
export function stridedMap(
  label: string,
  op: keyof typeof UNARY,
  src: Strided,
  dst: Strided,
  shape: Shape,
  alpha = 0,
): void {
  checkRank(label, shape);
  const n = sizeOf(shape);
  if (n === 0) return;
  const contiguous = (s: Strided) => sameShape(s.strides, stridesOf(shape));
  if (op === 'copy' && contiguous(src) && contiguous(dst)) {
    // One range of the source's buffer to one range of the destination's: a buffer copy, which
    // costs lavapipe a memcpy instead of a dispatch, far cheaper there (BENCHMARKS.md).
    engine().checkAlive(label);
    const from = src.tensor.arg(label).buffer;
    engine().commandEncoder().copyBufferToBuffer(from, 4 * (src.offset ?? 0), dst.tensor.arg(label).buffer, 4 * (dst.offset ?? 0), 4 * n);
    return;
  }
  const params = {
    ...baseParams(n, shape),
    off_a: src.offset ?? 0,
    off_out: dst.offset ?? 0,
    alpha,
    stride_a: padTo8(src.strides),
    stride_out: padTo8(dst.strides),
  };
  mapKernel.dispatch({
    label,
    buffers: { a: src.tensor.arg(label), out: dst.tensor.arg(label) },
    params,
    constants: { OP: UNARY[op], CONTIGUOUS: contiguous(src) && contiguous(dst) ? 1 : 0, WG, PER_THREAD },
    workgroups: grid(n, WG * PER_THREAD),
  });
}

export function unaryOp(op: keyof typeof UNARY, x: Tensor, alpha = 0): Tensor {
  if (x.dtype !== 'f32' && op !== 'copy') {
    throw new Error(`${op}: expects an f32 tensor, got ${x.dtype} ${fmtShape(x.shape)}`);
  }
  const out = Tensor.empty(x.shape, op === 'copy' ? x.dtype : 'f32');
  const strides = stridesOf(x.shape);
  stridedMap(`${op} ${fmtShape(x.shape)}`, op, { tensor: x, strides }, { tensor: out, strides }, x.shape, alpha);
  return out;
}

export function binaryOp(op: keyof typeof BINARY, a: Tensor, b: Tensor): Tensor {
  for (const t of [a, b]) {
    if (t.dtype !== 'f32') throw new Error(`${op}: expects f32 tensors, got ${t.dtype} ${fmtShape(t.shape)}`);
  }
  const label = `${op} ${fmtShape(a.shape)} ${fmtShape(b.shape)}`;
  const shape = broadcastShapes(op, a.shape, b.shape);
  checkRank(label, shape);
  const out = Tensor.empty(shape);
  const n = out.size;
  if (n === 0) return out;
  // Contiguous operands, or one of them a single value broadcast over the other.
  const [aScalar, bScalar] = [a.size === 1 && n > 1, b.size === 1 && n > 1];
  const contiguous = (aScalar || sameShape(a.shape, shape)) && (bScalar || sameShape(b.shape, shape));
  zipKernel.dispatch({
    label,
    buffers: { a: a.arg(label), b: b.arg(label), out: out.arg(label) },
    params: {
      ...baseParams(n, shape),
      stride_a: padTo8(broadcastStrides(a.shape, shape)),
      stride_b: padTo8(broadcastStrides(b.shape, shape)),
    },
    constants: { OP: BINARY[op], CONTIGUOUS: contiguous ? 1 : 0, A_SCALAR: Number(contiguous && aScalar), B_SCALAR: Number(contiguous && bScalar), WG, PER_THREAD },
    workgroups: grid(n, WG * PER_THREAD),
  });
  return out;
}

/** cond ? a : b with broadcasting, for f32 a and b and a cond of any dtype (nonzero = true). */
export function whereOp(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  const label = `where ${fmtShape(cond.shape)} ${fmtShape(a.shape)} ${fmtShape(b.shape)}`;
  for (const t of [a, b]) {
    if (t.dtype !== 'f32') throw new Error(`where: expects f32 values, got ${t.dtype} ${fmtShape(t.shape)}`);
  }
  const shape = broadcastShapes('where', cond.shape, a.shape, b.shape);
  checkRank(label, shape);
  const out = Tensor.empty(shape);
  if (out.size > 0) {
    whereKernel.dispatch({
      label,
      buffers: { a: a.arg(label), b: b.arg(label), c: cond.arg(label), out: out.arg(label) },
      params: {
        ...baseParams(out.size, shape),
        stride_a: padTo8(broadcastStrides(a.shape, shape)),
        stride_b: padTo8(broadcastStrides(b.shape, shape)),
        stride_c: padTo8(broadcastStrides(cond.shape, shape)),
      },
      constants: { WG, PER_THREAD },
      workgroups: grid(out.size, WG * PER_THREAD),
    });
  }
  return out;
}
