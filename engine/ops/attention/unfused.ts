// The same attention composed from unfused ops (matmul, softmax, matmul) and differentiated by
// autograd: the baseline the kernel-running implementations are tested and benchmarked against
// (test/engine/attention.test.ts, bench/attention.ts). Never chosen by the router, and not behind
// the Implementation shape of implementation.ts: autograd derives its backward from the ops.
// It materializes the [B, H, Lq, Lk] scores and probabilities.

import { Tensor, full, tensor } from '../../tensor.ts';
import { permute, reshape } from '../shape.ts';
import { add, mul, mulScalar, where } from '../elementwise.ts';
import { max } from '../reduce.ts';
import { softmax } from '../softmax.ts';
import { matmul } from '../matmul.ts';
import { check, type AttentionOptions } from './check.ts';

export function attentionUnfused(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const { batch, lq, lk } = check(q, k, v, opts);
  if (opts.headsLast) {
    const swap = (t: Tensor) => permute(t, [0, 2, 1, 3]);
    return swap(attentionUnfused(swap(q), swap(k), swap(v), { ...opts, headsLast: false }));
  }
  const { bias, keyPaddingMask: mask, causal = false, scale = 1 } = opts;
  let s = mulScalar(matmul(q, k, { transB: true }), scale);
  if (bias) s = add(s, bias);
  let p: Tensor;
  if (mask || causal) {
    const visible = causal ? tensor(Float32Array.from({ length: lq * lk }, (_, n) => (n % lk <= Math.floor(n / lk) + lk - lq ? 1 : 0)), [lq, lk]) : full([], 1);
    // [B or 1, 1, Lq or 1, Lk]: 1 where the query attends to the key
    const allowed = mask ? where(reshape(mask, [batch, 1, 1, lk]), visible, full([], 0)) : reshape(visible, [1, 1, lq, lk]);
    // A row with no key left would get a uniform softmax; zeroing it matches the fused op.
    p = mul(softmax(where(allowed, s, full([], -1e30))), max(allowed, -1, true));
  } else {
    p = softmax(s);
  }
  return matmul(p, v);
}
