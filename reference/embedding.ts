// float64 reference of embedding (engine/ops/embedding.ts): a row gather, and its backward, a
// scatter-add of the upstream rows.

export function embedding(table: ArrayLike<number>, dim: number, ids: number[]): Float64Array {
  const out = new Float64Array(ids.length * dim);
  ids.forEach((id, p) => {
    for (let j = 0; j < dim; j++) out[p * dim + j] = table[id * dim + j];
  });
  return out;
}

export function embeddingBackward(vocab: number, dim: number, ids: number[], g: ArrayLike<number>): Float64Array {
  const d = new Float64Array(vocab * dim);
  ids.forEach((id, p) => {
    for (let j = 0; j < dim; j++) d[id * dim + j] += g[p * dim + j];
  });
  return d;
}
