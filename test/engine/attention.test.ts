import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { attention, attentionUnfused, packedAttention, type AttentionOptions, type AttentionPath } from '../../engine/ops/attention/index.ts';
import * as R from '../../reference/attention.ts';
import { checkGradients, expectClose, rand, setupEngine, sizeOfShape } from '../helpers.ts';

beforeAll(setupEngine);

type BiasKind = 'none' | 'shared3' | 'shared4' | 'batched';

interface Case {
  B: number;
  H: number;
  Lq: number;
  Lk: number;
  Dh: number;
  bias?: BiasKind;
  mask?: boolean;
  causal?: boolean;
  scale?: number;
  /** Run the op on [B, L, H, Dh] tensors (the data and results here stay [B, H, L, Dh]). */
  headsLast?: boolean;
  /** Which implementation (default: the adapter's choice). */
  path?: AttentionPath;
}

// Every case runs on every implementation, whichever this adapter would pick: forced through the
// adapter profile (the backward runs on the path its forward took).
const PATHS: AttentionPath[] = ['fused', 'subgroups', 'materialized'];
const onPath = <T>(path: AttentionPath | undefined, fn: () => T): T => E.withAdapterProfile({ attention: { path: path ?? 'auto' } }, fn);

function biasShapeOf(c: Case): number[] | null {
  const tail = [c.H, c.Lq, c.Lk];
  switch (c.bias ?? 'none') {
    case 'shared3':
      return tail;
    case 'shared4':
      return [1, ...tail];
    case 'batched':
      return [c.B, ...tail];
    default:
      return null;
  }
}

// Padding masks with a pattern per batch: batch 0 keeps everything, batch 1 pads the tail,
// batch 2 pads the head (so with a causal mask its first queries see no key at all).
function maskFor(c: Case): Float64Array {
  const m = new Float64Array(c.B * c.Lk).fill(1);
  for (let b = 1; b < c.B; b++) {
    const padded = Math.floor(c.Lk / 3) + 1;
    for (let t = 0; t < Math.min(padded, c.Lk - 1); t++) m[b * c.Lk + (b === 1 ? c.Lk - 1 - t : t)] = 0;
  }
  return m;
}

function makeData(c: Case, seed: number): R.AttentionData {
  const biasShape = biasShapeOf(c);
  return {
    q: rand(c.B * c.H * c.Lq * c.Dh, seed),
    k: rand(c.B * c.H * c.Lk * c.Dh, seed + 1),
    v: rand(c.B * c.H * c.Lk * c.Dh, seed + 2),
    bias: biasShape ? rand(sizeOfShape(biasShape), seed + 3) : null,
    biasShape,
    mask: c.mask ? maskFor(c) : null,
    dout: rand(c.B * c.H * c.Lq * c.Dh, seed + 4),
  };
}

function optionsFor(c: Case, bias: E.Tensor | undefined, mask: E.Tensor | undefined): AttentionOptions {
  return { bias, keyPaddingMask: mask, causal: c.causal, scale: c.scale, headsLast: c.headsLast };
}

/** The shape of q (L = Lq) or k and v (L = Lk) in the layout the op runs on. */
const opShape = (c: Case, L: number) => (c.headsLast ? [c.B, L, c.H, c.Dh] : [c.B, c.H, L, c.Dh]);

/** Swaps the middle two axes of a row-major [A, M, N, D] array: [B,H,L,Dh] <-> [B,L,H,Dh]. */
function swapMiddle(x: ArrayLike<number>, [A, M, N, D]: number[]): Float64Array {
  const out = new Float64Array(x.length);
  for (let a = 0; a < A; a++) for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) for (let t = 0; t < D; t++) {
    out[((a * N + n) * M + m) * D + t] = x[((a * M + m) * N + n) * D + t];
  }
  return out;
}

