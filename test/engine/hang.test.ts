// In its own file: the engine gives up on its device here, which no other test could survive.
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { setupEngine } from '../helpers.ts';

describe('a GPU that stops answering', () => {
  it('gives a read a deadline, names the last batch, and refuses later work', async () => {
    const e = await setupEngine();
    const a = E.randn([512, 512], { seed: 1 });
    expect((await E.tidy(() => E.sum(a)).toArray()).length).toBe(1); // compiles and answers in time
    // A deadline far shorter than the work, on any GPU (a chain of 24 products, 6.4 GFLOP, each
    // waiting for the last): the same as a batch that never ends.
    e.hangSeconds = 0.001;
    const slow = E.tidy(() => {
      let x = a;
      for (let i = 0; i < 24; i++) x = E.mulScalar(E.matmul(x, a), 1 / 16);
      return x;
    });
    await expect(slow.toArray()).rejects.toThrow(
      /GPUHangError|the GPU did not finish submitted work within 0\.001 s \(the last batch held \[.*matmul \[512,512\] x \[512,512\].*\]\); its driver may have hung\. Restart the process/,
    );
    await expect(slow.toArray()).rejects.toBeInstanceOf(E.GPUDeviceLostError);
    expect(() => E.exp(a)).toThrow(/GPU device was lost \(the GPU did not finish submitted work within 0\.001 s/);
  });
});
