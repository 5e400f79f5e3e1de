// float64 reference of crossEntropy (engine/ops/cross_entropy.ts).

export type Reduction = 'mean' | 'sum' | 'none';

/** float64 loss (per row, or reduced) and d(sum(loss * up))/dlogits for upstream `up`. */
export function crossEntropy(x: ArrayLike<number>, targets: number[], len: number, ignore: number, reduction: Reduction, up: ArrayLike<number>) {
  const rows = targets.length;
  const count = targets.filter((t) => t !== ignore).length;
  const scale = reduction === 'mean' ? 1 / Math.max(count, 1) : 1;
  const perRow = new Float64Array(rows);
  const grad = new Float64Array(rows * len);
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (t === ignore) continue;
    const row = Array.from({ length: len }, (_, j) => x[r * len + j]);
    const m = Math.max(...row);
    const s = row.reduce((a, v) => a + Math.exp(v - m), 0);
    perRow[r] = m + Math.log(s) - row[t];
    const u = reduction === 'none' ? up[r] : up[0];
    for (let j = 0; j < len; j++) grad[r * len + j] = (Math.exp(row[j] - m) / s - (j === t ? 1 : 0)) * scale * u;
  }
  const loss = reduction === 'none' ? perRow : [perRow.reduce((a, v) => a + v, 0) * scale];
  return { loss, grad };
}