/** Runs the fused op forward and backward (seeded with dout); returns everything read back. */
async function runFused(c: Case, d: R.AttentionData, maskDtype: E.DType = 'f32') {
  const [qShape, kShape] = [[c.B, c.H, c.Lq, c.Dh], [c.B, c.H, c.Lk, c.Dh]];
  // to the op's layout and back
  const to = (x: Float64Array, shape: number[]) => (c.headsLast ? E.tensor(swapMiddle(x, shape), [shape[0], shape[2], shape[1], shape[3]]) : E.tensor(x, shape));
  const back = async (t: E.Tensor, shape: number[]) => {
    const x = await t.toArray();
    return c.headsLast ? swapMiddle(x, [shape[0], shape[2], shape[1], shape[3]]) : x;
  };
  const q = E.param(to(d.q, qShape));
  const k = E.param(to(d.k, kShape));
  const v = E.param(to(d.v, kShape));
  const bias = d.bias ? E.param(E.tensor(d.bias, d.biasShape!)) : undefined;
  const mask = d.mask ? E.tensor(d.mask, [c.B, c.Lk], maskDtype) : undefined;
  const y = E.tidy(() => {
    const y = onPath(c.path, () => attention(q, k, v, optionsFor(c, bias, mask)));
    E.backward(y, to(d.dout, qShape));
    return y;
  });
  const res = {
    out: await back(y, qShape),
    dq: await back(q.grad!, qShape),
    dk: await back(k.grad!, kShape),
    dv: await back(v.grad!, kShape),
    dbias: bias ? await bias.grad!.toArray() : null,
  };
  E.dispose([y, q, k, v, bias, mask, q.grad, k.grad, v.grad, bias?.grad]);
  return res;
}

function compare(got: Awaited<ReturnType<typeof runFused>>, want: ReturnType<typeof R.attention>, what: string) {
  expectClose(got.out, want.out, 1e-4, 2e-6, `${what} out`);
  expectClose(got.dq, want.dq, 1e-4, 1e-5, `${what} dq`);
  expectClose(got.dk, want.dk, 1e-4, 1e-5, `${what} dk`);
  expectClose(got.dv, want.dv, 1e-4, 1e-5, `${what} dv`);
  if (want.dbias) expectClose(got.dbias!, want.dbias, 1e-4, 1e-5, `${what} dbias`);
}

const name = (c: Case) =>
  `B${c.B} H${c.H} Lq${c.Lq} Lk${c.Lk} Dh${c.Dh}` +
  `${c.bias && c.bias !== 'none' ? ` bias:${c.bias}` : ''}${c.mask ? ' mask' : ''}${c.causal ? ' causal' : ''}${c.scale ? ` scale ${c.scale.toFixed(3)}` : ''}${c.headsLast ? ' heads last' : ''}${c.path ? ` (${c.path})` : ''}`;

const CASES: Case[] = [
  { B: 1, H: 1, Lq: 1, Lk: 1, Dh: 4 },
  { B: 2, H: 3, Lq: 5, Lk: 5, Dh: 8, causal: true },
  { B: 3, H: 2, Lq: 13, Lk: 13, Dh: 12, bias: 'shared3', mask: true },
  { B: 3, H: 2, Lq: 13, Lk: 13, Dh: 8, bias: 'shared4', mask: true, causal: true },
  { B: 2, H: 3, Lq: 5, Lk: 33, Dh: 12, bias: 'batched', mask: true, scale: 1 / Math.sqrt(12) },
  { B: 3, H: 1, Lq: 33, Lk: 13, Dh: 4, bias: 'shared3', causal: true },
  { B: 1, H: 3, Lq: 70, Lk: 67, Dh: 16, bias: 'shared3', mask: true },
  { B: 2, H: 2, Lq: 67, Lk: 70, Dh: 64, bias: 'batched', causal: true, scale: 0.125 },
  // Fewer than 8 query rows and more than 32 keys: the forward splits the keys into chunks.
  { B: 3, H: 2, Lq: 1, Lk: 33, Dh: 8, bias: 'shared3', mask: true, causal: true },
  { B: 2, H: 3, Lq: 3, Lk: 100, Dh: 12, bias: 'batched', mask: true, causal: true },
  { B: 1, H: 1, Lq: 7, Lk: 200, Dh: 64, bias: 'shared4', mask: true },
  // A shared bias's gradient: summed over the batch in backward_q (subgroups, up to 256 keys),
  // and past that stored per batch and reduced.
  { B: 3, H: 2, Lq: 9, Lk: 250, Dh: 8, bias: 'shared3', mask: true, causal: true },
  { B: 2, H: 2, Lq: 9, Lk: 261, Dh: 8, bias: 'shared4', mask: true, causal: true },
  // [B, L, H, Dh]: every entry point with the other strides, the split path included
  { B: 3, H: 2, Lq: 13, Lk: 13, Dh: 8, bias: 'shared4', mask: true, causal: true, headsLast: true },
  { B: 2, H: 3, Lq: 5, Lk: 33, Dh: 12, bias: 'batched', mask: true, scale: 0.3, headsLast: true },
  { B: 1, H: 3, Lq: 70, Lk: 67, Dh: 16, bias: 'shared3', mask: true, headsLast: true },
  { B: 2, H: 3, Lq: 3, Lk: 100, Dh: 12, bias: 'batched', mask: true, causal: true, headsLast: true },
];

