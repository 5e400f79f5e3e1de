import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { Kernel } from '../../engine/kernel.ts';
import { checkGradients, expectClose, rand, setupEngine, sizeOfShape } from '../helpers.ts';

beforeAll(setupEngine);

describe('autograd', () => {
  it('sums gradients of a tensor used twice and accumulates across backward calls', async () => {
    const x = E.param(E.tensor([1, -2, 3]));
    E.tidy(() => E.backward(E.sum(E.mul(x, x))));
    expect(Array.from(await x.grad!.toArray())).toEqual([2, -4, 6]);
    E.tidy(() => E.backward(E.sum(E.mul(x, x))));
    expect(Array.from(await x.grad!.toArray())).toEqual([4, -8, 12]);
  });

  it('records nothing under noGrad', () => {
    const x = E.param(E.tensor([1, 2]));
    const y = E.noGrad(() => E.exp(x));
    expect(y.node).toBeNull();
    expect(y.requiresGrad).toBe(false);
  });

  it('backward works on a tensor returned from tidy, then frees the graph', async () => {
    const x = E.param(E.tensor([0.5, 1.5]));
    const y = E.tidy(() => E.sum(E.exp(E.mulScalar(x, 2))));
    E.backward(y);
    expectClose(await x.grad!.toArray(), [2 * Math.exp(1), 2 * Math.exp(3)], 1e-6, 1e-6);
    expect(() => E.backward(y)).toThrow(/already freed/);
  });

  it('a graph dropped by tidy cannot be backpropagated silently', () => {
    const x = E.param(E.tensor([1, 2]));
    let inner: E.Tensor | null = null;
    E.tidy(() => {
      inner = E.keep(E.exp(x));
      return E.sum(inner);
    }).dispose();
    // the exp node survived (inner was kept), so backward through it works
    expect(() => E.backward(E.sum(inner!))).not.toThrow();
  });

  it('rejects non-scalar losses without a seed', () => {
    const x = E.param(E.tensor([1, 2]));
    expect(() => E.tidy(() => E.backward(E.exp(x)))).toThrow(/backward: loss \[2\] is not a scalar/);
  });

  it('says when a disposed tensor is used again', () => {
    const t = E.tensor([1, 2, 3]);
    t.dispose();
    expect(() => E.exp(t)).toThrow(/exp \[3\]: tensor \[3\] f32 was disposed/);
  });
});

