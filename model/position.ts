// T5's relative position buckets.
//
// T5 has no position embeddings; each attention score gets a learned bias that depends on the
// bucket of (key position - query position). Nearby offsets get a bucket each; farther ones
// share logarithmically wider buckets up to max_distance, beyond which all offsets share the
// last bucket. The encoder is bidirectional (half the buckets for keys after the query); the
// decoder only looks back. The arithmetic follows Hugging Face's float32 computation so that
// bucket boundaries match checkpoints trained with it.

export function relativePositionBucket(relative: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let buckets = numBuckets;
  let bucket = 0;
  let distance: number;
  if (bidirectional) {
    buckets = Math.floor(buckets / 2);
    if (relative > 0) bucket += buckets;
    distance = Math.abs(relative);
  } else {
    distance = Math.max(-relative, 0);
  }
  const maxExact = Math.floor(buckets / 2);
  if (distance < maxExact) return bucket + distance;
  const f = Math.fround;
  const scaled = f(f(f(Math.log(f(distance / maxExact))) / f(Math.log(maxDistance / maxExact))) * (buckets - maxExact));
  return bucket + Math.min(maxExact + Math.trunc(scaled), buckets - 1);
}

/** Bucket ids [queries, keys] for queries at positions offset..offset+queries-1 and keys at
 *  0..keys-1, flattened row-major. */
export function bucketGrid(
  queries: number,
  keys: number,
  offset: number,
  bidirectional: boolean,
  numBuckets: number,
  maxDistance: number,
): Int32Array {
  const out = new Int32Array(queries * keys);
  for (let i = 0; i < queries; i++) {
    for (let j = 0; j < keys; j++) {
      out[i * keys + j] = relativePositionBucket(j - (i + offset), bidirectional, numBuckets, maxDistance);
    }
  }
  return out;
}