describe.each(PATHS)('attention forward and backward vs float64 (%s)', (path) => {
  for (const [n, base] of CASES.entries()) {
    const c = { ...base, path };
    it(name(c), async () => {
      const d = makeData(c, 10 * n + 1);
      compare(await runFused(c, d), R.attention(c, d), name(c));
    });
  }

  it('head sizes that are not a multiple of 4 (padded to vec4)', async () => {
    for (const [Dh, headsLast] of [[1, false], [5, true], [7, false]] as const) {
      const c: Case = { B: 2, H: 2, Lq: 5, Lk: 13, Dh, bias: 'shared3', mask: true, causal: true, headsLast, path };
      const d = makeData(c, Dh);
      compare(await runFused(c, d), R.attention(c, d), name(c));
    }
  });

  it('empty query or key axes give zeros', async () => {
    for (const [Lq, Lk] of [
      [3, 0],
      [0, 5],
    ]) {
      const c: Case = { B: 2, H: 2, Lq, Lk, Dh: 4, bias: 'shared3', mask: true, causal: true, path };
      const d = makeData(c, 1);
      compare(await runFused(c, d), R.attention(c, d), name(c));
    }
  });

  it('accepts i32 masks like f32 ones', async () => {
    const c: Case = { B: 3, H: 2, Lq: 5, Lk: 13, Dh: 8, mask: true, path };
    const d = makeData(c, 5);
    compare(await runFused(c, d, 'i32'), R.attention(c, d), `${name(c)} i32 mask`);
  });
});

describe.each(PATHS)('a KV cache filled up to kvLength (%s)', (path) => {
  // The cache holds `capacity` key rows per (batch, head); the rows from kvLength on are stale
  // (here: large values) and must not be seen. One query row (a decode step) and nine.
  it('reads the first kvLength keys only', async () => {
    for (const [Lq, headsLast] of [[1, true], [9, false], [9, true]] as const) {
      const capacity = 20;
      const c: Case = { B: 2, H: 3, Lq, Lk: 13, Dh: 8, bias: 'shared3', mask: true, causal: true, headsLast, path };
      const d = makeData(c, 40 + Lq);
      // [B, H, capacity, Dh] with the data in the first Lk rows, then to the op's layout
      const cache = (x: Float64Array) => {
        const full = new Float64Array(c.B * c.H * capacity * c.Dh).fill(1e3);
        for (let bh = 0; bh < c.B * c.H; bh++) full.set(x.subarray(bh * c.Lk * c.Dh, (bh + 1) * c.Lk * c.Dh), bh * capacity * c.Dh);
        const shape = [c.B, c.H, capacity, c.Dh];
        return headsLast ? E.tensor(swapMiddle(full, shape), [c.B, capacity, c.H, c.Dh]) : E.tensor(full, shape);
      };
      const qShape = [c.B, c.H, Lq, c.Dh];
      const q = headsLast ? E.tensor(swapMiddle(d.q, qShape), [c.B, Lq, c.H, c.Dh]) : E.tensor(d.q, qShape);
      const [k, v] = [cache(d.k), cache(d.v)];
      const bias = E.tensor(d.bias!, d.biasShape!);
      const mask = E.tensor(d.mask!, [c.B, c.Lk]);
      const y = onPath(c.path, () => attention(q, k, v, { ...optionsFor(c, bias, mask), kvLength: c.Lk }));
      const got = await y.toArray();
      expectClose(headsLast ? swapMiddle(got, [c.B, Lq, c.H, c.Dh]) : got, R.attention(c, d).out, 1e-4, 2e-6, `${name(c)} kvLength ${c.Lk} of ${capacity}`);
      E.dispose([q, k, v, bias, mask, y]);
    }
  });
});

