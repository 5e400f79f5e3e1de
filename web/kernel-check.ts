// The engine's kernels checked inside a browser's WebGPU, where the shader compiler, the limits
// and the subgroup sizes are the browser's (Chromium's Dawn, Tint, its own adapter) rather than
// Node's. Each op runs forward against a float64 reference on random inputs at sizes that are not
// tile multiples, and a few backward passes are checked by finite differences, with the same
// references and tools as the vitest suite (reference/). The report goes into window.kernelCheck and the
// page as JSON; test/web/kernels.test.ts reads it from Chromium.

import * as E from '../engine/index.ts';
import { AdamW } from '../training/adamw.ts';
import { checkGradients, expectClose, rand, setupEngine, sizeOfShape } from '../reference/check.ts';
import { AdamW as ReferenceAdamW } from '../reference/adamw.ts';
import { attention as attentionRef } from '../reference/attention.ts';
import { crossEntropy as crossEntropyRef } from '../reference/cross_entropy.ts';
import { binary, broadcast, unary } from '../reference/elementwise.ts';
import { embedding as embeddingRef } from '../reference/embedding.ts';
import { matmul as matmulRef } from '../reference/matmul.ts';
import { norm as normRef } from '../reference/norm.ts';
import { reduce as reduceRef } from '../reference/reduce.ts';
import { softmax as softmaxRef } from '../reference/softmax.ts';

interface CheckResult {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
  /** Why the check did not apply to this adapter. */
  skipped?: string;
}

export interface KernelCheckReport {
  adapter: string;
  passed: number;
  failed: number;
  skipped: number;
  results: CheckResult[];
  /** The ops registered in engine/ops/index.ts that no check names. */
  unchecked: string[];
  /** Set when no check could run at all (no WebGPU). */
  error?: string;
}

/** A check throws on a mismatch, or returns why it does not apply here. Its name names the ops it
 *  checks as they are exported: the report lists the registered ops that no check names. */
type Check = () => Promise<string | void>;
const checks: [string, Check][] = [];
const check = (name: string, fn: Check) => checks.push([name, fn]);

/** Runs f on tensors made from the data, reads the result back, frees everything. */
async function run(f: (...xs: E.Tensor[]) => E.Tensor, inputs: { data: ArrayLike<number>; shape: number[] }[]): Promise<Float32Array> {
  const y = E.tidy(() => f(...inputs.map((x) => E.tensor(x.data, x.shape))));
  const out = (await y.toArray()) as Float32Array;
  y.dispose();
  return out;
}

// ---- elementwise ------------------------------------------------------------------------------

const UNARY: [string, (x: E.Tensor) => E.Tensor, (x: number) => number, number, number][] = [
  ['neg', E.neg, unary.neg, -2, 2],
  ['exp', E.exp, unary.exp, -2, 2],
  ['log', E.log, unary.log, 0.2, 3],
  ['sqrt', E.sqrt, unary.sqrt, 0.2, 3],
  ['rsqrt', E.rsqrt, unary.rsqrt, 0.2, 3],
  ['relu', E.relu, unary.relu, -2, 2],
  ['gelu', E.gelu, unary.gelu, -3, 3],
  ['tanh', E.tanh, unary.tanh, -2, 2],
  ['reciprocal', E.reciprocal, unary.reciprocal, 0.3, 2],
  ['powScalar', (x) => E.powScalar(x, 3), (x) => unary.powScalar(x, 3), -2, 2],
];
for (const [name, op, ref, lo, hi] of UNARY) {
  check(`${name} forward`, async () => {
    for (const shape of [[7], [3, 37], [2, 5, 131]]) {
      const data = rand(sizeOfShape(shape), 7, lo, hi);
      expectClose(await run(op, [{ data, shape }]), Array.from(data, ref), 2e-6, 1e-6, `${name} ${shape}`);
    }
  });
}

const BINARY: [string, (a: E.Tensor, b: E.Tensor) => E.Tensor, (a: number, b: number) => number][] = [
  ['add', E.add, binary.add],
  ['sub', E.sub, binary.sub],
  ['mul', E.mul, binary.mul],
  ['div', E.div, binary.div],
  ['maximum', E.maximum, binary.maximum],
];
for (const [name, op, ref] of BINARY) {
  check(`${name} forward with broadcasting`, async () => {
    for (const [as, bs] of [[[13], [13]], [[3, 1, 7], [1, 4, 7]], [[1], [2, 17]]]) {
      const a = rand(sizeOfShape(as), 1, 0.5, 2);
      const b = rand(sizeOfShape(bs), 2, 0.5, 2);
      const want = broadcast(a, as, b, bs, ref).res;
      expectClose(await run(op, [{ data: a, shape: as }, { data: b, shape: bs }]), want, 2e-6, 1e-6, `${name} ${as} ${bs}`);
    }
  });
}

