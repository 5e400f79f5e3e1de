// Per-dispatch GPU times for benchmarks (Engine.startProfile / stopProfile).

import { USAGE } from './pool.ts';

/** One profiled dispatch: the kernel entry point, the op's label, and its GPU time. */
export interface ProfileRecord {
  kernel: string;
  label: string;
  ms: number;
}
export interface ProfileResult {
  /** 'timestamps': GPU timestamp queries around each dispatch; 'wall': each dispatch submitted
   *  alone and timed from the host between completions (adapters without timestamp queries). */
  method: 'timestamps' | 'wall';
  records: ProfileRecord[];
}

/**
 * Per-dispatch GPU times. With timestamp queries each dispatch gets its own pass whose begin and
 * end write a timestamp; the queries of a batch are resolved into a buffer copied back after the
 * batch is submitted. Without them, each dispatch is its own submit and the time between one
 * submit's completion and the next is charged to it (the queue is kept full, so it is close).
 */
export class Profiler {
  private readonly capacity = 4096;
  private querySet: GPUQuerySet | null = null;
  private batch: { kernel: string; label: string }[] = [];
  private pending: Promise<ProfileRecord[]>[] = [];
  private wallBatches: Promise<ProfileRecord & { submitted: number; done: number }>[] = [];

  constructor(
    private device: GPUDevice,
    private timestamps: boolean,
  ) {
    if (timestamps) this.querySet = device.createQuerySet({ type: 'timestamp', count: this.capacity });
  }

  beginPass(encoder: GPUCommandEncoder, kernel: string, label: string): GPUComputePassEncoder {
    const i = this.batch.length;
    this.batch.push({ kernel, label });
    if (!this.querySet) return encoder.beginComputePass();
    return encoder.beginComputePass({
      timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
    });
  }

  beforeSubmit(encoder: GPUCommandEncoder): void {
    if (!this.querySet || this.batch.length === 0) return;
    const count = 2 * this.batch.length;
    const resolved = this.device.createBuffer({ size: count * 8, usage: USAGE.QUERY_RESOLVE | USAGE.COPY_SRC });
    const staging = this.device.createBuffer({ size: count * 8, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, count, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, staging, 0, count * 8);
    const batch = this.batch;
    // Mapped once the copy is submitted (a buffer pending a map cannot be used in a submit).
    this.toMap = () =>
      staging.mapAsync(1).then(() => {
        const t = new BigInt64Array(staging.getMappedRange().slice(0));
        staging.destroy();
        resolved.destroy();
        return batch.map((b, i) => ({ ...b, ms: Number(t[2 * i + 1] - t[2 * i]) / 1e6 }));
      });
  }
  private toMap: (() => Promise<ProfileRecord[]>) | null = null;

  afterSubmit(): void {
    if (this.toMap) this.pending.push(this.toMap());
    this.toMap = null;
    if (!this.querySet) {
      const [first] = this.batch;
      const submitted = performance.now();
      if (first) this.wallBatches.push(this.device.queue.onSubmittedWorkDone().then(() => ({ ...first, ms: 0, submitted, done: performance.now() })));
    }
    this.batch = [];
  }

  /** Dispatches per submit, so the querySet never overflows and wall timing sees one each. */
  get maxDispatches(): number {
    return this.querySet ? this.capacity / 2 : 1;
  }

  async finish(): Promise<ProfileResult> {
    if (this.querySet) {
      const records = (await Promise.all(this.pending)).flat();
      this.querySet.destroy();
      return { method: 'timestamps', records };
    }
    // A dispatch starts when it was submitted or when the one before it finished, if later.
    let last = 0;
    const records = (await Promise.all(this.wallBatches)).map(({ submitted, done, ...r }) => {
      const ms = done - Math.max(last, submitted);
      last = done;
      return { ...r, ms };
    });
    return { method: 'wall', records };
  }
}
