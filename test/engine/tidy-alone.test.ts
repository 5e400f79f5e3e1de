// The tensor and autograd modules on their own, without engine/index.ts: nothing is wired up when
// index.ts loads, so tidy() still frees the graph nodes no returned tensor reaches, and backward()
// still sums the gradients of a tensor that feeds several ops.
import { beforeAll, expect, it } from 'vitest';
import { initEngine } from '../../engine/runtime.ts';
import { Tensor, tidy } from '../../engine/tensor.ts';
import { backward, record, type GradNode } from '../../engine/autograd.ts';

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

it('sums the gradients of a tensor with two consumers, and of a leaf over two backward passes', async () => {
  // loss = sum(y) + sum(z) with y = x and z = 3y: y's gradient is 1 from the loss plus 3 through z,
  // two gradients backward() adds; a second pass adds its 4 to x.grad.
  const x = Tensor.fromData([1, 2], [2]);
  x.requiresGrad = true;
  const ones = [1, 1];
  const pass = () =>
    tidy(() => {
      const y = record('y = x', [x], Tensor.fromData([1, 2], [2]), (g) => [g]);
      const z = record('z = 3y', [y], Tensor.fromData([3, 6], [2]), () => [Tensor.fromData([3, 3], [2])]);
      const loss = record('sum(y) + sum(z)', [y, z], Tensor.fromData([12], [1]), () => [Tensor.fromData(ones, [2]), Tensor.fromData(ones, [2])]);
      backward(loss);
    });
  pass();
  expect(Array.from(await x.grad!.toArray())).toEqual([4, 4]);
  pass();
  expect(Array.from(await x.grad!.toArray())).toEqual([8, 8]);
});
