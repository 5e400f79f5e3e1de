// The tensor and autograd modules on their own, without engine/index.ts: tidy() still frees the
// graph nodes no returned tensor reaches (nothing wires it up when index.ts loads).
import { beforeAll, expect, it } from 'vitest';
import { initEngine } from '../../engine/runtime.ts';
import { Tensor, tidy } from '../../engine/tensor.ts';
import { record, type GradNode } from '../../engine/autograd.ts';

beforeAll(() => initEngine());

it('frees the saved tensors of a graph node whose scope ended unreached, and keeps a reached one', () => {
  const x = Tensor.fromData([1, 2, 3], [3]);
  x.requiresGrad = true;
  let dropped: GradNode | null = null;
  let kept: GradNode | null = null;
  const out = tidy(() => {
    const a = record('first', [x], Tensor.fromData([0, 0, 0], [3]), (g) => [g], [x]);
    dropped = a.node;
    const b = record('second', [x], Tensor.fromData([0, 0, 0], [3]), (g) => [g], [x]);
    kept = b.node;
    return b;
  });
  expect(out.node).toBe(kept);
  expect(dropped!.released).toBe(true);
  expect(dropped!.saved).toEqual([]);
  expect(kept!.released).toBe(false);
  expect(kept!.saved.every((t) => !t.isDisposed)).toBe(true);
  expect(x.isDisposed).toBe(false);
});
