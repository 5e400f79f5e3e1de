import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { expectClose, rand, setupEngine } from '../helpers.ts';

beforeAll(setupEngine);

describe('buffer pool', () => {
  it('an upload never gets a buffer that a recorded, unsubmitted dispatch still reads', async () => {
    const first = rand(1000, 1);
    const a = E.tensor(first, [1000]);
    const doubled = E.mulScalar(a, 2); // recorded, not yet submitted
    a.dispose(); // a's buffer is released inside the open batch
    const other = E.tensor(rand(1000, 2), [1000]); // same size: must not overwrite a's data before `doubled` runs
    expectClose(await doubled.toArray(), first.map((x) => 2 * x), 1e-6, 0);
    E.dispose([doubled, other]);
  });

  it('a kernel may reuse a buffer released in the open batch', async () => {
    const x = E.tensor(rand(1000, 3), [1000]);
    const before = E.memoryStats().buffers;
    for (let i = 0; i < 5; i++) E.tidy(() => void E.add(E.mulScalar(x, 2), x)); // nothing read back: one open batch
    expect(E.memoryStats().buffers - before).toBeLessThanOrEqual(2);
    x.dispose();
  });

  it('repeated steps get the same buffers, so the kernels reuse their bind groups', async () => {
    const w = E.param(E.tensor(rand(64 * 32, 4), [64, 32]));
    const step = (seed: number) => {
      E.tidy(() => {
        // fresh inputs each step, as a training loop uploads its batch
        const x = E.tensor(rand(20 * 64, seed), [20, 64]);
        const h = E.relu(E.matmul(x, w));
        E.backward(E.mean(E.mul(h, h)));
      });
      w.grad!.dispose();
      w.grad = null;
    };
    const e = E.engine();
    step(10);
    step(11);
    await E.sync(); // a submit between steps must not change which buffers they get
    const misses = e.counters.bindGroupMisses;
    const hits = e.counters.bindGroupHits;
    step(12);
    step(13);
    await E.sync();
    expect(e.counters.bindGroupMisses - misses).toBe(0);
    expect(e.counters.bindGroupHits - hits).toBeGreaterThan(10);
    w.dispose();
  });

  it('steps of changing sizes keep their buffers too: each request keeps the largest it has needed', async () => {
    const w = E.param(E.tensor(rand(64 * 32, 5), [64, 32]));
    const step = (rows: number, seed: number) => {
      E.tidy(() => {
        const x = E.tensor(rand(rows * 64, seed), [rows, 64]);
        E.backward(E.mean(E.relu(E.matmul(x, w))));
      });
      w.grad!.dispose();
      w.grad = null;
    };
    const e = E.engine();
    // Batches of other lengths, as a training loop's length buckets give (sizes for which the
    // ops make the same requests: the mean reduces in two passes at every one of them), each
    // step submitted before the next as the trainer's read back does (an upload may not reuse a
    // buffer that unsubmitted work still reads).
    for (const [i, rows] of [20, 10, 33, 12].entries()) {
      step(rows, 20 + i);
      await E.sync();
    }
    const misses = e.counters.bindGroupMisses;
    for (const [i, rows] of [9, 33, 20, 10].entries()) {
      step(rows, 30 + i);
      await E.sync();
    }
    expect(e.counters.bindGroupMisses - misses).toBe(0);
    w.dispose();
  });
});