describe.each(PATHS)('fully masked rows (%s)', (path) => {
  // Batch 1 pads every key. With causal and Lq > Lk, query rows 0..2 (of every batch) see no key
  // either; the second shape takes the split-key path.
  for (const [Lq, Lk, emptyRows] of [
    [7, 4, 3],
    [3, 70, 0],
  ]) {
    it(`give zero output and zero gradients, not NaN (Lq ${Lq}, Lk ${Lk})`, async () => {
      const c: Case = { B: 2, H: 2, Lq, Lk, Dh: 8, bias: 'shared3', causal: true, mask: true, path };
      const d = makeData(c, 3);
      d.mask!.fill(1, 0, Lk).fill(0, Lk, 2 * Lk);
      const got = await runFused(c, d);
      compare(got, R.attention(c, d), 'fully masked');
      const allZero = (a: ArrayLike<number>) => Array.from(a).every((x) => x === 0);
      for (const a of [got.out, got.dq, got.dk, got.dv]) expect(allZero(a.slice(a.length / 2))).toBe(true);
      for (let h = 0; h < c.H; h++) {
        const at = h * Lq * c.Dh;
        expect(allZero(got.out.slice(at, at + emptyRows * c.Dh))).toBe(true);
        expect(allZero(got.dq.slice(at, at + emptyRows * c.Dh))).toBe(true);
        // these rows of the shared bias see no key in any batch
        expect(allZero(got.dbias!.slice(h * Lq * Lk, h * Lq * Lk + emptyRows * Lk))).toBe(true);
      }
    });
  }
});

describe('decode step against a KV cache', () => {
  // The step takes the split-key path (3 chunks of keys), the full attention the row-per-query one
  // (forced: the adapter profile would pick another path for it, whose different summation order
  // the tight tolerance here is not meant for).
  it('one query with causal=true sees every key and matches the last row of full causal attention', async () => {
    const full: Case = { B: 2, H: 3, Lq: 70, Lk: 70, Dh: 12, bias: 'shared3', mask: true, causal: true };
    const d = makeData(full, 77);
    const [B, H, L, Dh] = [full.B, full.H, full.Lq, full.Dh];
    const bias = E.tensor(d.bias!, d.biasShape!);
    const mask = E.tensor(d.mask!, [B, L]);
    const q = E.tensor(d.q, [B, H, L, Dh]);
    const k = E.tensor(d.k, [B, H, L, Dh]);
    const v = E.tensor(d.v, [B, H, L, Dh]);
    const [whole, step] = E.tidy(() => [
      onPath('fused', () => attention(q, k, v, { bias, keyPaddingMask: mask, causal: true })),
      attention(E.slice(q, 2, L - 1, L), k, v, { bias: E.slice(bias, 1, L - 1, L), keyPaddingMask: mask, causal: true }),
    ]);
    const last = await E.tidy(() => E.slice(whole, 2, L - 1, L)).toArray();
    expectClose(await step.toArray(), last, 1e-6, 1e-7, 'decode step');
    E.dispose([bias, mask, q, k, v, whole, step]);
  });
});

