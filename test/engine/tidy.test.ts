// tidy() when its function throws: a caller that catches and goes on (the page's worker) must
// get back every byte the failed function held, and the graph it recorded.
import { beforeAll, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { setupEngine } from '../helpers.ts';

beforeAll(setupEngine);

it('frees what a throwing function made, forward and backward', async () => {
  const w = E.param(E.randn([64, 64], { seed: 1 }));
  await E.sync();
  const before = E.memoryStats().inUseBytes;
  for (let i = 0; i < 3; i++) {
    expect(() =>
      E.tidy(() => {
        const h = E.matmul(w, w);
        E.backward(E.sum(E.mul(h, h)));
        E.tidy(() => E.exp(h)); // a nested scope that finished before the throw
        throw new Error(`failure ${i}`);
      }),
    ).toThrow(`failure ${i}`);
    w.grad?.dispose();
    w.grad = null;
  }
  await E.sync(); // the open batch holds a uniform arena until it is submitted
  expect(E.memoryStats().inUseBytes).toBe(before);
  // the tensors outside the scope are untouched and usable
  expect(await E.tidy(() => E.sum(w)).item()).toBeTypeOf('number');
});

it('frees what it made before refusing an async function', async () => {
  await E.sync();
  const before = E.memoryStats().inUseBytes;
  expect(() =>
    E.tidy((async () => {
      E.zeros([1000]);
    }) as () => unknown),
  ).toThrow(/synchronous/);
  await E.sync(); // the open batch holds a uniform arena until it is submitted
  expect(E.memoryStats().inUseBytes).toBe(before);
});

it('frees a failing op inside it (a buffer over the adapter limit)', async () => {
  await E.sync();
  const before = E.memoryStats().inUseBytes;
  const max = E.engine().device.limits.maxBufferSize;
  expect(() =>
    E.tidy(() => {
      E.zeros([1 << 20]);
      return E.zeros([Math.ceil(max / 4) + 1]);
    }),
  ).toThrow(/exceeds this adapter's maxBufferSize/);
  await E.sync(); // the open batch holds a uniform arena until it is submitted
  expect(E.memoryStats().inUseBytes).toBe(before);
});
