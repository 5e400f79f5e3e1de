import { beforeAll, describe, expect, it, vi } from 'vitest';
import * as E from '../../engine/index.ts';
import { Kernel } from '../../engine/kernel.ts';
import { formatTiles, gemm, matmul, matmulTiling, parseTiles, type MatmulVariant, type TileConfig } from '../../engine/ops/matmul.ts';
import * as R from '../../reference/matmul.ts';
import { checkGradients, expectClose, rand, setupEngine, sizeOfShape } from '../helpers.ts';

beforeAll(setupEngine);

// Every kernel variant runs here, whatever this adapter would pick by itself: forced through the
// adapter profile, around the backward too.
const VARIANTS: MatmulVariant[] = ['shared-rows', 'direct', 'tiled'];
const onVariant = <T>(variant: MatmulVariant | undefined, fn: () => T): T => E.withAdapterProfile(variant ? { matmul: { variant } } : {}, fn);
/** The tiled kernel with `tiles` at every size. */
const withTiles = (tiles: TileConfig) => ({ matmul: { variant: 'tiled', tiles, largeTiles: tiles } }) as const;
const COMBOS: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

async function check(aShape: number[], bShape: number[], transA: boolean, transB: boolean, variant?: MatmulVariant, tiles?: TileConfig) {
  const a = rand(sizeOfShape(aShape), 11);
  const b = rand(sizeOfShape(bShape), 12);
  const y = E.withAdapterProfile(tiles ? withTiles(tiles) : variant ? { matmul: { variant } } : {}, () => E.tidy(() => matmul(E.tensor(a, aShape), E.tensor(b, bShape), { transA, transB })));
  const { shape, out } = R.matmul(a, aShape, b, bShape, transA, transB);
  const what = `${tiles ? `tiles ${formatTiles(tiles)}` : (variant ?? 'default')} ${JSON.stringify(aShape)}${transA ? 'T' : ''} x ${JSON.stringify(bShape)}${transB ? 'T' : ''}`;
  expect(y.shape, what).toEqual(shape);
  const k = transA ? aShape[aShape.length - 2] : aShape[aShape.length - 1];
  expectClose(await y.toArray(), out, 1e-5, 2e-6 * (k + 1), what);
  y.dispose();
}

/** Stored shapes of an M x K by K x N product under the transpose flags. */
function stored(m: number, n: number, k: number, transA: boolean, transB: boolean): [number[], number[]] {
  return [transA ? [k, m] : [m, k], transB ? [n, k] : [k, n]];
}

