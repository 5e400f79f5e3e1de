// Elementwise ops (kernels/elementwise.wgsl): unary, scalar, binary with broadcasting, where.
// Each op's backward sits next to its forward; the dispatches are in elementwise_kernel.ts.

import { Tensor, fmtShape, full, type Shape } from '../tensor.ts';
import { record } from '../autograd.ts';
import { broadcastShapes, broadcastStrides, sameShape, stridesOf } from '../shape.ts';
import { sumTo } from './reduce_kernel.ts';
import { binaryOp, stridedMap, unaryOp, whereOp } from './elementwise_kernel.ts';
import { heldProduct } from './held.ts';

export { stridedMap } from './elementwise_kernel.ts';

// ---- unary ------------------------------------------------------------------------------------

export function neg(x: Tensor): Tensor {
  return record('neg', [x], unaryOp('neg', x), (g) => [neg(g)]);
}

export function exp(x: Tensor): Tensor {
  const y = unaryOp('exp', x);
  return record('exp', [x], y, (g, [y]) => [mul(g, y)], [y]);
}

export function log(x: Tensor): Tensor {
  return record('log', [x], unaryOp('log', x), (g, [x]) => [div(g, x)], [x]);
}

export function sqrt(x: Tensor): Tensor {
  const y = unaryOp('sqrt', x);
  return record('sqrt', [x], y, (g, [y]) => [div(mulScalar(g, 0.5), y)], [y]);
}

export function rsqrt(x: Tensor): Tensor {
  const y = unaryOp('rsqrt', x);
  // d/dx x^-1/2 = -1/2 x^-3/2 = -1/2 y^3
  return record('rsqrt', [x], y, (g, [y]) => [mul(g, mulScalar(powScalar(y, 3), -0.5))], [y]);
}

export function relu(x: Tensor): Tensor {
  return record('relu', [x], unaryOp('relu', x), (g, [x]) => [binaryOp('reluBackward', g, x)], [x]);
}

/** GELU, tanh approximation (T5 v1.1's gelu_new). */
export function gelu(x: Tensor): Tensor {
  return record('gelu', [x], unaryOp('gelu', x), (g, [x]) => [binaryOp('geluBackward', g, x)], [x]);
}

export function tanh(x: Tensor): Tensor {
  const y = unaryOp('tanh', x);
  return record('tanh', [x], y, (g, [y]) => [binaryOp('tanhBackward', g, y)], [y]);
}

export function reciprocal(x: Tensor): Tensor {
  const y = unaryOp('reciprocal', x);
  return record('reciprocal', [x], y, (g, [y]) => [neg(mul(g, mul(y, y)))], [y]);
}

export function addScalar(x: Tensor, s: number): Tensor {
  return record('addScalar', [x], unaryOp('addScalar', x, s), (g) => [g]);
}

export function mulScalar(x: Tensor, s: number): Tensor {
  return record('mulScalar', [x], unaryOp('mulScalar', x, s), (g) => [mulScalar(g, s)]);
}

export function powScalar(x: Tensor, s: number): Tensor {
  return record('powScalar', [x], unaryOp('powScalar', x, s), (g, [x]) => [mul(g, mulScalar(powScalar(x, s - 1), s))], [x]);
}

/** A contiguous copy (a new buffer). */
export function copy(x: Tensor): Tensor {
  return record('copy', [x], unaryOp('copy', x), (g) => [g]);
}

// ---- binary, broadcasting ---------------------------------------------------------------------

/** a + b; of a product whose pass is held back and a residual, that pass adds them
 *  (engine/ops/held.ts), and the product's own tensor is spent. */
export function add(a: Tensor, b: Tensor): Tensor {
  const sum = heldProduct(b)?.addResidual(a) ?? heldProduct(a)?.addResidual(b) ?? binaryOp('add', a, b);
  return record('add', [a, b], sum, (g) => [sumTo(g, a.shape), sumTo(g, b.shape)]);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  return record('sub', [a, b], binaryOp('sub', a, b), (g) => [sumTo(g, a.shape), sumTo(neg(g), b.shape)]);
}

