// The engine's kernels checked inside a browser's WebGPU, where the shader compiler, the limits
// and the subgroup sizes are the browser's (Chromium's Dawn, Tint, its own adapter) rather than
// Node's. Each op runs forward against a float64 reference on random inputs at sizes that are not
// tile multiples, and a few backward passes are checked by finite differences, with the same
// tools as the vitest suite (test/helpers.ts). The report goes into window.kernelCheck and the
// page as JSON; test/web/kernels.test.ts reads it from Chromium.

import * as E from '../engine/index.ts';
import { AdamW } from '../training/adamw.ts';
import { checkGradients, expectClose, rand, setupEngine, sizeOfShape } from '../test/helpers.ts';

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
  /** Set when no check could run at all (no WebGPU). */
  error?: string;
}

/** A check throws on a mismatch, or returns why it does not apply here. */
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

/** Index of element i of `shape` in an operand of `from` shape broadcast to it (NumPy rules). */
function broadcastIndex(i: number, shape: number[], from: number[]): number {
  const pad = [...Array(shape.length - from.length).fill(1), ...from];
  let src = 0;
  for (let d = 0, rest = i, stride = sizeOfShape(shape); d < shape.length; d++) {
    stride /= shape[d];
    const idx = Math.floor(rest / stride);
    rest -= idx * stride;
    src = src * pad[d] + (pad[d] === 1 ? 0 : idx);
  }
  return src;
}

// ---- elementwise ------------------------------------------------------------------------------

const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
const UNARY: [string, (x: E.Tensor) => E.Tensor, (x: number) => number, number, number][] = [
  ['neg', E.neg, (x) => -x, -2, 2],
  ['exp', E.exp, Math.exp, -2, 2],
  ['log', E.log, Math.log, 0.2, 3],
  ['sqrt', E.sqrt, Math.sqrt, 0.2, 3],
  ['rsqrt', E.rsqrt, (x) => 1 / Math.sqrt(x), 0.2, 3],
  ['relu', E.relu, (x) => Math.max(x, 0), -2, 2],
  ['gelu', E.gelu, gelu, -3, 3],
  ['tanh', E.tanh, Math.tanh, -2, 2],
  ['reciprocal', E.reciprocal, (x) => 1 / x, 0.3, 2],
  ['powScalar', (x) => E.powScalar(x, 3), (x) => x ** 3, -2, 2],
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
  ['add', E.add, (a, b) => a + b],
  ['sub', E.sub, (a, b) => a - b],
  ['mul', E.mul, (a, b) => a * b],
  ['div', E.div, (a, b) => a / b],
  ['maximum', E.maximum, Math.max],
];
for (const [name, op, ref] of BINARY) {
  check(`${name} forward with broadcasting`, async () => {
    for (const [as, bs, out] of [[[13], [13], [13]], [[3, 1, 7], [1, 4, 7], [3, 4, 7]], [[1], [2, 17], [2, 17]]]) {
      const a = rand(sizeOfShape(as), 1, 0.5, 2);
      const b = rand(sizeOfShape(bs), 2, 0.5, 2);
      const want = Array.from({ length: sizeOfShape(out) }, (_, i) => ref(a[broadcastIndex(i, out, as)], b[broadcastIndex(i, out, bs)]));
      expectClose(await run(op, [{ data: a, shape: as }, { data: b, shape: bs }]), want, 2e-6, 1e-6, `${name} ${as} ${bs}`);
    }
  });
}

// ---- reductions -------------------------------------------------------------------------------