describe.each(PATHS)('gradients vs finite differences (%s)', (path) => {
  const FD: Case[] = [
    { B: 2, H: 2, Lq: 3, Lk: 5, Dh: 4, bias: 'shared3', mask: true, causal: true },
    { B: 2, H: 1, Lq: 5, Lk: 3, Dh: 8, bias: 'batched', causal: true, scale: 0.5 },
    { B: 1, H: 2, Lq: 1, Lk: 5, Dh: 5, bias: 'shared4', mask: true },
    { B: 2, H: 3, Lq: 3, Lk: 4, Dh: 4, bias: 'shared3', mask: true, causal: true, headsLast: true },
  ];
  for (const base of FD) {
    const c = { ...base, path };
    it(name(c), async () => {
      const d = makeData(c, 5);
      const mask = d.mask ? E.tensor(d.mask, [c.B, c.Lk]) : undefined;
      const inputs = [
        { data: d.q, shape: opShape(c, c.Lq) },
        { data: d.k, shape: opShape(c, c.Lk) },
        { data: d.v, shape: opShape(c, c.Lk) },
        { data: d.bias!, shape: d.biasShape! },
      ];
      await checkGradients((q, k, v, bias) => onPath(c.path, () => attention(q, k, v, optionsFor(c, bias, mask))), inputs);
      mask?.dispose();
    });
  }

  it('one tensor as q, k and v: its gradient sums all three', async () => {
    const c: Case = { B: 2, H: 2, Lq: 4, Lk: 4, Dh: 4 };
    await checkGradients((x) => onPath(path, () => attention(x, x, x, { causal: true })), [{ data: rand(c.B * c.H * c.Lq * c.Dh, 21), shape: [c.B, c.H, c.Lq, c.Dh] }]);
  });

  // As a parameter (its gradient sums in .grad) and computed, as T5's position bias is (a
  // running sum): where the bias gradient is a sum over the batch (subgroups, materialized), the
  // second attention's backward adds the first's into that sum, and no add is recorded.
  for (const computed of [false, true]) {
    it(`a bias shared by two attention calls accumulates both gradients${computed ? ' (a computed bias)' : ''}`, async () => {
      const c: Case = { B: 2, H: 2, Lq: 3, Lk: 4, Dh: 4, bias: 'shared3' };
      const d = makeData(c, 9);
      const q2 = E.tensor(rand(c.B * c.H * c.Lq * c.Dh, 123), [c.B, c.H, c.Lq, c.Dh]);
      const f = (q: E.Tensor, k: E.Tensor, v: E.Tensor, b: E.Tensor) => {
        const bias = computed ? E.mulScalar(b, 1.5) : b;
        return onPath(path, () => E.add(attention(q, k, v, { bias }), attention(q2, k, v, { bias, causal: true })));
      };
      const inputs = [
        { data: d.q, shape: [c.B, c.H, c.Lq, c.Dh] },
        { data: d.k, shape: [c.B, c.H, c.Lk, c.Dh] },
        { data: d.v, shape: [c.B, c.H, c.Lk, c.Dh] },
        { data: d.bias!, shape: d.biasShape! },
      ];
      await checkGradients(f, inputs);
      const xs = inputs.map((x) => E.param(E.tensor(x.data, x.shape)));
      const e = E.engine();
      E.tidy(() => {
        const out = E.sum(f(xs[0], xs[1], xs[2], xs[3]));
        e.startProfile();
        E.backward(out);
      });
      const records = (await e.stopProfile()).records;
      const adds = records.filter((r) => r.label.startsWith(`add ${E.fmtShape(d.biasShape!)}`));
      expect(adds).toHaveLength(path === 'fused' ? 1 : 0);
      // The subgroups path sums the batch in backward_q itself: no reduce pass.
      if (path === 'subgroups') expect(records.filter((r) => r.kernel.startsWith('reduce'))).toHaveLength(0);
      E.dispose([q2, ...xs.flatMap((x) => [x, x.grad])]);
    });
  }
});

describe.each(PATHS)('attention vs the unfused GPU composition (%s)', (path) => {
  const cases: Case[] = [
    { B: 3, H: 2, Lq: 13, Lk: 13, Dh: 8, bias: 'shared4', mask: true, causal: true, scale: 0.7 },
    { B: 2, H: 3, Lq: 7, Lk: 4, Dh: 12, bias: 'batched', mask: true, causal: true },
    { B: 2, H: 1, Lq: 5, Lk: 33, Dh: 4 },
    { B: 2, H: 3, Lq: 7, Lk: 9, Dh: 8, bias: 'shared3', mask: true, causal: true, headsLast: true },
  ];
  for (const base of cases) {
    const c = { ...base, path };
    it(`agrees in output and all gradients: ${name(c)}`, async () => {
      const d = makeData(c, 31);
      const results: Float32Array[][] = [];
      for (const op of [attention, attentionUnfused]) {
        const q = E.param(E.tensor(d.q, opShape(c, c.Lq)));
        const k = E.param(E.tensor(d.k, opShape(c, c.Lk)));
        const v = E.param(E.tensor(d.v, opShape(c, c.Lk)));
        const bias = d.bias ? E.param(E.tensor(d.bias, d.biasShape!)) : undefined;
        const mask = d.mask ? E.tensor(d.mask, [c.B, c.Lk]) : undefined;
        const y = E.tidy(() => {
          const y = onPath(c.path, () => op(q, k, v, optionsFor(c, bias, mask)));
          E.backward(y, E.tensor(d.dout, y.shape));
          return y;
        });
        const got: Float32Array[] = [];
        for (const t of [y, q.grad!, k.grad!, v.grad!, ...(bias ? [bias.grad!] : [])]) got.push((await t.toArray()) as Float32Array);
        results.push(got);
        E.dispose([y, q, k, v, bias, mask, q.grad, k.grad, v.grad, bias?.grad]);
      }
      results[0].forEach((fused, i) => expectClose(fused, results[1][i], 1e-4, 1e-5, ['out', 'dq', 'dk', 'dv', 'dbias'][i]));
    });
  }
});

