// float64 reference of the reductions (engine/ops/reduce.ts).

/** float64 reduction over `axes` of a row-major array, keeping dims. */
export function reduce(data: ArrayLike<number>, shape: number[], axes: number[], op: 'sum' | 'mean' | 'max'): number[] {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const n = outShape.reduce((a, b) => a * b, 1);
  const acc = new Array(n).fill(op === 'max' ? -Infinity : 0);
  const count = axes.reduce((c, a) => c * shape[a], 1);
  for (let i = 0; i < data.length; i++) {
    let r = i;
    let o = 0;
    let mul = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      const idx = r % shape[d];
      r = Math.floor(r / shape[d]);
      if (!axes.includes(d)) o += idx * mul;
      mul *= outShape[d];
    }
    acc[o] = op === 'max' ? Math.max(acc[o], data[i]) : acc[o] + data[i];
  }
  return op === 'mean' ? acc.map((v) => v / count) : acc;
}