function reduceRef(data: ArrayLike<number>, shape: number[], axes: number[], op: 'sum' | 'mean' | 'max'): number[] {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const acc = new Array(sizeOfShape(outShape)).fill(op === 'max' ? -Infinity : 0);
  for (let i = 0; i < data.length; i++) {
    const o = broadcastIndex(i, shape, outShape);
    acc[o] = op === 'max' ? Math.max(acc[o], data[i]) : acc[o] + data[i];
  }
  const count = axes.reduce((c, a) => c * shape[a], 1);
  return op === 'mean' ? acc.map((v) => v / count) : acc;
}
for (const op of ['sum', 'mean', 'max'] as const) {
  check(`${op} forward`, async () => {
    for (const [shape, axes] of [[[7], [0]], [[3, 37], [1]], [[2, 5, 7], [0, 2]], [[5000], [0]], [[3, 2999], [1]]]) {
      const data = rand(sizeOfShape(shape), 5);
      expectClose(await run((x) => E[op](x, axes, true), [{ data, shape }]), reduceRef(data, shape, axes, op), 1e-5, 1e-5, `${op} ${shape} axes ${axes}`);
    }
  });
}

// ---- matmul -----------------------------------------------------------------------------------

function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number, k: number, transA: boolean, transB: boolean): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let q = 0; q < k; q++) s += a[transA ? q * m + i : i * k + q] * b[transB ? j * k + q : q * n + j];
      out[i * n + j] = s;
    }
  }
  return out;
}

// Each variant runs here whatever this adapter would pick by itself; shared-rows only where
// its subgroups are wide enough (the engine refuses it elsewhere).
function sharedRowsUnsupported(): string | undefined {
  const e = E.engine();
  const min = (e.device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number } }).adapterInfo?.subgroupMinSize ?? 0;
  return e.adapter.features.includes('subgroups') && min >= 8 ? undefined : `subgroups of at least 8 lanes needed, this adapter has ${min || 'none'}`;
}
for (const variant of ['shared-rows', 'direct', 'tiled'] as E.MatmulVariant[]) {
  check(`matmul forward (${variant}), every transpose, odd and tile-edge sizes`, async () => {
    const skip = variant === 'shared-rows' ? sharedRowsUnsupported() : undefined;
    if (skip) return skip;
    for (const [m, n, k] of [[1, 1, 1], [7, 13, 29], [65, 33, 17], [25, 129, 36]]) {
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        const a = rand(m * k, 11);
        const b = rand(k * n, 12);
        const y = await run((x, w) => E.matmul(x, w, { transA: ta, transB: tb, variant }), [{ data: a, shape: ta ? [k, m] : [m, k] }, { data: b, shape: tb ? [n, k] : [k, n] }]);
        expectClose(y, matmulRef(a, b, m, n, k, ta, tb), 1e-5, 2e-6 * (k + 1), `${variant} ${m}x${k}${ta ? 'T' : ''} by ${k}x${n}${tb ? 'T' : ''}`);
      }
    }
  });
}
check('matmul forward, batched with broadcasting', async () => {
  const [m, n, k] = [7, 29, 13];
  const a = rand(3 * m * k, 13);
  const b = rand(k * n, 14);
  const want = Array.from({ length: 3 }, (_, z) => [...matmulRef(a.subarray(z * m * k, (z + 1) * m * k), b, m, n, k, false, false)]).flat();
  expectClose(await run((x, w) => E.matmul(x, w), [{ data: a, shape: [3, m, k] }, { data: b, shape: [k, n] }]), want, 1e-5, 3e-5);
});

// ---- row ops: softmax, norms, cross-entropy, embedding ---------------------------------------