/** [B, H, L, Dh] arrays side by side as one packed projection [B, L, n, H, Dh], and back. */
function pack(parts: ArrayLike<number>[], [B, H, L, D]: number[]): Float64Array {
  const n = parts.length;
  const out = new Float64Array(n * B * H * L * D);
  parts.forEach((x, p) => {
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let l = 0; l < L; l++) for (let t = 0; t < D; t++) {
      out[(((b * L + l) * n + p) * H + h) * D + t] = x[((b * H + h) * L + l) * D + t];
    }
  });
  return out;
}
function unpack(x: ArrayLike<number>, n: number, [B, H, L, D]: number[]): Float64Array[] {
  return Array.from({ length: n }, (_, p) => {
    const out = new Float64Array(B * H * L * D);
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let l = 0; l < L; l++) for (let t = 0; t < D; t++) {
      out[((b * H + h) * L + l) * D + t] = x[(((b * L + l) * n + p) * H + h) * D + t];
    }
    return out;
  });
}

describe.each(PATHS)('packed projections (%s)', (path) => {
  // Self-attention reads q, k and v from one [B, L, 3, H, Dh] tensor, attention to another
  // sequence k and v from one [B, Lk, 2, H, Dh]; both must give what attention() gives on the
  // separate tensors, and gradients for every block (the materialized path multiplies the blocks
  // in place and writes dq, dk and dv into one gradient tensor).
  const cases: Case[] = [
    { B: 3, H: 2, Lq: 13, Lk: 13, Dh: 8, bias: 'shared3', mask: true, causal: true },
    { B: 2, H: 3, Lq: 7, Lk: 7, Dh: 12, mask: true, scale: 0.5 },
    { B: 2, H: 3, Lq: 5, Lk: 9, Dh: 12, mask: true },
    { B: 1, H: 2, Lq: 9, Lk: 4, Dh: 5, bias: 'batched' },
  ];
  for (const base of cases) {
    const c: Case = { ...base, headsLast: true, path };
    const self = c.Lq === c.Lk;
    it(`${self ? 'qkv' : 'q and kv'}: matches float64 in output and gradients, ${name(c)}`, async () => {
      const d = makeData(c, 41);
      const want = R.attention(c, d);
      const [qShape, kShape] = [[c.B, c.H, c.Lq, c.Dh], [c.B, c.H, c.Lk, c.Dh]];
      const packed = E.param(self ? E.tensor(pack([d.q, d.k, d.v], qShape), [c.B, c.Lq, 3, c.H, c.Dh]) : E.tensor(pack([d.k, d.v], kShape), [c.B, c.Lk, 2, c.H, c.Dh]));
      const q = self ? null : E.param(E.tensor(pack([d.q], qShape), [c.B, c.Lq, c.H, c.Dh]));
      const bias = d.bias ? E.param(E.tensor(d.bias, d.biasShape!)) : undefined;
      const mask = d.mask ? E.tensor(d.mask, [c.B, c.Lk]) : undefined;
      const opts = { bias, keyPaddingMask: mask, causal: c.causal, scale: c.scale };
      const y = E.tidy(() => {
        const y = onPath(path, () => packedAttention(q ? { q, kv: packed } : { qkv: packed }, opts));
        E.backward(y, E.tensor(pack([d.dout], qShape), y.shape));
        return y;
      });
      const grads = unpack(await packed.grad!.toArray(), self ? 3 : 2, self ? qShape : kShape);
      const [dq, dk, dv] = self ? grads : [unpack(await q!.grad!.toArray(), 1, qShape)[0], ...grads];
      compare({ out: unpack(await y.toArray(), 1, qShape)[0], dq, dk, dv, dbias: bias ? await bias.grad!.toArray() : null }, want, name(c));
      E.dispose([y, packed, q, bias, mask, packed.grad, q?.grad, bias?.grad]);
    });
  }

  it('finite differences through qkv, and through q and kv', async () => {
    const c: Case = { B: 2, H: 2, Lq: 3, Lk: 3, Dh: 4, bias: 'shared3', mask: true, causal: true };
    const d = makeData(c, 5);
    const mask = E.tensor(d.mask!, [c.B, c.Lk]);
    await checkGradients((qkv, bias) => onPath(path, () => packedAttention({ qkv }, { bias, keyPaddingMask: mask, causal: true })), [
      { data: rand(c.B * c.Lq * 3 * c.H * c.Dh, 7), shape: [c.B, c.Lq, 3, c.H, c.Dh] },
      { data: d.bias!, shape: d.biasShape! },
    ]);
    await checkGradients((q, kv) => onPath(path, () => packedAttention({ q, kv }, { keyPaddingMask: mask })), [
      { data: rand(c.B * 2 * c.H * c.Dh, 8), shape: [c.B, 2, c.H, c.Dh] },
      { data: rand(c.B * c.Lk * 2 * c.H * c.Dh, 9), shape: [c.B, c.Lk, 2, c.H, c.Dh] },
    ]);
    mask.dispose();
  });

  it('names the op and the shape when the packed tensor is not [B, L, blocks, H, Dh]', () => {
    const t = E.zeros([2, 3, 2, 2, 4]);
    expect(() => onPath(path, () => packedAttention({ qkv: t }))).toThrow(/packedAttention: qkv \[2,3,2,2,4\] must be \[B, L, 3, H, Dh\]/);
    t.dispose();
  });
});

