import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { FlatLayout } from '../../engine/flat.ts';
import { clipStats } from '../../engine/ops/clip.ts';
import { globalNorm } from '../../reference/clip.ts';
import { expectClose, rand, setupEngine, sizeOfShape } from '../helpers.ts';

beforeAll(setupEngine);

async function statsOf(shapes: number[][], options: Parameters<typeof clipStats>[1], seed = 1) {
  return statsOfGroups([shapes], options, seed);
}

/** The stats of gradients packed into one flat tensor per group of shapes. */
async function statsOfGroups(groups: number[][][], options: Parameters<typeof clipStats>[1], seed = 1) {
  let k = seed;
  const datas = groups.map((shapes) => shapes.map((s) => rand(sizeOfShape(s), k++, -2, 2)));
  const flats = groups.map((shapes, g) => {
    const layout = new FlatLayout(shapes);
    const flat = layout.zeros();
    const parts = datas[g].map((d, i) => E.tensor(d, shapes[i]));
    layout.gather(parts, flat);
    E.dispose(parts);
    return flat;
  });
  const stats = clipStats(flats, options);
  const [norm, scale] = await stats.toArray();
  E.dispose([flats, stats]);
  return { norm, scale, want: globalNorm(datas.flat()) };
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

  it('is global over several flat tensors (one per group of parameters)', async () => {
    const groups = [[[1], [7]], [[3, 5]], [[2, 3, 11], [4]]];
    const split = await statsOfGroups(groups, { maxNorm: 0.5 });
    expectClose([split.norm], [split.want], 1e-6, 0);
    expectClose([split.scale], [0.5 / (split.want + 1e-6)], 1e-6, 0);
    // the same gradients in one flat tensor: only the order of the sum differs
    const whole = await statsOfGroups([groups.flat()], { maxNorm: 0.5 });
    expect(whole.want).toBe(split.want);
    expectClose([split.norm], [whole.norm], 1e-6, 0);
  });

  it('is global when one flat tensor needs many partial sums and the next starts after them', async () => {
    // 245 workgroups write the first tensor's 15680 partial sums; the second tensor's start after them
    const { norm, want } = await statsOfGroups([[[1000, 1000]], [[300, 7], [3]]], {}, 7);
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
    expect(() => clipStats([])).toThrow(/no gradients/);
    expect(() => clipStats([flat, E.zeros([5])])).toThrow(/clipStats \[8\] \[5\]: expects a flat f32 tensor .*, got f32 \[5\]/);
    flat.dispose();
  });
});
