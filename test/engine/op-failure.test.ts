// An op that fails after allocating, called outside any tidy(), frees what it made
// (engine/tensor.ts guarded()): a caller that catches and goes on must not lose memory.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { OP_MODULES } from '../../engine/ops/index.ts';

// Without poisoning: Tensor.empty() then dispatches nothing, so each failure below comes from the
// op's own dispatch, after its output was allocated.
beforeAll(() => E.initEngine());

/** Makes the device report `limits` in place of its own until restoreLimits() (the checks in
 *  engine/kernel.ts read device.limits on every dispatch). */
let restoreLimits = () => {};
function forceLimits(limits: Record<string, number>): void {
  const device = E.engine().device;
  const real: Record<string, number> = {};
  for (const k in device.limits) real[k] = (device.limits as any)[k];
  const own = Object.getOwnPropertyDescriptor(device, 'limits');
  Object.defineProperty(device, 'limits', { value: { ...real, ...limits }, configurable: true });
  restoreLimits = () => {
    if (own) Object.defineProperty(device, 'limits', own);
    else delete (device as { limits?: unknown }).limits; // back to the prototype's getter
    restoreLimits = () => {};
  };
}
afterEach(() => restoreLimits());

async function inUse(): Promise<number> {
  await E.sync(); // the open batch holds a uniform arena until it is submitted
  return E.memoryStats().inUseBytes;
}

it('matmul over maxStorageBufferBindingSize frees its output', async () => {
  const a = E.randn([64, 256], { seed: 1 }); // 64 KiB
  const b = E.randn([256, 8], { seed: 2 }); // 8 KiB; the [64, 8] output is 2 KiB
  const before = await inUse();
  forceLimits({ maxStorageBufferBindingSize: 16 * 1024 });
  expect(() => E.matmul(a, b)).toThrow(/maxStorageBufferBindingSize 16384/);
  expect(await inUse()).toBe(before);
});

it('a dispatch over maxComputeWorkgroupsPerDimension frees the output', async () => {
  const x = E.randn([1 << 20], { seed: 3 });
  const before = await inUse();
  forceLimits({ maxComputeWorkgroupsPerDimension: 2 });
  expect(() => E.exp(x)).toThrow(/exceeds 2 per dimension/);
  expect(await inUse()).toBe(before);
});

it('attention failing in an inner op frees what the ops before it made', async () => {
  // A head size of 6 is padded to 8 (zeros, then concat) before the kernels run: the concat's
  // [1,1,64,8] output (2 KiB) is over the limit, the zeros and q itself (1.5 KiB) are not.
  const [q, k, v] = [4, 5, 6].map((seed) => E.randn([1, 1, 64, 6], { seed }));
  const before = await inUse();
  forceLimits({ maxStorageBufferBindingSize: 1600 });
  expect(() => E.attention(q, k, v)).toThrow(/maxStorageBufferBindingSize 1600/);
  expect(await inUse()).toBe(before);
});

it('a failure frees only what the failing op made; the ops before it keep output and graph', async () => {
  const w = E.param(E.randn([8, 8], { seed: 7 }));
  const h = E.relu(w);
  forceLimits({ maxStorageBufferBindingSize: 16 });
  expect(() => E.mul(h, w)).toThrow(/maxStorageBufferBindingSize 16/);
  restoreLimits();
  expect(h.isDisposed).toBe(false);
  E.backward(E.tidy(() => E.sum(E.mul(h, w))));
  expect(w.grad?.shape).toEqual([8, 8]);
  expect(w.grad?.isDisposed).toBe(false);
});

it('every registered op is exported guarded, and no other function of engine/ops', async () => {
  const exported = E as unknown as Record<string, unknown>;
  const missing: string[] = [];
  const unguarded: string[] = [];
  let ops = 0;
  for (const [key, module] of Object.entries(OP_MODULES)) {
    for (const [name, value] of Object.entries(module)) {
      if (typeof value !== 'function') continue;
      ops += 1;
      if (!(name in exported)) missing.push(`${key}.${name}`);
      else if (exported[name] === value) unguarded.push(`${key}.${name}`);
    }
  }
  expect(missing).toEqual([]);
  expect(unguarded).toEqual([]);
  expect(ops).toBeGreaterThan(40);

  // A function of an ops file exported by its own name but not registered: exported by hand,
  // whether unguarded (the function itself) or guarded outside the registry.
  const registered = new Set(E.OP_NAMES);
  const unregistered: string[] = [];
  const dir = path.resolve(import.meta.dirname, '../../engine/ops');
  for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))) {
    const module: Record<string, unknown> = await import(path.join(dir, file));
    for (const [name, value] of Object.entries(module)) {
      if (typeof value === 'function' && name in exported && !registered.has(name)) unregistered.push(`${file}: ${name}`);
    }
  }
  expect(unregistered).toEqual([]);
});