function rows(x: ArrayLike<number>, len: number, f: (row: number[]) => number[]): number[] {
  const out: number[] = [];
  for (let b = 0; b < x.length; b += len) out.push(...f(Array.from(x).slice(b, b + len)));
  return out;
}
const softmaxRow = (r: number[]) => {
  const m = Math.max(...r);
  const e = r.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
check('softmax and logSoftmax forward', async () => {
  for (const shape of [[7], [3, 7], [37, 129], [2, 3, 1031], [1, 4099]]) {
    const len = shape.at(-1)!;
    const x = rand(sizeOfShape(shape), 3, -4, 4);
    expectClose(await run(E.softmax, [{ data: x, shape }]), rows(x, len, softmaxRow), 1e-5, 1e-7, `softmax ${shape}`);
    expectClose(await run(E.logSoftmax, [{ data: x, shape }]), rows(x, len, (r) => softmaxRow(r).map(Math.log)), 1e-5, 1e-5, `logSoftmax ${shape}`);
  }
});
check('rmsNorm and layerNorm forward', async () => {
  for (const shape of [[1, 1], [37, 129], [3, 1031]]) {
    const len = shape.at(-1)!;
    const x = rand(sizeOfShape(shape), 4, -2, 3);
    const w = rand(len, 5, 0.5, 1.5);
    const b = rand(len, 6);
    const rms = rows(x, len, (r) => {
      const s = 1 / Math.sqrt(r.reduce((a, v) => a + v * v, 0) / len + 1e-6);
      return r.map((v, i) => v * s * w[i]);
    });
    const ln = rows(x, len, (r) => {
      const mu = r.reduce((a, v) => a + v, 0) / len;
      const s = 1 / Math.sqrt(r.reduce((a, v) => a + (v - mu) ** 2, 0) / len + 1e-5);
      return r.map((v, i) => (v - mu) * s * w[i] + b[i]);
    });
    expectClose(await run((t, g) => E.rmsNorm(t, g), [{ data: x, shape }, { data: w, shape: [len] }]), rms, 1e-5, 1e-5, `rmsNorm ${shape}`);
    expectClose(await run((t, g, c) => E.layerNorm(t, g, c), [{ data: x, shape }, { data: w, shape: [len] }, { data: b, shape: [len] }]), ln, 1e-4, 1e-5, `layerNorm ${shape}`);
  }
});
check('crossEntropy forward (mean over rows not ignored)', async () => {
  const [n, c] = [37, 131];
  const logits = rand(n * c, 8, -5, 5);
  const targets = Array.from({ length: n }, (_, i) => (i % 5 === 4 ? -100 : (i * 7) % c));
  let sum = 0;
  let count = 0;
  targets.forEach((t, i) => {
    if (t === -100) return;
    const row = Array.from(logits.subarray(i * c, (i + 1) * c));
    sum -= Math.log(softmaxRow(row)[t]);
    count += 1;
  });
  const y = await run((l) => E.crossEntropy(l, E.tensor(targets, [n], 'i32')), [{ data: logits, shape: [n, c] }]);
  expectClose(y, [sum / count], 1e-5, 1e-6, 'crossEntropy');
});
check('embedding forward', async () => {
  const [v, d] = [11, 13];
  const table = rand(v * d, 9);
  const ids = [3, 0, 10, 3, 7, 7, 1, 2, 9, 4, 5, 6, 8, 0, 10];
  const y = await run((t) => E.embedding(t, E.tensor(ids, [3, 5], 'i32')), [{ data: table, shape: [v, d] }]);
  expectClose(y, ids.flatMap((i) => Array.from(table.subarray(i * d, (i + 1) * d))), 0, 0, 'embedding');
});

// ---- attention --------------------------------------------------------------------------------

check('attention forward with bias, padding mask and causal mask', async () => {
  const [B, H, L, Dh] = [2, 3, 11, 6];
  const q = rand(B * H * L * Dh, 21);
  const k = rand(B * H * L * Dh, 22);
  const v = rand(B * H * L * Dh, 23);
  const bias = rand(H * L * L, 24);
  const mask = Array.from({ length: B * L }, (_, i) => (i >= L && i % L >= L - 3 ? 0 : 1));
  const want: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const at = (x: Float64Array, t: number) => x.subarray(((b * H + h) * L + t) * Dh, ((b * H + h) * L + t + 1) * Dh);
      for (let i = 0; i < L; i++) {
        const scores = Array.from({ length: L }, (_, j) =>
          j > i || mask[b * L + j] === 0 ? -Infinity : at(q, i).reduce((s, x, e) => s + x * at(k, j)[e], 0) + bias[(h * L + i) * L + j],
        );
        const m = Math.max(...scores);
        const p = scores.map((s) => (s === -Infinity ? 0 : Math.exp(s - m)));
        const z = p.reduce((a, x) => a + x, 0);
        for (let e = 0; e < Dh; e++) want.push(z === 0 ? 0 : p.reduce((s, pj, j) => s + (pj / z) * at(v, j)[e], 0));
      }
    }
  }
  const shape = [B, H, L, Dh];
  const y = await run((a, b, c, d) => E.attention(a, b, c, { bias: d, keyPaddingMask: E.tensor(mask, [B, L]), causal: true }), [
    { data: q, shape },
    { data: k, shape },
    { data: v, shape },
    { data: bias, shape: [H, L, L] },
  ]);
  expectClose(y, want, 1e-4, 1e-5, 'attention');
});

