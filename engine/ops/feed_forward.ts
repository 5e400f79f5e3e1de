// The ReLU feed-forward block of a transformer as one op: residual + relu(x Wiᵀ) Woᵀ, weights in
// a linear layer's [out, in] layout. Composed from ops it takes three passes forward (matmul,
// relu, matmul) and five backward; here the relu rides in the first product's epilogue
// (kernels/matmul*.wgsl), and the backward folds the relu's gradient into the product that makes
// it: two dispatches forward, four backward.

import { Tensor, fmtShape, sizeOf } from '../tensor.ts';
import { record } from '../autograd.ts';
import { foldsRmsNorm, gemm, holdProduct, planGemm, type GemmOperand } from './matmul.ts';

const rowsOf = (t: Tensor, cols: number): GemmOperand => ({ tensor: t, ld: cols, batchStrides: [] });

/**
 * residual + relu(x · wiᵀ) · woᵀ for x [..., d], wi [dff, d], wo [d, dff]; residual like x or
 * absent. As matmul's, the second product's pass may take an add after it, then an RMS norm
 * (engine/ops/held.ts).
 */
export function feedForward(x: Tensor, wi: Tensor, wo: Tensor, options: { residual?: Tensor } = {}): Tensor {
  const { residual } = options;
  const label = `feedForward x ${fmtShape(x.shape)} wi ${fmtShape(wi.shape)} wo ${fmtShape(wo.shape)}${residual ? ' + residual' : ''}`;
  const d = x.shape[x.rank - 1];
  const dff = wi.shape[0];
  for (const t of [x, wi, wo, ...(residual ? [residual] : [])]) {
    if (t.dtype !== 'f32') throw new Error(`${label}: expects f32 tensors, got ${t.dtype} ${fmtShape(t.shape)}`);
  }
  if (x.rank < 1 || wi.rank !== 2 || wo.rank !== 2 || wi.shape[1] !== d || wo.shape[0] !== d || wo.shape[1] !== dff) {
    throw new Error(`${label}: needs x [..., d], wi [d_ff, d] and wo [d, d_ff] with matching d and d_ff`);
  }
  if (residual && fmtShape(residual.shape) !== fmtShape(x.shape)) throw new Error(`${label}: the residual must have x's shape`);
  const n = sizeOf(x.shape) / Math.max(d, 1);

  const h = Tensor.empty([n, dff]);
  gemm({ label: `${label}: relu(x wiᵀ)`, m: n, n: dff, k: d, batchShape: [], a: rowsOf(x, d), b: rowsOf(wi, d), c: rowsOf(h, dff), transB: true, epilogue: { op: 'relu' } });
  const out = Tensor.empty(x.shape);
  const plan = planGemm({
    label: `${label}: h woᵀ`,
    m: n,
    n: d,
    k: dff,
    batchShape: [],
    a: rowsOf(h, dff),
    b: rowsOf(wo, dff),
    c: rowsOf(out, d),
    transB: true,
    epilogue: residual && { op: 'add', tensor: residual },
  });
  holdProduct(plan, out, [h, wo, ...(residual ? [residual] : [])], n, foldsRmsNorm(n, d));

  const need = [x.requiresGrad, wi.requiresGrad, wo.requiresGrad];
  const result = record(
    'feedForward',
    residual ? [x, wi, wo, residual] : [x, wi, wo],
    out,
    (g, [sx, swi, swo, sh], [dxIn]) => {
      const bl = `${label} backward`;
      // the gradient before the relu, zero where it was off
      const gh = Tensor.empty([n, dff]);
      gemm({ label: `${bl}: (g wo) * (h > 0)`, m: n, n: dff, k: d, batchShape: [], a: rowsOf(g, d), b: rowsOf(swo, dff), c: rowsOf(gh, dff), epilogue: { op: 'relu-mask', tensor: sh } });
      const dx = need[0] ? Tensor.empty(sx.shape) : null;
      const dwi = need[1] ? Tensor.empty(swi.shape) : null;
      const dwo = need[2] ? Tensor.empty(swo.shape) : null;
      if (dx) gemm({ label: `${bl}: dx`, m: n, n: d, k: dff, batchShape: [], a: rowsOf(gh, dff), b: rowsOf(swi, d), c: rowsOf(dx, d), epilogue: dxIn ? { op: 'add', tensor: dxIn } : undefined });
      if (dwi) gemm({ label: `${bl}: dwi`, m: dff, n: d, k: n, batchShape: [], a: rowsOf(gh, dff), b: rowsOf(sx, d), c: rowsOf(dwi, d), transA: true });
      if (dwo) gemm({ label: `${bl}: dwo`, m: d, n: dff, k: n, batchShape: [], a: rowsOf(g, d), b: rowsOf(sh, dff), c: rowsOf(dwo, dff), transA: true });
      return [dx, dwi, dwo, ...(residual ? [g] : [])];
    },
    [x, wi, wo, h],
    [0],
  );
  h.dispose();
  return result;
}
