// float64 references of softmax and logSoftmax (engine/ops/softmax.ts), row by row over the
// last axis.

export function softmax(x: ArrayLike<number>, len: number, log: boolean): Float64Array {
  const y = new Float64Array(x.length);
  for (let b = 0; b < x.length; b += len) {
    let m = -Infinity;
    for (let j = 0; j < len; j++) m = Math.max(m, x[b + j]);
    let s = 0;
    for (let j = 0; j < len; j++) s += Math.exp(x[b + j] - m);
    for (let j = 0; j < len; j++) y[b + j] = log ? x[b + j] - m - Math.log(s) : Math.exp(x[b + j] - m) / s;
  }
  return y;
}

// dx for upstream g, from the float64 forward: softmax' = y (g - <g, y>), logSoftmax' = g - p sum(g)
export function softmaxBackward(x: ArrayLike<number>, g: ArrayLike<number>, len: number, log: boolean): Float64Array {
  const p = softmax(x, len, false);
  const dx = new Float64Array(x.length);
  for (let b = 0; b < x.length; b += len) {
    let d = 0;
    for (let j = 0; j < len; j++) d += log ? g[b + j] : g[b + j] * p[b + j];
    for (let j = 0; j < len; j++) dx[b + j] = log ? g[b + j] - p[b + j] * d : p[b + j] * (g[b + j] - d);
  }
  return dx;
}
