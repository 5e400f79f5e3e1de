// float64 reference of matmul (engine/ops/matmul.ts).

/** float64 reference with NumPy broadcasting of the batch dims. */
export function matmul(a: ArrayLike<number>, aShape: number[], b: ArrayLike<number>, bShape: number[], transA: boolean, transB: boolean) {
  const [ra, rb] = [aShape.length, bShape.length];
  const [m, k] = transA ? [aShape[ra - 1], aShape[ra - 2]] : [aShape[ra - 2], aShape[ra - 1]];
  const n = transB ? bShape[rb - 2] : bShape[rb - 1];
  const ba = aShape.slice(0, -2);
  const bb = bShape.slice(0, -2);
  const rank = Math.max(ba.length, bb.length);
  const pa = [...Array(rank - ba.length).fill(1), ...ba];
  const pb = [...Array(rank - bb.length).fill(1), ...bb];
  const batch = pa.map((d, i) => Math.max(d, pb[i]));
  const count = batch.reduce((x, y) => x * y, 1);
  const out = new Float64Array(count * m * n);
  for (let z = 0; z < count; z++) {
    let [za, zb, rest] = [0, 0, z];
    const idx: number[] = [];
    for (let d = rank - 1; d >= 0; d--) {
      idx[d] = rest % batch[d];
      rest = Math.floor(rest / batch[d]);
    }
    for (let d = 0; d < rank; d++) {
      za = za * pa[d] + (pa[d] === 1 ? 0 : idx[d]);
      zb = zb * pb[d] + (pb[d] === 1 ? 0 : idx[d]);
    }
    const [oa, ob] = [za * m * k, zb * k * n];
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) {
          s += a[oa + (transA ? q * m + i : i * k + q)] * b[ob + (transB ? j * k + q : q * n + j)];
        }
        out[(z * m + i) * n + j] = s;
      }
    }
  }
  return { shape: [...batch, m, n], out };
}
