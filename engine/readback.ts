// Reading results back to the CPU: pooled staging buffers, and a deadline on every wait for the
// GPU, so that a driver that stops answering (a shader that never ends, a wedged software driver)
// ends the run with an error instead of leaving it waiting forever.

import type { AdapterReport } from './device.ts';
import { GPUHangError, type GPUErrors } from './errors.ts';
import { politely } from './polling.ts';
import { bucketSize, USAGE } from './pool.ts';

export class Readback {
  /** See Engine.hangSeconds. */
  hangSeconds = 600;
  /** The labels of the last submitted batch, which a hang message quotes. */
  lastBatch = '';
  private staging = new Map<number, GPUBuffer[]>();

  constructor(
    private readonly device: GPUDevice,
    private readonly implementation: AdapterReport['implementation'],
    private readonly errors: GPUErrors,
  ) {}

  /** A mappable buffer that holds `bytes`, to copy a result into before `copyOut`. */
  stagingFor(bytes: number): GPUBuffer {
    const size = Math.max(256, bucketSize(bytes));
    return this.staging.get(size)?.pop() ?? this.device.createBuffer({ size, usage: USAGE.MAP_READ | USAGE.COPY_DST });
  }

  /** Waits for the submitted copy into `staging`, returns its first `bytes` and keeps the buffer. */
  async copyOut(staging: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    try {
      await this.wait(staging.mapAsync(1 /* GPUMapMode.READ */, 0, Math.ceil(bytes / 4) * 4));
    } catch (e) {
      if (!(e instanceof GPUHangError)) this.errors.checkAlive('reading results');
      throw e;
    }
    const out = staging.getMappedRange(0, Math.ceil(bytes / 4) * 4).slice(0, bytes);
    staging.unmap();
    let list = this.staging.get(staging.size);
    if (!list) this.staging.set(staging.size, (list = []));
    list.push(staging);
    return out;
  }

  /** Waits for a GPU promise politely (engine/polling.ts) and under the deadline. */
  wait<T>(pending: Promise<T>): Promise<T> {
    return politely(this.implementation, this.deadline(pending));
  }

  /** `pending`, or a GPUHangError (and a lost device) once it has taken hangSeconds. */
  private deadline<T>(pending: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const what = `the GPU did not finish submitted work within ${this.hangSeconds} s (the last batch held [${this.lastBatch}]); its driver may have hung`;
        this.errors.markLost(what);
        reject(
          new GPUHangError(
            `${what}. Restart the process: a grid run resumes from its last checkpoint. If one batch can really take this long, raise engine().hangSeconds.`,
          ),
        );
      }, this.hangSeconds * 1000);
    });
    return Promise.race([pending, expired]).finally(() => clearTimeout(timer));
  }
}