describe('attention errors', () => {
  const t = (shape: number[], dtype: E.DType = 'f32') => E.zeros(shape, dtype);
  const cases: [string, () => unknown, RegExp][] = [
    ['rank', () => attention(t([2, 5, 8]), t([2, 5, 8]), t([2, 5, 8])), /attention: q \[2,5,8\], k \[2,5,8\], v \[2,5,8\]: q, k and v must be \[B, H, L, Dh\]/],
    ['k vs v', () => attention(t([1, 2, 3, 4]), t([1, 2, 5, 4]), t([1, 2, 6, 4])), /attention: q \[1,2,3,4\], k \[1,2,5,4\], v \[1,2,6,4\]: k and v must have the same shape/],
    ['batch', () => attention(t([2, 2, 3, 4]), t([1, 2, 5, 4]), t([1, 2, 5, 4])), /q and k must agree in batch and heads/],
    ['heads', () => attention(t([1, 3, 3, 4]), t([1, 2, 5, 4]), t([1, 2, 5, 4])), /q and k must agree in batch and heads/],
    ['head size', () => attention(t([1, 2, 3, 8]), t([1, 2, 5, 4]), t([1, 2, 5, 4])), /q and k must have the same head size/],
    ['too big', () => attention(t([1, 1, 3, 68]), t([1, 1, 3, 68]), t([1, 1, 3, 68])), /head size Dh must be 1..64/],
    ['dtype', () => attention(t([1, 1, 3, 4], 'i32'), t([1, 1, 3, 4]), t([1, 1, 3, 4])), /q must be f32, got i32/],
    [
      'bias',
      () => attention(t([2, 2, 3, 4]), t([2, 2, 5, 4]), t([2, 2, 5, 4]), { bias: t([2, 3, 3]) }),
      /attention: q \[2,2,3,4\], k \[2,2,5,4\], v \[2,2,5,4\], bias \[2,3,3\]: bias must be \[H, Lq, Lk\] = \[2,3,5\]/,
    ],
    ['bias batch', () => attention(t([2, 2, 3, 4]), t([2, 2, 5, 4]), t([2, 2, 5, 4]), { bias: t([3, 2, 3, 5]) }), /bias \[3,2,3,5\]: bias must be/],
    [
      'mask',
      () => attention(t([2, 2, 3, 4]), t([2, 2, 5, 4]), t([2, 2, 5, 4]), { keyPaddingMask: t([2, 3]) }),
      /keyPaddingMask \[2,3\]: keyPaddingMask must be \[B, Lk\] = \[2,5\]/,
    ],
  ];
  for (const [what, f, re] of cases) {
    it(`rejects a bad ${what}`, () => {
      expect(() => E.tidy(f)).toThrow(re);
    });
  }
});