describe('matmul forward', () => {
  // Every pipeline is compiled on first use (about a second each on lavapipe), so the sizes are chosen
  // to cover each code path once rather than every size in every combination. [M, N, K]:
  // ones and primes (scalar loads), multiples of 4 (vec4 loads), and sizes just past the tile
  // edges of each variant: shared-rows 8/16/24 rows by 32/64/128 columns, direct 32 x 32,
  // tiled 64 x 64 with 32-deep k slices.
  const EVERY_COMBO: [number, number, number][] = [
    [1, 1, 1],
    [7, 13, 29],
    [12, 8, 20],
  ];
  const EDGES: [number, number, number][] = [
    [65, 33, 17],
    [25, 129, 36],
    [33, 68, 72],
  ];
  for (const variant of VARIANTS) {
    it(`${variant}: all four transpose combinations, odd and tile-edge sizes`, async () => {
      for (const [m, n, k] of EVERY_COMBO) {
        for (const [ta, tb] of COMBOS) await check(...stored(m, n, k, ta, tb), ta, tb, variant);
      }
      for (const [m, n, k] of EDGES) {
        for (const t of [false, true]) await check(...stored(m, n, k, t, t), t, t, variant);
      }
    });
    it(`${variant}: batches with broadcasting`, async () => {
      const cases: [number[], number[], boolean, boolean][] = [
        [[3, 7, 13], [13, 29], false, false], // folded into one [21, 13] product
        [[3, 7, 13], [3, 13, 29], false, false],
        [[7, 13], [3, 13, 29], false, false],
        [[2, 1, 13, 7], [1, 3, 29, 13], true, true],
        [[2, 3, 2, 7, 13], [3, 1, 13, 29], false, false],
      ];
      for (const [as, bs, ta, tb] of cases) await check(as, bs, ta, tb, variant);
    });
  }

  // The tiled kernel's other shapes, which bench/matmul.ts --tiles sweeps on a GPU: 8 x 8 per
  // invocation, shallow and deep k slices, interleaved column groups, non-square workgroups.
  // Small workgroups run the same code paths as the GPU-sized ones (16 x 16 of 8 x 8 took 85 s
  // here on lavapipe); [129, 136, 44] crosses several tile edges, has vec4 columns and a K that is
  // no multiple of BK.
  for (const text of ['4,4,8,8,8,1', '8,4,8,4,16', '4,8,4,8,4,1']) {
    it(`tiled with tiles ${text}: transposes, odd and tile-edge sizes, a batch`, async () => {
      const tiles = parseTiles(text);
      // Each transpose and vec4 combination is a pipeline to compile (seconds on lavapipe), and
      // the tile shape does not change how operands are read: a few combinations suffice.
      await check(...stored(7, 13, 29, true, false), true, false, 'tiled', tiles);
      for (const t of [false, true]) await check(...stored(129, 136, 44, t, t), t, t, 'tiled', tiles);
      await check([2, 9, 20], [2, 20, 12], false, false, 'tiled', tiles);
    });
  }
  it('refuses tile shapes the kernel or the device cannot run', () => {
    const tiling = (text: string) => E.withAdapterProfile(withTiles(parseTiles(text)), () => matmulTiling(64, 64));
    expect(() => tiling('16,16,6,4,32')).toThrow('TM must be 4 or 8');
    expect(() => tiling('64,64,4,4,32')).toThrow('invocations exceed');
    expect(() => tiling('16,16,8,8,256')).toThrow('bytes of workgroup memory exceed');
    expect(() => parseTiles('16,16,4')).toThrow('want WG_M,WG_N,TM,TN,BK');
  });

  it('the adapter default matches, and a large K stays accurate', async () => {
    await check([33, 1000], [1000, 9], false, false);
    await check([64, 64], [64, 64], true, true);
  });

  it('picks barrier-free kernels for software adapters, staged tiles for GPUs', () => {
    const { software, supports } = E.engine().adapterProfile;
    const chosen = matmulTiling(100, 100);
    if (software && supports.sharedRowsMatmul) expect(chosen.kernel.file).toBe('matmul_subgroups');
    else expect(chosen.constants.STAGE).toBe(software ? 0 : 1);
  });

  it('a variant forced through the adapter profile is the kernel that runs', () => {
    const kernel = (variant: MatmulVariant) => onVariant(variant, () => matmulTiling(100, 100));
    if (E.engine().adapterProfile.supports.sharedRowsMatmul) expect(kernel('shared-rows').kernel.file).toBe('matmul_subgroups');
    else expect(() => kernel('shared-rows')).toThrow('the shared-rows variant needs subgroups of at least 8 lanes');
    expect(kernel('direct').constants).toMatchObject({ STAGE: 0, BK: 4 });
    expect(kernel('tiled').constants).toMatchObject({ STAGE: 1, BK: 32 });
    // The large tiles from the profile's largeTilesFrom outputs on.
    expect(onVariant('tiled', () => matmulTiling(2048, 2048)).constants).toMatchObject({ STAGE: 1, BK: 16, SPLIT_N: 1 });
  });

  it('shared-rows: the row tile that loads least over all workgroups, the tallest on ties', () => {
    if (!E.engine().adapterProfile.supports.sharedRowsMatmul) return;
    const rows = (m: number) => onVariant('shared-rows', () => matmulTiling(m, 32).tileM);
    // 32 rows: two tiles of 16 (6 loads each a step of k) against two of 24 (7 each).
    expect([1, 8, 9, 16, 17, 24, 25, 32, 33, 64, 96, 1664].map(rows)).toEqual([8, 8, 16, 16, 24, 24, 16, 16, 24, 24, 24, 24]);
  });

  it('handles empty dims: K = 0 gives zeros, M = 0 or a zero batch gives an empty result', async () => {
    for (const variant of VARIANTS) {
      const z = onVariant(variant, () => E.tidy(() => matmul(E.zeros([3, 0]), E.zeros([0, 5]))));
      expect(z.shape).toEqual([3, 5]);
      expect(Array.from(await z.toArray())).toEqual(new Array(15).fill(0));
      z.dispose();
    }
    const e = E.tidy(() => matmul(E.zeros([0, 4]), E.zeros([4, 5])));
    expect(e.shape).toEqual([0, 5]);
    const eb = E.tidy(() => matmul(E.zeros([0, 2, 4]), E.zeros([4, 5])));
    expect(eb.shape).toEqual([0, 2, 5]);
    E.dispose([e, eb]);
  });
});