// ---- reductions -------------------------------------------------------------------------------

for (const op of ['sum', 'mean', 'max'] as const) {
  check(`${op} forward`, async () => {
    for (const [shape, axes] of [[[7], [0]], [[3, 37], [1]], [[2, 5, 7], [0, 2]], [[5000], [0]], [[3, 2999], [1]]]) {
      const data = rand(sizeOfShape(shape), 5);
      expectClose(await run((x) => E[op](x, axes, true), [{ data, shape }]), reduceRef(data, shape, axes, op), 1e-5, 1e-5, `${op} ${shape} axes ${axes}`);
    }
  });
}

// ---- matmul -----------------------------------------------------------------------------------

/** Why a kernel the adapter profile says cannot run here is skipped: what the profile found. */
function lacking(what: string): string {
  const { subgroups, limits } = E.engine().adapterProfile;
  const sizes = subgroups.min ? `subgroups of ${subgroups.min} to ${subgroups.max} lanes` : 'no subgroups';
  return `${what} does not run on this adapter: ${sizes}, ${limits.maxStorageBuffersPerShaderStage} storage buffers per shader stage`;
}

// Each variant runs here whatever this adapter would pick by itself (forced through the adapter
// profile); shared-rows only where the profile says it can (the engine refuses it elsewhere).
for (const variant of ['shared-rows', 'direct', 'tiled'] as E.MatmulVariant[]) {
  check(`matmul forward (${variant}), every transpose, odd and tile-edge sizes`, async () => {
    if (variant === 'shared-rows' && !E.engine().adapterProfile.supports.sharedRowsMatmul) return lacking('the shared-rows kernel');
    for (const [m, n, k] of [[1, 1, 1], [7, 13, 29], [65, 33, 17], [25, 129, 36]]) {
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        const a = rand(m * k, 11);
        const b = rand(k * n, 12);
        const product = (x: E.Tensor, w: E.Tensor) => E.withAdapterProfile({ matmul: { variant } }, () => E.matmul(x, w, { transA: ta, transB: tb }));
        const y = await run(product, [{ data: a, shape: ta ? [k, m] : [m, k] }, { data: b, shape: tb ? [n, k] : [k, n] }]);
        expectClose(y, matmulRef(a, ta ? [k, m] : [m, k], b, tb ? [n, k] : [k, n], ta, tb).out, 1e-5, 2e-6 * (k + 1), `${variant} ${m}x${k}${ta ? 'T' : ''} by ${k}x${n}${tb ? 'T' : ''}`);
      }
    }
  });
}
check('matmul forward, batched with broadcasting', async () => {
  const [m, n, k] = [7, 29, 13];
  const a = rand(3 * m * k, 13);
  const b = rand(k * n, 14);
  const want = matmulRef(a, [3, m, k], b, [k, n], false, false).out;
  expectClose(await run((x, w) => E.matmul(x, w), [{ data: a, shape: [3, m, k] }, { data: b, shape: [k, n] }]), want, 1e-5, 3e-5);
});

// ---- row ops: softmax, norms, cross-entropy, embedding ---------------------------------------

