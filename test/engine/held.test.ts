// A product's pass held back one op (engine/ops/held.ts): an add right after it rides in the pass
// and spends the product's tensor; anything else gets the product as an ordinary tensor, and the
// work runs in the order the ops were called.
import { beforeAll, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { matmul as matmulReference } from '../../reference/matmul.ts';
import { expectClose, rand, setupEngine } from '../helpers.ts';

beforeAll(setupEngine);

const [M, K, N] = [7, 5, 6];
const data = { a: rand(M * K, 1), b: rand(K * N, 2), r: rand(M * N, 3) };
const product = matmulReference(data.a, [M, K], data.b, [K, N], false, false).out;
const plusResidual = product.map((v, i) => v + data.r[i]);

/** The dispatches `fn` records, by kernel entry point (the test engine's NaN fills left out). */
async function kernelsOf(fn: () => void): Promise<string[]> {
  const e = E.engine();
  e.startProfile();
  fn();
  return (await e.stopProfile()).records.map((r) => r.kernel).filter((k) => k !== 'fill.main');
}

it.each(['shared-rows', 'direct', 'tiled'] as const)('adds a residual in the %s product\'s pass, either side of the add, and spends the product', async (variant) => {
  if (variant === 'shared-rows' && !E.engine().adapterProfile.supports.sharedRowsMatmul) return;
  for (const productFirst of [false, true]) {
    const [a, b, r] = [E.tensor(data.a, [M, K]), E.tensor(data.b, [K, N]), E.tensor(data.r, [M, N])];
    let p: E.Tensor | null = null;
    let sum: E.Tensor | null = null;
    const kernels = await kernelsOf(() => {
      p = E.withAdapterProfile({ matmul: { variant } }, () => E.matmul(a, b));
      sum = productFirst ? E.add(p, r) : E.add(r, p);
    });
    expect(kernels).toHaveLength(1);
    expect(kernels[0]).toMatch(/^matmul/);
    expectClose(await sum!.toArray(), plusResidual, 1e-5, 1e-5, 'sum');
    expect(() => E.exp(p!)).toThrow(/added to the residual after it in its own pass/);
    expect(String(p)).toContain('(spent)');
    E.dispose([a, b, r, p, sum]);
  }
});

it('keeps the product where another op comes between, or a view shares its buffer', async () => {
  const [a, b, r] = [E.tensor(data.a, [M, K]), E.tensor(data.b, [K, N]), E.tensor(data.r, [M, N])];
  const between = E.matmul(a, b);
  const scaled = E.mulScalar(r, 1); // records the product first
  const sum1 = E.add(r, between);
  const shared = E.matmul(a, b);
  const view = E.reshape(shared, [M * N]);
  const sum2 = E.add(r, shared);
  for (const t of [between, shared, view]) expectClose(await t.toArray(), product, 1e-5, 1e-5, 'product');
  for (const t of [sum1, sum2]) expectClose(await t.toArray(), plusResidual, 1e-5, 1e-5, 'sum');
  E.dispose([a, b, r, between, scaled, sum1, shared, view, sum2]);
});

it('reads its inputs as they were when it was called, though they are freed before it records', async () => {
  // x [M, 8] freed by the tidy before the pass records; the norm folded into it then needs an
  // [M, 8] buffer of its own, which must not be x's.
  const D = 8;
  const [xData, wData, rData] = [rand(M * D, 4), rand(D * D, 5), rand(M * D, 6)];
  const [w, r, g] = [E.tensor(wData, [D, D]), E.tensor(rData, [M, D]), E.ones([D])];
  const sum = E.tidy(() => E.matmul(E.tensor(xData, [M, D]), w, { residual: r }));
  const normed = E.rmsNorm(sum, g);
  const want = matmulReference(xData, [M, D], wData, [D, D], false, false).out.map((v, i) => v + rData[i]);
  expectClose(await sum.toArray(), want, 1e-5, 1e-5, 'sum');
  const rms = Array.from({ length: M }, (_, i) => Math.sqrt(want.slice(i * D, (i + 1) * D).reduce((s, v) => s + v * v, 0) / D + 1e-6));
  expectClose(await normed.toArray(), want.map((v, i) => v / rms[Math.floor(i / D)]), 1e-4, 1e-5, 'normed');
  E.dispose([w, r, g, sum, normed]);
});

it('reads back a held product as it is', async () => {
  const [a, b] = [E.tensor(data.a, [M, K]), E.tensor(data.b, [K, N])];
  const p = E.matmul(a, b);
  expectClose(await p.toArray(), product, 1e-5, 1e-5, 'product');
  E.dispose([a, b, p]);
});
