// Fusion without fused ops: a product (matmul, feedForward) holds its pass back one op, so that
// what a pre-norm transformer does right after it can ride in the same pass, while the code that
// calls the ops stays the math, `x = add(x, sublayer(rmsNorm(x)))`:
//   - add(x, product), the residual: the pass adds x as it writes (the 'add' epilogue of
//     kernels/matmul*.wgsl) into the product's buffer, which the sum takes over. The product's
//     own tensor is spent: its values were never stored apart, and using it throws (copy it
//     first to keep it).
//   - then rmsNorm(sum): where the kernel holds whole rows (foldsRmsNorm, engine/ops/matmul.ts)
//     the pass writes the norm too (main_norm), and the norm's node is recorded from its outputs.
// Anything else records the held pass first (engine/runtime.ts, hold()), so every other op sees
// ordinary tensors and the work runs in the order the ops were called. Both ops that look here
// record their own autograd node either way: the gradients are those of the unfused ops.
//
// Why not explicit fused ops (a matmul that also adds and norms)? Their callers would have to
// know where the kernel can fold a norm, and a model would be written around them; this way the
// decision lives beside the kernel that makes it, and a model reads as its math. The price is one
// rule a caller can notice: a product added to a residual right away is not kept apart.

import type { Tensor } from '../tensor.ts';
import { engine, type HeldDispatch } from '../runtime.ts';

/** A product whose pass is held back (engine/ops/matmul.ts makes them). */
export interface HeldProduct extends HeldDispatch {
  /** The product's result so far: the next op must take this tensor for its work to ride along. */
  readonly out: Tensor;
  /** residual + the product, written by the product's pass; null where it cannot be (the pass
   *  adds one already, another shape, a view shares the product's buffer). */
  addResidual(residual: Tensor): Tensor | null;
  /** Records the pass with the RMS norm of each row of `out` (stats as kernels/norm.wgsl's forward
   *  writes them); null where the kernel cannot, or the pass adds no residual. */
  foldRmsNorm(weight: Tensor, eps: number): { normed: Tensor; stats: Tensor } | null;
}

/** The held product whose result is `t`, if there is one. Products are the only work held. */
export function heldProduct(t: Tensor): HeldProduct | null {
  const held = engine().held as HeldProduct | null;
  return held && held.out === t ? held : null;
}
