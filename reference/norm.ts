// float64 reference of layerNorm and rmsNorm (engine/ops/norm.ts).

export interface NormReference {
  y: Float64Array;
  dx: Float64Array;
  dw: Float64Array;
  db: Float64Array;
}

// float64 forward, and the backward for upstream g derived independently of the kernel's
// formula: through d(xhat)/dx by the chain rule over the row, one column at a time.
export function norm(rms: boolean, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, g: ArrayLike<number>, eps: number): NormReference {
  const len = w.length;
  const n = x.length;
  const r: NormReference = { y: new Float64Array(n), dx: new Float64Array(n), dw: new Float64Array(len), db: new Float64Array(len) };
  for (let base = 0; base < n; base += len) {
    const row = Array.from({ length: len }, (_, j) => x[base + j]);
    const mean = rms ? 0 : row.reduce((a, v) => a + v, 0) / len;
    const v = row.reduce((a, xi) => a + (xi - mean) ** 2, 0) / len;
    const rstd = 1 / Math.sqrt(v + eps);
    const xhat = row.map((xi) => (xi - mean) * rstd);
    for (let j = 0; j < len; j++) {
      r.y[base + j] = xhat[j] * w[j] + (b ? b[j] : 0);
      r.dw[j] += g[base + j] * xhat[j];
      r.db[j] += g[base + j];
    }
    // dxhat_j/dx_k = rstd * (delta_jk - [!rms]/len - xhat_j * xhat_k / len)
    for (let k = 0; k < len; k++) {
      let d = 0;
      for (let j = 0; j < len; j++) {
        const jac = rstd * ((j === k ? 1 : 0) - (rms ? 0 : 1 / len) - (xhat[j] * xhat[k]) / len);
        d += g[base + j] * w[j] * jac;
      }
      r.dx[base + k] = d;
    }
  }
  return r;
}
