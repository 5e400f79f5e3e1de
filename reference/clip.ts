// float64 reference of the global gradient norm that clipStats (engine/ops/clip.ts) reduces.

export function globalNorm(arrays: ArrayLike<number>[]): number {
  let s = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}