describe('matmul backward', () => {
  it('finite differences for all four transpose combinations', async () => {
    for (const [ta, tb] of COMBOS) {
      const [as, bs] = stored(3, 4, 5, ta, tb);
      await checkGradients((x, y) => matmul(x, y, { transA: ta, transB: tb }), [
        { data: rand(15, 21), shape: as },
        { data: rand(20, 22), shape: bs },
      ]);
    }
  });

  it('the backward runs the variant of its forward', async () => {
    for (const variant of VARIANTS) {
      await onVariant(variant, () =>
        checkGradients((x, y) => matmul(x, y, { transA: true, transB: true }), [
          { data: rand(15, 25), shape: [5, 3] },
          { data: rand(20, 26), shape: [4, 5] },
        ]),
      );
    }
  });

  it('finite differences through broadcast batch dims', async () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[2, 3, 4], [4, 3], false, false], // folded
      [[2, 4, 3], [4, 3], true, false],
      [[3, 4], [2, 4, 3], false, false],
      [[2, 1, 3, 4], [1, 2, 3, 4], false, true],
      [[1, 4, 3], [2, 2, 4], true, true],
    ];
    for (const [as, bs, ta, tb] of cases) {
      await checkGradients((x, y) => matmul(x, y, { transA: ta, transB: tb }), [
        { data: rand(sizeOfShape(as), 23), shape: as },
        { data: rand(sizeOfShape(bs), 24), shape: bs },
      ]);
    }
  });

  it('materializes no transposes: forward and both gradients are three matmul dispatches', () => {
    const a = E.param(E.tensor(rand(35, 1), [7, 5]));
    const b = E.param(E.tensor(rand(30, 2), [6, 5]));
    const seed = E.tensor(rand(42, 3), [7, 6]);
    const spy = vi.spyOn(Kernel.prototype, 'dispatch');
    E.tidy(() => E.backward(matmul(a, b, { transB: true }), seed));
    // A product's pass records one op late (engine/ops/held.ts): the flush records the last.
    E.engine().flush();
    // The poisoning test engine also fills every new tensor with NaN first.
    const labels = spy.mock.calls.map(([args]) => args.label).filter((l) => !l.startsWith('fill '));
    spy.mockRestore();
    expect(labels).toEqual(['matmul [7,5] x [6,5]^T', 'matmul [7,6] x [6,5]', 'matmul [7,6]^T x [7,5]']);
    E.dispose([a, b, seed, a.grad, b.grad]);
  });

  it('uses its saved inputs, so callers may dispose theirs', async () => {
    const a = E.param(E.tensor(rand(6, 4), [2, 3]));
    const b = E.param(E.tensor(rand(12, 5), [3, 4]));
    const { y, av, bv } = E.tidy(() => {
      const av = E.mulScalar(a, 1);
      const bv = E.mulScalar(b, 1);
      return { y: matmul(av, bv), av, bv };
    });
    av.dispose();
    bv.dispose();
    E.tidy(() => E.backward(E.sum(y)));
    // d sum(A·B) / dA[i, q] = sum_j B[q, j]
    const bData = rand(12, 5);
    const expectGradA = Array.from({ length: 6 }, (_, i) => [0, 1, 2, 3].reduce((s, j) => s + bData[(i % 3) * 4 + j], 0));
    expectClose(await a.grad!.toArray(), expectGradA, 1e-5, 1e-6, 'grad a');
    E.dispose([a, b, y, a.grad, b.grad]);
  });
});

