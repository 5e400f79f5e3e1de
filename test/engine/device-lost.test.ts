// In its own file: it destroys the device, which no other test could survive.
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { setupEngine } from '../helpers.ts';

describe('a lost device', () => {
  it('makes every later op say what happened instead of returning zeros', async () => {
    const e = await setupEngine();
    const x = E.tensor([1, 2, 3]);
    e.device.destroy();
    await e.device.lost;
    expect(() => E.exp(x)).toThrow(/GPU device was lost \(destroyed.*\) before (fill|exp) \[3\]/);
    await expect(x.toArray()).rejects.toThrow(/GPU device was lost/);
  });
});
