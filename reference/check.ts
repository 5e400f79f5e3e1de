// The tools that check kernels, shared by the vitest suite (test/helpers.ts) and the browser's
// kernel check page (web/kernel-check.ts): an engine with poisoned buffers, seeded random data,
// closeness against the float64 references beside this file, and central finite differences.

import { Rng, initEngine, tensor, Tensor, tidy, noGrad, backward, param, keep, type Shape } from '../engine/index.ts';

/** An engine whose new tensors start as NaN, so a kernel that leaves an element unwritten
 *  fails its check. */
export async function setupEngine() {
  return initEngine({ poison: true });
}

/** Deterministic uniform values in [lo, hi), rounded to float32 so CPU references see exactly
 *  what the GPU sees. */
export function rand(n: number, seed = 1, lo = -1, hi = 1): Float64Array {
  const rng = new Rng(seed);
  return Float64Array.from({ length: n }, () => Math.fround(lo + rng.nextFloat() * (hi - lo)));
}

export function sizeOfShape(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Largest |a - b| / (atol + rtol * |b|); <= 1 means close. */
export function closeness(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-5, atol = 1e-5): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (Number.isNaN(a) !== Number.isNaN(b)) return Infinity;
    if (Number.isNaN(a)) continue;
    if (a === b) continue;
    worst = Math.max(worst, Math.abs(a - b) / (atol + rtol * Math.abs(b)));
  }
  return worst;
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-5, atol = 1e-5, what = ''): void {
  const c = closeness(actual, expected, rtol, atol);
  if (!(c <= 1)) {
    let at = 0;
    let worst = -1;
    for (let i = 0; i < actual.length; i++) {
      const d = Math.abs(actual[i] - expected[i]) / (atol + rtol * Math.abs(expected[i]));
      if (!(d <= worst) ) {
        worst = d;
        at = i;
      }
      if (Number.isNaN(actual[i]) !== Number.isNaN(expected[i])) {
        at = i;
        break;
      }
    }
    throw new Error(`${what} not close (score ${c.toFixed(2)}): at ${at} got ${actual[at]}, want ${expected[at]}`);
  }
}

/**
 * Checks the gradients backward() gives for f against central finite differences.
 * f maps input tensors to a tensor; the scalar checked is sum(f(x) * w) for fixed random w,
 * so every output element's gradient matters. Finite differences are taken in float32 on the
 * GPU, so eps and tolerance are loose-ish; the inputs' scale is the caller's choice.
 */
export async function checkGradients(
  f: (...xs: Tensor[]) => Tensor,
  inputs: { data: ArrayLike<number>; shape: Shape }[],
  opts: { eps?: number; rtol?: number; atol?: number; seed?: number } = {},
): Promise<void> {
  const eps = opts.eps ?? 1e-2;
  const rtol = opts.rtol ?? 2e-2;
  const atol = opts.atol ?? 2e-3;
  const weightsFor = (shape: Shape) => rand(sizeOfShape(shape), opts.seed ?? 99, -1, 1);

  const evalLoss = async (datas: Float64Array[]): Promise<number> => {
    const out = noGrad(() =>
      tidy(() => {
        const xs = datas.map((d, i) => tensor(d, inputs[i].shape));
        return keep(f(...xs));
      }),
    );
    const y = await out.toArray();
    const w = weightsFor(out.shape);
    out.dispose();
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * w[i];
    return s;
  };

  const base = inputs.map((x) => Float64Array.from(x.data));
  const params = inputs.map((x) => param(tensor(x.data, x.shape)));
  tidy(() => {
    const y = f(...params);
    const w = tensor(weightsFor(y.shape), y.shape);
    backward(y, w);
  });
  for (let k = 0; k < inputs.length; k++) {
    const analytic = await params[k].grad!.toArray();
    const numeric = new Float64Array(base[k].length);
    for (let i = 0; i < base[k].length; i++) {
      const plus = base.map((b) => b.slice());
      const minus = base.map((b) => b.slice());
      plus[k][i] += eps;
      minus[k][i] -= eps;
      numeric[i] = ((await evalLoss(plus)) - (await evalLoss(minus))) / (2 * eps);
    }
    expectClose(analytic, numeric, rtol, atol, `gradient of input ${k}`);
  }
  for (const p of params) {
    p.grad?.dispose();
    p.dispose();
  }
}