describe('memory', () => {
  it('tidy gives back every intermediate, forward and backward', async () => {
    const x = E.param(E.tensor(rand(64, 1), [8, 8]));
    await E.sync();
    const before = E.memoryStats().inUseBytes;
    for (let i = 0; i < 3; i++) {
      E.tidy(() => {
        const y = E.tanh(E.add(E.mul(x, x), E.tensor([1])));
        E.backward(E.mean(y));
      });
      x.grad!.dispose();
      x.grad = null;
    }
    await E.sync();
    expect(E.memoryStats().inUseBytes).toBe(before);
  });

  it('reuses pooled buffers instead of allocating new ones', async () => {
    const x = E.tensor(rand(1000, 2));
    E.tidy(() => {
      E.exp(E.neg(x));
    });
    await E.sync();
    const allocated = E.memoryStats().allocatedBytes;
    for (let i = 0; i < 20; i++) {
      E.tidy(() => {
        E.exp(E.neg(x));
      });
    }
    await E.sync();
    expect(E.memoryStats().allocatedBytes).toBe(allocated);
  });

  it('views share the buffer and outlive the original handle', async () => {
    const x = E.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const v = E.reshape(x, [3, 2]);
    x.dispose();
    expect(Array.from(await v.toArray())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(() => E.reshape(v, [4, 2])).toThrow(/reshape: cannot reshape \[3,2\] \(6 elements\) to \[4,2\]/);
  });
});

describe('batched submission', () => {
  it('keeps many dispatches in few submits and computes them in order', async () => {
    const e = E.engine();
    await E.sync();
    const before = { ...e.counters };
    let x = E.tensor([1]);
    for (let i = 0; i < 600; i++) {
      const next = E.addScalar(x, 1);
      x.dispose();
      x = next;
    }
    expect(await x.item()).toBe(601);
    const submits = e.counters.submits - before.submits;
    const dispatches = e.counters.dispatches - before.dispatches;
    expect(dispatches).toBeGreaterThanOrEqual(600);
    expect(submits).toBeLessThanOrEqual(Math.ceil(dispatches / e.maxBatch) + 1);
  });
});

describe('GPU errors', () => {
  it('turn into thrown errors that quote the op label', async () => {
    const k = new Kernel('reduce');
    const x = E.tensor([1, 2, 3]);
    const out = E.Tensor.empty([1]);
    // A binding larger than its buffer fails validation on the GPU side.
    k.dispatch({
      label: 'sum [3] (deliberately broken)',
      buffers: { x: { buffer: x.arg().buffer, size: 1 << 20 }, out: out.arg(), addend: x.arg() },
      params: { outer: 1, r: 3, inner: 1, chunk: 3, chunks: 1, scale: 1 },
      constants: { OP: 0, WG: 64 },
      workgroups: [1],
    });
    await expect(out.toArray()).rejects.toThrow(/GPU validation error[\s\S]*deliberately broken/);
    // and the engine keeps working afterwards
    expect(await E.tidy(() => E.sum(x)).item()).toBe(6);
  });
});

describe('bindings past the adapter limit', () => {
  it('are refused before dispatch, naming the op and the limit', () => {
    const k = new Kernel('fill');
    const out = E.zeros([4]);
    const limit = E.engine().device.limits.maxStorageBufferBindingSize;
    expect(() =>
      k.dispatch({ label: 'fill [huge]', buffers: { out: { buffer: out.arg().buffer, size: limit + 4 } }, params: { n: 1, bits: 0 }, workgroups: [1] }),
    ).toThrow(new RegExp(`fill \\[huge\\]: 'out' is ${limit + 4} bytes, more than this adapter can bind at once \\(maxStorageBufferBindingSize ${limit}\\)`));
  });
});

describe('shape ops', () => {
  const data = rand(2 * 3 * 5, 4);
  it('permute and transpose', async () => {
    const t = E.tensor(data, [2, 3, 5]);
    const p = E.tidy(() => E.permute(t, [2, 0, 1]));
    expect(p.shape).toEqual([5, 2, 3]);
    const got = await p.toArray();
    for (let a = 0; a < 5; a++) for (let b = 0; b < 2; b++) for (let c = 0; c < 3; c++) {
      expect(got[a * 6 + b * 3 + c]).toBe(Math.fround(data[b * 15 + c * 5 + a]));
    }
    await checkGradients((x) => E.permute(x, [2, 0, 1]), [{ data, shape: [2, 3, 5] }]);
    await checkGradients((x) => E.transpose(x), [{ data, shape: [2, 3, 5] }]);
  });
  it('permute matches a CPU reference at every rank, with last dims of 1 and odd lengths', async () => {
    // Invocations walk 4 consecutive outputs and cross rows of the last dim mid-walk here.
    const cases: [number[], number[]][] = [
      [[7], [0]],
      [[3, 1], [1, 0]],
      [[5, 3], [1, 0]],
      [[2, 3, 1], [2, 0, 1]],
      [[4, 9, 3, 5], [0, 2, 1, 3]],
      [[3, 1, 7, 2, 5], [4, 2, 0, 3, 1]],
      [[2, 3, 2, 1, 3, 2], [5, 0, 3, 1, 4, 2]],
    ];
    for (const [shape, perm] of cases) {
      const x = rand(sizeOfShape(shape), shape.length);
      const got = await E.tidy(() => E.permute(E.tensor(x, shape), perm)).toArray();
      const outShape = perm.map((a) => shape[a]);
      const strides = shape.map((_, d) => sizeOfShape(shape.slice(d + 1)));
      const want = new Float64Array(got.length);
      for (let i = 0; i < want.length; i++) {
        let rest = i;
        let src = 0;
        for (let d = outShape.length - 1; d >= 0; d--) {
          src += (rest % outShape[d]) * strides[perm[d]];
          rest = Math.floor(rest / outShape[d]);
        }
        want[i] = Math.fround(x[src]);
      }
      expect(Array.from(got), `${shape} by ${perm}`).toEqual(Array.from(want));
    }
  });
  it('slice and concat', async () => {
    const t = E.tensor(data, [2, 3, 5]);
    const s = await E.tidy(() => E.slice(t, 2, 1, 4)).toArray();
    const want: number[] = [];
    for (let a = 0; a < 2; a++) for (let b = 0; b < 3; b++) for (let c = 1; c < 4; c++) want.push(data[a * 15 + b * 5 + c]);
    expectClose(s, want, 0, 0);
    const c = E.tidy(() => E.concat([E.slice(t, 1, 0, 1), E.slice(t, 1, 1, 3)], 1));
    expectClose(await c.toArray(), data, 0, 0);
    await checkGradients((x) => E.slice(x, 1, 1, 3), [{ data, shape: [2, 3, 5] }]);
    await checkGradients((x, y) => E.concat([x, y], 0), [
      { data: rand(6, 1), shape: [2, 3] },
      { data: rand(3, 2), shape: [1, 3] },
    ]);
    expect(() => E.concat([E.zeros([2, 3]), E.zeros([2, 4])], 0)).toThrow(/concat: \[2,4\] f32 does not fit \[2,3\] f32 along axis 0/);
    expect(() => E.slice(t, 0, 1, 3)).toThrow(/slice: range 1..3 is outside axis 0 of \[2,3,5\]/);
  });
  it('copies of one contiguous range (leading-axis slice, concat, writeSlice) are buffer copies, not dispatches', async () => {
    const t = E.tensor(data, [2, 3, 5]);
    const dst = E.tidy(() => E.keep(E.zeros([3, 3, 5])));
    await E.sync();
    E.engine().startProfile();
    const s = E.tidy(() => E.slice(t, 0, 1, 2));
    const c = E.tidy(() => E.concat([s, E.slice(t, 0, 0, 1)], 0));
    E.writeSlice(dst, s, 0, 2);
    // (The tests poison every new tensor with a fill; nothing else may dispatch.)
    const kernels = (await E.engine().stopProfile()).records.map((r) => r.kernel);
    expect(kernels.filter((k) => k !== 'fill.main')).toEqual([]);
    const rows = (from: number, to: number) => Array.from(data).slice(from * 15, to * 15);
    expectClose(await s.toArray(), rows(1, 2), 0, 0);
    expectClose(await c.toArray(), [...rows(1, 2), ...rows(0, 1)], 0, 0);
    expectClose(await dst.toArray(), [...new Array(30).fill(0), ...rows(1, 2)], 0, 0);
    E.dispose([t, s, c, dst]);
  });
  it('writeSlice overwrites rows along an axis in place and nothing else', async () => {
    const dst = E.tensor(data, [2, 3, 5]);
    const src = E.tensor(rand(2 * 1 * 5, 9), [2, 1, 5]);
    E.writeSlice(dst, src, 1, 2);
    const want = Array.from(data);
    const s = await src.toArray();
    for (let a = 0; a < 2; a++) for (let c = 0; c < 5; c++) want[a * 15 + 2 * 5 + c] = s[a * 5 + c];
    expectClose(await dst.toArray(), want, 0, 0);
    expect(() => E.writeSlice(dst, src, 1, 3)).toThrow(/writeSlice: \[2,1,5\] f32 does not fit \[2,3,5\] f32 at 3 along axis 1/);
    const p = E.param(E.zeros([2, 1, 5]));
    expect(() => E.writeSlice(dst, p, 1, 0)).toThrow(/not differentiable/);
    E.dispose([dst, src, p]);
  });
  it('expand broadcasts and sums back', async () => {
    await checkGradients((x) => E.expand(x, [4, 3]), [{ data: rand(3, 5), shape: [1, 3] }]);
    expect(() => E.expand(E.zeros([2]), [3])).toThrow(/cannot be broadcast/);
  });
});

describe('write', () => {
  it('overwrites a tensor after earlier work has read the old values', async () => {
    const t = E.tensor([1, 2, 3]);
    const before = E.mulScalar(t, 2); // recorded, not yet submitted
    t.write([10, 20, 30]);
    const after = E.mulScalar(t, 2);
    expect(Array.from(await before.toArray())).toEqual([2, 4, 6]);
    expect(Array.from(await after.toArray())).toEqual([20, 40, 60]);
    expect(() => t.write([1])).toThrow(/write: 1 values for tensor \[3\]/);
  });
});

describe('gradients summed inside the backward that makes the last one', () => {
  // x (computed, as a residual stream is: a leaf sums into .grad instead) feeds two matmuls (a
  // 3-d x, flattened into one product, and a 2-d one), or a norm whose output feeds a product
  // with x as its residual: every extra consumer's gradient rides in an epilogue or in the
  // norm's backward instead of an add.
  const cases: [string, (x: E.Tensor, w: E.Tensor, u: E.Tensor) => E.Tensor, number[]][] = [
    ['two products of a 3-d x', (x0, w, u) => ((x) => E.add(E.matmul(x, w), E.matmul(x, u)))(E.mulScalar(x0, 1.5)), [2, 3, 4]],
    ['two products of a 2-d x, one transposed', (x0, w, u) => ((x) => E.add(E.matmul(x, w), E.matmul(x, u, { transB: true })))(E.mulScalar(x0, 1.5)), [3, 4]],
    ['a norm and a residual', (x0, w, u) => ((x) => E.matmul(E.rmsNorm(x, E.reshape(E.sum(w, 1), [4])), u, { residual: x }))(E.mulScalar(x0, 1.5)), [2, 3, 4]],
  ];
  for (const [what, f, xShape] of cases) {
    it(`${what}: matches finite differences and records no add`, async () => {
      const inputs = [
        { data: rand(sizeOfShape(xShape), 1), shape: xShape },
        { data: rand(16, 2), shape: [4, 4] },
        { data: rand(16, 3), shape: [4, 4] },
      ];
      await checkGradients(f, inputs);
      const [x, w, u] = inputs.map((i) => E.param(E.tensor(i.data, i.shape)));
      const e = E.engine();
      const loss = E.tidy(() => {
        const l = E.sum(f(x, w, u));
        e.startProfile();
        E.backward(l);
        return l;
      });
      const kernels = (await e.stopProfile()).records.map((r) => r.kernel);
      expect(kernels.filter((k) => k === 'elementwise.zip')).toEqual([]);
      E.dispose([loss, x, w, u, x.grad, w.grad, u.grad]);
    });
  }
});