// ---- training kernels: dropout, AdamW with clipping ------------------------------------------

check('dropout zeroes about p and scales the rest by 1/(1-p)', async () => {
  const n = 20000;
  const y = await run((x) => E.dropout(x, 0.25, 7), [{ data: new Float64Array(n).fill(1), shape: [n] }]);
  const zeros = y.filter((v) => v === 0).length;
  if (Math.abs(zeros / n - 0.25) > 0.02) throw new Error(`dropout zeroed ${zeros} of ${n}, want about 25%`);
  expectClose(y.filter((v) => v !== 0), new Array(n - zeros).fill(1 / 0.75), 1e-6, 0, 'dropout kept values');
});
check('AdamW step with gradient clipping', async () => {
  const shapes = [[7], [3, 5]];
  const w0 = shapes.map((s, i) => rand(sizeOfShape(s), 30 + i));
  const g = shapes.map((s, i) => rand(sizeOfShape(s), 40 + i, -3, 3));
  const params = w0.map((d, i) => E.param(E.tensor(d, shapes[i])));
  const opt = new AdamW(params, { weightDecay: 0.1, maxGradNorm: 1 });
  params.forEach((p, i) => (p.grad = E.tensor(g[i], shapes[i])));
  const lr = 0.01;
  opt.step(lr);
  const norm = Math.sqrt(g.reduce((a, x) => a + x.reduce((b, y) => b + y * y, 0), 0));
  const clip = Math.min(1, 1 / (norm + 1e-6));
  for (let i = 0; i < params.length; i++) {
    // First step: m and v are bias-corrected to g and g^2, so the update is lr * g / (|g| + eps).
    const want = Array.from(w0[i], (w, j) => {
      const gj = g[i][j] * clip;
      return w - lr * 0.1 * w - (lr * gj) / (Math.abs(gj) + 1e-8);
    });
    expectClose(await params[i].toArray(), want, 1e-5, 1e-6, `param ${i}`);
  }
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

async function runAll(): Promise<KernelCheckReport> {
  let adapter = '';
  try {
    adapter = E.describeAdapter((await setupEngine()).adapter);
  } catch (e) {
    return { adapter, passed: 0, failed: 0, skipped: 0, results: [], error: `${(e as Error).name}: ${(e as Error).message}` };
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
  return { adapter, passed: results.length - failed - skipped, failed, skipped, results };
}

const report = await runAll();
(window as unknown as { kernelCheck: KernelCheckReport }).kernelCheck = report;
document.getElementById('summary')!.textContent = report.error ?? `${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped on ${report.adapter}`;
document.getElementById('results')!.replaceChildren(
  ...report.results.map((r) => {
    const tr = document.createElement('tr');
    for (const text of [r.skipped ? 'skipped' : r.ok ? '✓' : '✗', r.name, `${r.ms} ms`, r.error ?? r.skipped ?? '']) tr.insertCell().textContent = text;
    tr.className = r.ok ? 'correct' : 'wrong';
    return tr;
  }),
);
document.getElementById('report')!.textContent = JSON.stringify(report, null, 2);