check('softmax and logSoftmax forward', async () => {
  for (const shape of [[7], [3, 7], [37, 129], [2, 3, 1031], [1, 4099]]) {
    const len = shape.at(-1)!;
    const x = rand(sizeOfShape(shape), 3, -4, 4);
    expectClose(await run(E.softmax, [{ data: x, shape }]), softmaxRef(x, len, false), 1e-5, 1e-7, `softmax ${shape}`);
    expectClose(await run(E.logSoftmax, [{ data: x, shape }]), softmaxRef(x, len, true), 1e-5, 1e-5, `logSoftmax ${shape}`);
  }
});
check('rmsNorm and layerNorm forward', async () => {
  for (const shape of [[1, 1], [37, 129], [3, 1031]]) {
    const len = shape.at(-1)!;
    const x = rand(sizeOfShape(shape), 4, -2, 3);
    const w = rand(len, 5, 0.5, 1.5);
    const b = rand(len, 6);
    // forward only: the upstream gradient the reference takes for its backward is zero
    const none = new Float64Array(x.length);
    const rms = normRef(true, x, w, null, none, 1e-6).y;
    const ln = normRef(false, x, w, b, none, 1e-5).y;
    expectClose(await run((t, g) => E.rmsNorm(t, g), [{ data: x, shape }, { data: w, shape: [len] }]), rms, 1e-5, 1e-5, `rmsNorm ${shape}`);
    expectClose(await run((t, g, c) => E.layerNorm(t, g, c), [{ data: x, shape }, { data: w, shape: [len] }, { data: b, shape: [len] }]), ln, 1e-4, 1e-5, `layerNorm ${shape}`);
  }
});
check('crossEntropy forward (mean over rows not ignored)', async () => {
  const [n, c] = [37, 131];
  const logits = rand(n * c, 8, -5, 5);
  const targets = Array.from({ length: n }, (_, i) => (i % 5 === 4 ? -100 : (i * 7) % c));
  const y = await run((l) => E.crossEntropy(l, E.tensor(targets, [n], 'i32')), [{ data: logits, shape: [n, c] }]);
  expectClose(y, crossEntropyRef(logits, targets, c, -100, 'mean', [1]).loss, 1e-5, 1e-6, 'crossEntropy');
});
check('embedding forward', async () => {
  const [v, d] = [11, 13];
  const table = rand(v * d, 9);
  const ids = [3, 0, 10, 3, 7, 7, 1, 2, 9, 4, 5, 6, 8, 0, 10];
  const y = await run((t) => E.embedding(t, E.tensor(ids, [3, 5], 'i32')), [{ data: table, shape: [v, d] }]);
  expectClose(y, embeddingRef(table, d, ids), 0, 0, 'embedding');
});

// ---- attention --------------------------------------------------------------------------------

// Each path runs here whatever this adapter would pick by itself; subgroups only where the
// profile says it can.
for (const path of ['fused', 'subgroups', 'materialized'] as E.AttentionPath[]) {
  check(`attention forward (${path}) with bias, padding mask and causal mask`, async () => {
    if (path === 'subgroups' && !E.engine().adapterProfile.supports.subgroupsAttention) return lacking('the subgroups path');
    const [B, H, L, Dh] = [2, 3, 11, 6];
    const q = rand(B * H * L * Dh, 21);
    const k = rand(B * H * L * Dh, 22);
    const v = rand(B * H * L * Dh, 23);
    const bias = rand(H * L * L, 24);
    const mask = Array.from({ length: B * L }, (_, i) => (i >= L && i % L >= L - 3 ? 0 : 1));
    const want = attentionRef(
      { B, H, Lq: L, Lk: L, Dh, causal: true },
      { q, k, v, bias, biasShape: [H, L, L], mask: Float64Array.from(mask), dout: new Float64Array(q.length) },
    ).out;
    const shape = [B, H, L, Dh];
    const forced = (a: E.Tensor, b: E.Tensor, c: E.Tensor, d: E.Tensor) =>
      E.withAdapterProfile({ attention: { path } }, () => E.attention(a, b, c, { bias: d, keyPaddingMask: E.tensor(mask, [B, L]), causal: true }));
    const y = await run(forced, [
      { data: q, shape },
      { data: k, shape },
      { data: v, shape },
      { data: bias, shape: [H, L, L] },
    ]);
    expectClose(y, want, 1e-4, 1e-5, `attention (${path})`);
  });
}

// ---- training kernels: dropout, AdamW with clipping ------------------------------------------

check('dropout zeroes about p and scales the rest by 1/(1-p)', async () => {
  const n = 20000;
  const y = await run((x) => E.dropout(x, 0.25, 7), [{ data: new Float64Array(n).fill(1), shape: [n] }]);
  const zeros = y.filter((v) => v === 0).length;
  if (Math.abs(zeros / n - 0.25) > 0.02) throw new Error(`dropout zeroed ${zeros} of ${n}, want about 25%`);
  expectClose(y.filter((v) => v !== 0), new Array(n - zeros).fill(1 / 0.75), 1e-6, 0, 'dropout kept values');
});
check('adamwUpdate and clipStats: an AdamW step with gradient clipping', async () => {
  const shapes = [[7], [3, 5]];
  const w0 = shapes.map((s, i) => rand(sizeOfShape(s), 30 + i));
  const g = shapes.map((s, i) => rand(sizeOfShape(s), 40 + i, -3, 3));
  const params = w0.map((d, i) => E.param(E.tensor(d, shapes[i])));
  const opt = new AdamW(params, { weightDecay: 0.1, maxGradNorm: 1 });
  params.forEach((p, i) => (p.grad = E.tensor(g[i], shapes[i])));
  const lr = 0.01;
  opt.step(lr);
  const ref = new ReferenceAdamW(w0.map((w) => Float64Array.from(w)), { weightDecay: 0.1, maxGradNorm: 1 });
  ref.step(g, lr);
  for (let i = 0; i < params.length; i++) expectClose(await params[i].toArray(), ref.w[i], 1e-5, 1e-6, `param ${i}`);
  opt.dispose();
  for (const p of params) {
    p.grad?.dispose();
    p.dispose();
  }
});