describe.each(VARIANTS)('residual and alpha in the epilogue (%s)', (variant) => {
  // N = 8 takes the shared-rows kernel's vec4 stores, N = 7 its scalar ones; M is no tile multiple.
  for (const [m, n, k] of [[13, 8, 9], [13, 7, 9], [30, 12, 33]]) {
    it(`residual + 0.7 · a bᵀ, ${m}x${n}x${k}, matches float64 and finite differences`, () => onVariant(variant, async () => {
      const a = rand(m * k, 1);
      const b = rand(n * k, 2);
      const r = rand(m * n, 3);
      const want = R.matmul(a, [m, k], b, [n, k], false, true).out.map((x, i) => 0.7 * x + r[i]);
      const got = E.tidy(() => matmul(E.tensor(a, [m, k]), E.tensor(b, [n, k]), { transB: true, alpha: 0.7, residual: E.tensor(r, [m, n]) }));
      expectClose(await got.toArray(), want, 1e-5, 1e-5, 'residual epilogue');
      got.dispose();
      await checkGradients((x, y, z) => matmul(x, y, { transB: true, alpha: 0.7, residual: z }), [
        { data: a, shape: [m, k] },
        { data: b, shape: [n, k] },
        { data: r, shape: [m, n] },
      ]);
    }));
  }
});

describe.each(VARIANTS)('gemm on column blocks of wider tensors (%s)', (variant) => {
  // A packed projection [rows, blocks · width] holds q, k and v side by side; attention multiplies
  // its blocks in place. Block offsets that are multiples of 4 take the vec4 paths, 3 the scalar.
  for (const [m, n, k, at] of [[13, 8, 12, 4], [13, 7, 9, 3], [30, 12, 33, 8]]) {
    it(`${m}x${n}x${k} at column ${at}: reads and writes only its blocks`, async () => {
      const [wa, wb, wc] = [k + at + 5, n + at + 2, n + at + 7];   // row lengths of the wider tensors
      const a = rand(m * wa, 1);
      const b = rand(k * wb, 2);
      const poison = 12345;
      const c = E.tidy(() => E.keep(E.full([m, wc], poison)));
      onVariant(variant, () =>
        E.tidy(() =>
          gemm({
            label: 'gemm blocks', m, n, k, batchShape: [],
            a: { tensor: E.tensor(a, [m, wa]), ld: wa, batchStrides: [], offset: at },
            b: { tensor: E.tensor(b, [k, wb]), ld: wb, batchStrides: [], offset: at },
            c: { tensor: c, ld: wc, batchStrides: [], offset: at },
          }),
        ),
      );
      const block = (x: ArrayLike<number>, ld: number, rows: number, cols: number) => Float64Array.from({ length: rows * cols }, (_, i) => x[Math.floor(i / cols) * ld + at + (i % cols)]);
      const want = R.matmul(block(a, wa, m, k), [m, k], block(b, wb, k, n), [k, n], false, false).out;
      const got = Array.from(await c.toArray());
      expectClose(block(got, wc, m, n), want, 1e-5, 1e-5, 'the product block');
      const outside = got.filter((_, i) => i % wc < at || i % wc >= at + n);
      expect(outside.every((x) => x === poison), 'columns outside the block keep their values').toBe(true);
      c.dispose();
    });
  }
});

describe('matmul errors', () => {
  const t = (shape: number[], dtype: E.DType = 'f32') => E.zeros(shape, dtype);
  it('names the op and both shapes', () => {
    expect(() => E.tidy(() => matmul(t([2, 3]), t([4, 5])))).toThrow('matmul: [2,3] and [4,5]: inner dimensions 3 and 4 differ');
    expect(() => E.tidy(() => matmul(t([3, 2]), t([4, 5]), { transA: true }))).toThrow(
      'matmul: [3,2] and [4,5] (transA=true, transB=false): inner dimensions 3 and 4 differ',
    );
    expect(() => E.tidy(() => matmul(t([2, 3, 4]), t([3, 4, 5])))).toThrow(
      'matmul: [2,3,4] and [3,4,5]: batch dims [2] and [3] cannot be broadcast together',
    );
    expect(() => E.tidy(() => matmul(t([3]), t([3, 4])))).toThrow('matmul: [3] and [3,4]: both operands need at least 2 dims');
    expect(() => E.tidy(() => matmul(t([2, 3], 'i32'), t([3, 4])))).toThrow('matmul: [2,3] and [3,4]: expects f32 tensors, got i32 [2,3]');
  });
});