// In the backward closures below, `sa`/`sb` are the saved copies of the inputs; whether each
// input needs a gradient is read from the inputs themselves, before recording.

export function mul(a: Tensor, b: Tensor): Tensor {
  const [needA, needB] = [a.requiresGrad, b.requiresGrad];
  return record(
    'mul',
    [a, b],
    binaryOp('mul', a, b),
    (g, [sa, sb]) => [needA ? sumTo(mul(g, sb), a.shape) : null, needB ? sumTo(mul(g, sa), b.shape) : null],
    [a, b],
  );
}

export function div(a: Tensor, b: Tensor): Tensor {
  const [needA, needB] = [a.requiresGrad, b.requiresGrad];
  return record(
    'div',
    [a, b],
    binaryOp('div', a, b),
    (g, [sa, sb]) => [
      needA ? sumTo(div(g, sb), a.shape) : null,
      needB ? sumTo(neg(div(mul(g, sa), mul(sb, sb))), b.shape) : null,
    ],
    [a, b],
  );
}

export function pow(a: Tensor, b: Tensor): Tensor {
  const [needA, needB] = [a.requiresGrad, b.requiresGrad];
  const y = binaryOp('pow', a, b);
  return record(
    'pow',
    [a, b],
    y,
    (g, [sa, sb, sy]) => [
      needA ? sumTo(mul(g, mul(sb, pow(sa, addScalar(sb, -1)))), a.shape) : null,
      needB ? sumTo(mul(g, mul(sy, log(sa))), b.shape) : null,
    ],
    [a, b, y],
  );
}

/** Elementwise maximum; the gradient goes to `a` where a >= b, else to `b`. */
export function maximum(a: Tensor, b: Tensor): Tensor {
  return record(
    'maximum',
    [a, b],
    binaryOp('maximum', a, b),
    (g, [sa, sb]) => {
      const aWins = binaryOp('lt', sb, sa);
      const tie = binaryOp('eq', sa, sb);
      const toA = add(aWins, tie);
      return [sumTo(mul(g, toA), a.shape), sumTo(mul(g, addScalar(neg(toA), 1)), b.shape)];
    },
    [a, b],
  );
}

// Comparisons give 1 or 0 and have no gradient.
export const gt = (a: Tensor, b: Tensor) => binaryOp('gt', a, b);
export const lt = (a: Tensor, b: Tensor) => binaryOp('lt', a, b);
export const eq = (a: Tensor, b: Tensor) => binaryOp('eq', a, b);

/** cond ? a : b, elementwise with broadcasting. `cond` may be f32, i32 or u32 (nonzero = true). */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  return record(
    'where',
    [a, b],
    whereOp(cond, a, b),
    (g, [cond]) => {
      const zero = full([], 0);
      return [sumTo(where(cond, g, zero), a.shape), sumTo(where(cond, zero, g), b.shape)];
    },
    [cond],
  );
}

/** Sets x to `value` where mask is nonzero (attention masks). */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  return where(mask, full([], value), x);
}

/** Broadcasts x to `shape` (a materialized copy). */
export function expand(x: Tensor, shape: Shape): Tensor {
  const target = broadcastShapes('expand', x.shape, shape);
  if (!sameShape(target, shape)) {
    throw new Error(`expand: ${fmtShape(x.shape)} cannot be expanded to ${fmtShape(shape)}`);
  }
  const out = Tensor.empty(shape, x.dtype);
  stridedMap(
    `expand ${fmtShape(x.shape)} to ${fmtShape(shape)}`,
    'copy',
    { tensor: x, strides: broadcastStrides(x.shape, shape) },
    { tensor: out, strides: stridesOf(shape) },
    shape,
  );
  return record('expand', [x], out, (g) => [sumTo(g, x.shape)]);
}

export function onesLike(t: Tensor): Tensor {
  return full(t.shape, 1);
}

