// float64 reference of engine/ops/feed_forward.ts.

/** residual + relu(x wiᵀ) woᵀ in float64; x [n, d], wi [f, d], wo [d, f]. */
export function feedForward(x: Float64Array, wi: Float64Array, wo: Float64Array, r: Float64Array | null, n: number, d: number, f: number): Float64Array {
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const h = new Float64Array(f);
    for (let j = 0; j < f; j++) {
      let s = 0;
      for (let q = 0; q < d; q++) s += x[i * d + q] * wi[j * d + q];
      h[j] = Math.max(s, 0);
    }
    for (let c = 0; c < d; c++) {
      let s = r ? r[i * d + c] : 0;
      for (let j = 0; j < f; j++) s += h[j] * wo[c * f + j];
      out[i * d + c] = s;
    }
  }
  return out;
}
