import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { FlatLayout } from '../../engine/flat.ts';
import { clipStats } from '../../training/clip.ts';
import { expectClose, rand, setupEngine, sizeOfShape } from '../helpers.ts';

beforeAll(setupEngine);

function norm64(arrays: ArrayLike<number>[]): number {
  let s = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

async function statsOf(shapes: number[][], options: Parameters<typeof clipStats>[1], seed = 1) {
  const datas = shapes.map((s, i) => rand(sizeOfShape(s), seed + i, -2, 2));
  const layout = new FlatLayout(shapes);
  const flat = layout.zeros();
  const parts = datas.map((d, i) => E.tensor(d, shapes[i]));
  layout.gather(parts, flat);
  const stats = clipStats(flat, options);
  const [norm, scale] = await stats.toArray();
  E.dispose([flat, parts, stats]);
  return { norm, scale, want: norm64(datas) };
}

describe('global gradient norm', () => {
  it('matches float64 over tensors of odd sizes', async () => {
    const { norm, want } = await statsOf([[1], [7], [3, 5], [2, 3, 11]], {});
    expectClose([norm], [want], 1e-6, 0);
  });

  it('matches float64 when the partial sums outnumber one workgroup (many partials, strided)', async () => {
    // 1_000_003 elements: 245 workgroups write 15680 partial sums, 61 for each thread of the finish pass
    const { norm, want } = await statsOf([[1000, 1000], [3]], {}, 7);
    expectClose([norm], [want], 1e-5, 0);
  });

  it('is zero for zero gradients', async () => {
    const layout = new FlatLayout([[5]]);
    const flat = layout.zeros();
    const stats = clipStats(flat, { maxNorm: 1 });
    expect(Array.from(await stats.toArray())).toEqual([0, 1]);
    E.dispose([flat, stats]);
  });
});

describe('clip factor', () => {
  const shapes = [[13], [4, 4]];

  it('is maxNorm / (norm + 1e-6) when the norm is above maxNorm', async () => {
    const { norm, scale, want } = await statsOf(shapes, { maxNorm: 0.5 });
    expectClose([norm], [want], 1e-6, 0);
    expectClose([scale], [0.5 / (want + 1e-6)], 1e-6, 0);
  });

  it('is 1 when the norm is below maxNorm, or without maxNorm', async () => {
    expect((await statsOf(shapes, { maxNorm: 1000 })).scale).toBe(1);
    expect((await statsOf(shapes, {})).scale).toBe(1);
  });

  it('gradScale scales the gradients before the norm is taken and clipped', async () => {
    const { norm, scale, want } = await statsOf(shapes, { maxNorm: 1, gradScale: 0.25 });
    expectClose([norm], [0.25 * want], 1e-6, 0);
    expectClose([scale], [0.25 * Math.min(1, 1 / (0.25 * want + 1e-6))], 1e-6, 0);
    const unclipped = await statsOf(shapes, { gradScale: 0.25 });
    expect(unclipped.scale).toBe(0.25);
  });

  it('rejects what it cannot use', () => {
    const flat = E.zeros([8]);
    expect(() => clipStats(E.zeros([6]))).toThrow(/clipStats \[6\]: expects a flat f32 tensor whose length is a multiple of 4/);
    expect(() => clipStats(E.zeros([2, 4]))).toThrow(/flat f32 tensor/);
    expect(() => clipStats(flat, { maxNorm: -1 })).toThrow(/maxNorm must be finite and >= 0, got -1/);
    expect(() => clipStats(flat, { gradScale: 0 })).toThrow(/gradScale must be finite and > 0, got 0/);
    flat.dispose();
  });
});