// ---- backward by finite differences -----------------------------------------------------------

check('gelu backward', () => checkGradients(E.gelu, [{ data: rand(11, 3, -3, 3), shape: [11] }]));
check('mul backward with broadcasting', () => checkGradients(E.mul, [{ data: rand(21, 1), shape: [3, 1, 7] }, { data: rand(7, 2), shape: [7] }]));
check('sum backward over an axis', () => checkGradients((x) => E.sum(x, 1), [{ data: rand(15, 4), shape: [3, 5] }]));
check('matmul backward (b transposed)', () => checkGradients((a, b) => E.matmul(a, b, { transB: true }), [{ data: rand(15, 5), shape: [3, 5] }, { data: rand(20, 6), shape: [4, 5] }]));
check('softmax backward', () => checkGradients(E.softmax, [{ data: rand(14, 7, -2, 2), shape: [2, 7] }]));
check('rmsNorm backward', () => checkGradients((x, w) => E.rmsNorm(x, w), [{ data: rand(18, 8), shape: [3, 6] }, { data: rand(6, 9, 0.5, 1.5), shape: [6] }]));
check('crossEntropy backward', () => checkGradients((l) => E.crossEntropy(l, E.tensor([2, 0, 4], [3], 'i32')), [{ data: rand(15, 10, -2, 2), shape: [3, 5] }]));
check('embedding backward', () => checkGradients((t) => E.embedding(t, E.tensor([1, 3, 1, 0], [4], 'i32')), [{ data: rand(20, 11), shape: [5, 4] }]));
check('attention backward', () => {
  const shape = [1, 2, 3, 4];
  return checkGradients((q, k, v) => E.attention(q, k, v, { causal: true }), [
    { data: rand(24, 31), shape },
    { data: rand(24, 32), shape },
    { data: rand(24, 33), shape },
  ]);
});

// ---- run --------------------------------------------------------------------------------------

const named = new Set(checks.flatMap(([name]) => name.split(/[^A-Za-z]+/)));
const unchecked = E.OP_NAMES.filter((op) => !named.has(op));

async function runAll(): Promise<KernelCheckReport> {
  let adapter = '';
  try {
    adapter = E.describeAdapter((await setupEngine()).adapter);
  } catch (e) {
    return { adapter, passed: 0, failed: 0, skipped: 0, results: [], unchecked, error: `${(e as Error).name}: ${(e as Error).message}` };
  }
  const results: CheckResult[] = [];
  for (const [name, fn] of checks) {
    const t0 = performance.now();
    try {
      const skipped = await fn();
      await E.sync();
      results.push({ name, ok: true, ms: Math.round(performance.now() - t0), ...(skipped ? { skipped } : {}) });
    } catch (e) {
      results.push({ name, ok: false, ms: Math.round(performance.now() - t0), error: (e as Error).message });
    }
    document.getElementById('progress')!.textContent = `${results.length}/${checks.length} checks run`;
  }
  const failed = results.filter((r) => !r.ok).length;
  const skipped = results.filter((r) => r.skipped).length;
  return { adapter, passed: results.length - failed - skipped, failed, skipped, results, unchecked };
}

const report = await runAll();
(window as unknown as { kernelCheck: KernelCheckReport }).kernelCheck = report;
document.getElementById('summary')!.textContent =
  report.error ?? `${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped on ${report.adapter}${report.unchecked.length ? `; no check for ${report.unchecked.join(', ')}` : ''}`;
document.getElementById('results')!.replaceChildren(
  ...report.results.map((r) => {
    const tr = document.createElement('tr');
    for (const text of [r.skipped ? 'skipped' : r.ok ? '✓' : '✗', r.name, `${r.ms} ms`, r.error ?? r.skipped ?? '']) tr.insertCell().textContent = text;
    tr.className = r.ok ? 'correct' : 'wrong';
    return tr;
  }),
);
document.getElementById('report')!.textContent = JSON.stringify(report, null, 2);
