import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { FlatLayout } from '../../engine/flat.ts';
import { rand, setupEngine, sizeOfShape } from '../helpers.ts';

beforeAll(setupEngine);

const SHAPES = [[1], [7], [3, 5], [2], [2, 3, 11], [0], [4]];

describe('FlatLayout', () => {
  it('packs segments at multiples of 4 with a total that is a multiple of 4', () => {
    const layout = new FlatLayout(SHAPES);
    expect(layout.sizes).toEqual([1, 7, 15, 2, 66, 0, 4]);
    expect(layout.offsets).toEqual([0, 4, 12, 28, 32, 100, 100]);
    expect(layout.length).toBe(104);
  });

  it('gathers tensors (null = zeros) into zero padding and scatters them back', async () => {
    const layout = new FlatLayout(SHAPES);
    const datas = SHAPES.map((s, i) => rand(sizeOfShape(s), 10 + i));
    const parts = datas.map((d, i) => E.tensor(d, SHAPES[i]));
    const flat = layout.zeros();
    layout.gather(parts.map((p, i) => (i === 3 ? null : p)), flat);
    const host = await flat.toArray();
    const want = layout.join(datas.map((d, i) => (i === 3 ? [0, 0] : d)));
    expect(Array.from(host)).toEqual(Array.from(want));
    layout.split(host).forEach((seg, i) => expect(Array.from(seg)).toEqual(i === 3 ? [0, 0] : Array.from(Float32Array.from(datas[i]))));

    const doubled = E.keep(E.mulScalar(flat, 2));
    layout.scatter(doubled, parts);
    for (let i = 0; i < parts.length; i++) {
      const want = i === 3 ? [0, 0] : Array.from(datas[i], (x) => Math.fround(x) * 2);
      expect(Array.from(await parts[i].toArray())).toEqual(want);
    }
    E.dispose([parts, flat, doubled]);
  });

  it('a gather is ordered after the kernels recorded before it and before those after', async () => {
    const layout = new FlatLayout([[3], [5]]);
    const flat = layout.zeros();
    const a = E.tensor([1, 2, 3]);
    const b = E.tidy(() => E.addScalar(E.tensor([1, 1, 1, 1, 1]), 4));
    layout.gather([a, b], flat);
    const sum = E.sum(flat);
    expect(await sum.item()).toBe(6 + 25);
    E.dispose([flat, a, b, sum]);
  });

  it('names shapes on mismatch', () => {
    const layout = new FlatLayout([[3], [5]]);
    const flat = layout.zeros();
    expect(() => layout.gather([E.zeros([3]), E.zeros([4])], flat)).toThrow(/tensor 1 is f32 \[4\], the layout expects f32 \[5\]/);
    expect(() => layout.gather([E.zeros([3])], flat)).toThrow(/the layout has 2 tensors/);
    expect(() => layout.scatter(E.zeros([8]), [E.zeros([3]), E.zeros([5])])).toThrow(/must be f32 \[12\], got f32 \[8\]/);
    expect(() => layout.join([[1, 2, 3], [1]])).toThrow(/array 1 has 1 values, tensor \[5\] has 5/);
    expect(() => layout.split(new Float32Array(3))).toThrow(/3 values for a layout of 12/);
    flat.dispose();
  });
});
