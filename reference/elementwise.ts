// float64 references of the elementwise ops (engine/ops/elementwise.ts).

export const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

export const unary = {
  neg: (x: number) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x: number) => 1 / Math.sqrt(x),
  relu: (x: number) => Math.max(x, 0),
  gelu,
  tanh: Math.tanh,
  reciprocal: (x: number) => 1 / x,
  addScalar: (x: number, s: number) => x + s,
  mulScalar: (x: number, s: number) => x * s,
  powScalar: (x: number, s: number) => x ** s,
};

export const binary = {
  add: (a: number, b: number) => a + b,
  sub: (a: number, b: number) => a - b,
  mul: (a: number, b: number) => a * b,
  div: (a: number, b: number) => a / b,
  pow: (a: number, b: number) => a ** b,
  maximum: Math.max,
};

/** f over a and b broadcast against each other (NumPy rules): the result and its shape. */
export function broadcast(a: ArrayLike<number>, as: number[], b: ArrayLike<number>, bs: number[], f: (x: number, y: number) => number) {
  const rank = Math.max(as.length, bs.length);
  const pa = [...Array(rank - as.length).fill(1), ...as];
  const pb = [...Array(rank - bs.length).fill(1), ...bs];
  const out = pa.map((d, i) => Math.max(d, pb[i]));
  const n = out.reduce((x, y) => x * y, 1);
  const res = new Float64Array(n);
  const idx = (p: number[], multi: number[]) => multi.reduce((acc, m, i) => acc * p[i] + (p[i] === 1 ? 0 : m), 0);
  for (let i = 0; i < n; i++) {
    const multi: number[] = [];
    let r = i;
    for (let d = rank - 1; d >= 0; d--) {
      multi[d] = r % out[d];
      r = Math.floor(r / out[d]);
    }
    res[i] = f(a[idx(pa, multi)], b[idx(pb, multi)]);
  }
  return { out, res };
}
