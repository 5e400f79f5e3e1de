// The engine's one GPU context: the device, the buffer pool, and the batch of recorded work.
//
// Ops do not submit anything themselves. Each dispatch is recorded into one open compute pass;
// the batch is submitted when it is full, when data is read back, or on `flush()`. Per-dispatch
// parameters are packed into one uniform "arena" buffer and uploaded with a single write at
// submit time. The arena is the same buffer for every batch (a queue write is ordered after the
// work submitted before it, so the last batch has read its slots by then), which keeps it out of
// the bind groups' identity: a bind group made for one batch serves the same dispatch in the next. Validation and out-of-memory errors of a batch are captured with error
// scopes and thrown at the next read back, carrying the labels (op and shapes) that Dawn quotes.

import { openDevice, type AdapterReport, type DeviceOptions } from './device.ts';
import { BufferPool, bucketSize, type MemoryStats } from './pool.ts';
import { loadKernelSource } from '../kernels/source.ts';

export class GPUDeviceLostError extends Error {
  override name = 'GPUDeviceLostError';
}
/** Submitted work did not finish within `hangSeconds`: the driver is presumed hung. */
export class GPUHangError extends GPUDeviceLostError {
  override name = 'GPUHangError';
}
export class GPUValidationError extends Error {
  override name = 'GPUValidationError';
}
export class GPUOutOfMemoryError extends Error {
  override name = 'GPUOutOfMemoryError';
}

// The GPUBufferUsage global exists in Node only once Dawn has loaded, after this module is
// evaluated, so the spec's flag values are spelled out here.
const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 };
export const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

/** Bytes of uniform data one dispatch may use; also the arena slot alignment. */
export const UNIFORM_SLOT = 256;

export class Engine {
  readonly pool: BufferPool;
  readonly maxBatch: number;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly arena: GPUBuffer;
  private arenaHost: Uint8Array;
  private slots = 0;
  private batchLabels: string[] = [];
  private scopeChecks: Promise<string | null>[] = [];
  private uncaptured: string[] = [];
  private staging = new Map<number, GPUBuffer[]>();
  private lostMessage: string | null = null;
  private sources = new Map<string, string>();
  keepAlive: unknown[] = [];
  /**
   * How long a read or sync may wait for submitted work before the engine gives up on the
   * device. A driver that stops answering (a shader that never ends, a wedged software driver)
   * would otherwise leave a run waiting forever; a run that stops with an error resumes from its
   * checkpoint. The default is far above the longest batch seen here (a t5-small training step on
   * lavapipe: about 30 s).
   */
  hangSeconds = 600;
  private lastBatch = '';
  /** Total dispatches and submits since start, for benchmarks and tests. */
  readonly counters = { dispatches: 0, submits: 0, reads: 0, bindGroupHits: 0, bindGroupMisses: 0 };

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterReport,
    /** Fill every new tensor's buffer with NaN first, so a kernel that misses an output shows. */
    readonly poison = false,
  ) {
    this.pool = new BufferPool(device);
    const arenaBytes = Math.min(device.limits.maxUniformBufferBindingSize, 65536);
    this.maxBatch = Math.floor(arenaBytes / UNIFORM_SLOT);
    this.arenaHost = new Uint8Array(this.maxBatch * UNIFORM_SLOT);
    this.arena = device.createBuffer({ size: this.arenaHost.byteLength, usage: USAGE.UNIFORM | USAGE.COPY_DST });
    device.lost.then((info) => {
      this.lostMessage = `${info.reason}: ${info.message}`;
    });
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.uncaptured.push(ev.error.message);
    };
  }

  // ---- kernels -------------------------------------------------------------------------------

  async loadSources(names: Iterable<string>): Promise<void> {
    await Promise.all(
      [...names]
        .filter((n) => !this.sources.has(n))
        .map(async (n) => this.sources.set(n, await loadKernelSource(n))),
    );
  }

  source(name: string): string {
    const s = this.sources.get(name);
    if (s === undefined) throw new Error(`kernel ${name}.wgsl was not loaded; was its op imported before initEngine()?`);
    return s;
  }

  // ---- recording -----------------------------------------------------------------------------

  /** Throws if the device is lost; every op calls this before recording. */
  checkAlive(op: string): void {
    if (this.lostMessage !== null) {
      throw new GPUDeviceLostError(
        `the GPU device was lost (${this.lostMessage}) before ${op}; every tensor on it is gone. ` +
          'Re-run with a fresh engine (initEngine); if it recurs, the driver crashed or ran out of memory.',
      );
    }
  }

  private begin(): void {
    if (this.encoder) return;
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    this.encoder = this.device.createCommandEncoder();
  }

  /**
   * The open compute pass, and the byte offset of this dispatch's uniform slot in `arena`.
   * `kernel` names the entry point (file.entry) for the profiler.
   */
  recordDispatch(label: string, uniformBytes: Uint8Array | null, kernel = label): { pass: GPUComputePassEncoder; arena: GPUBuffer; offset: number } {
    if (this.slots >= Math.min(this.maxBatch, this.profiler?.maxDispatches ?? Infinity)) this.flush();
    this.begin();
    if (this.profiler) {
      // Timestamps can only be written where a pass begins and ends: one pass per dispatch.
      if (this.pass) this.pass.end();
      this.pass = this.profiler.beginPass(this.encoder!, kernel, label);
    }
    if (!this.pass) this.pass = this.encoder!.beginComputePass();
    const offset = this.slots * UNIFORM_SLOT;
    if (uniformBytes) this.arenaHost.set(uniformBytes, offset);
    this.slots += 1;
    this.counters.dispatches += 1;
    if (this.batchLabels.length < 64) this.batchLabels.push(label);
    return { pass: this.pass, arena: this.arena, offset };
  }

  /** The encoder with no pass open, for copies. */
  commandEncoder(): GPUCommandEncoder {
    this.begin();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return this.encoder!;
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    if (this.pass) this.pass.end();
    if (this.slots > 0) {
      this.device.queue.writeBuffer(this.arena, 0, this.arenaHost, 0, this.slots * UNIFORM_SLOT);
    }
    this.profiler?.beforeSubmit(this.encoder);
    this.device.queue.submit([this.encoder.finish()]);
    this.profiler?.afterSubmit();
    this.counters.submits += 1;
    const labels = this.batchLabels.join(', ');
    this.lastBatch = labels;
    const validation = this.device.popErrorScope();
    const oom = this.device.popErrorScope();
    this.scopeChecks.push(
      Promise.all([validation, oom]).then(([v, o]) => {
        if (o) return `oom:out of GPU memory while running [${labels}]: ${o.message}`;
        if (v) return `validation:${v.message}`;
        return null;
      }),
    );
    this.encoder = null;
    this.pass = null;
    this.slots = 0;
    this.batchLabels = [];
    this.pool.submitted();
  }

  /** Waits for all submitted work and throws the first GPU error it produced. */
  async sync(): Promise<void> {
    this.flush();
    await this.politely(this.deadline(this.device.queue.onSubmittedWorkDone()));
    await this.throwPendingErrors();
  }

  private async throwPendingErrors(): Promise<void> {
    const checks = this.scopeChecks;
    this.scopeChecks = [];
    const found = (await Promise.all(checks)).filter((m): m is string => m !== null);
    const all = [...found, ...this.uncaptured.map((m) => `validation:${m}`)];
    this.uncaptured = [];
    this.checkAlive('reading results');
    if (all.length === 0) return;
    const first = all[0];
    if (first.startsWith('oom:')) {
      throw new GPUOutOfMemoryError(`${first.slice(4)}. Reduce the batch size, sequence length or model size.`);
    }
    throw new GPUValidationError(`GPU validation error: ${first.slice('validation:'.length)}`);
  }

  /** Copies `bytes` bytes of `buffer` back to the CPU. */
  async read(buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    this.checkAlive('reading results');
    const size = Math.max(256, bucketSize(bytes));
    const staging = this.staging.get(size)?.pop() ?? this.device.createBuffer({ size, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    this.commandEncoder().copyBufferToBuffer(buffer, offset, staging, 0, Math.ceil(bytes / 4) * 4);
    this.flush();
    this.counters.reads += 1;
    try {
      await this.politely(this.deadline(staging.mapAsync(1 /* GPUMapMode.READ */, 0, Math.ceil(bytes / 4) * 4)));
    } catch (e) {
      if (!(e instanceof GPUHangError)) this.checkAlive('reading results');
      throw e;
    }
    const out = staging.getMappedRange(0, Math.ceil(bytes / 4) * 4).slice(0, bytes);
    staging.unmap();
    let list = this.staging.get(size);
    if (!list) this.staging.set(size, (list = []));
    list.push(staging);
    await this.throwPendingErrors();
    return out;
  }

  /** `pending`, or a GPUHangError (and a lost engine) once it has taken hangSeconds. */
  private deadline<T>(pending: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const what = `the GPU did not finish submitted work within ${this.hangSeconds} s (the last batch held [${this.lastBatch}]); its driver may have hung`;
        this.lostMessage ??= what;
        reject(
          new GPUHangError(
            `${what}. Restart the process: a grid run resumes from its last checkpoint. If one batch can really take this long, raise engine().hangSeconds.`,
          ),
        );
      }, this.hangSeconds * 1000);
    });
    return Promise.race([pending, expired]).finally(() => clearTimeout(timer));
  }

  /** A pooled storage buffer that only kernels recorded from now on will write. */
  allocate(bytes: number): GPUBuffer {
    return this.pool.acquire(Math.max(bytes, 4), STORAGE_USAGE, true);
  }

  /**
   * Waits for a GPU promise without spinning a CPU core. Dawn's Node bindings poll for finished
   * GPU work by rescheduling themselves with setImmediate for as long as anything is pending, a
   * busy loop that takes a whole core from a software adapter's own worker threads while we
   * wait for them. Dawn looks setImmediate up on every poll, so during the wait polls are spaced
   * 1 ms apart instead (measured on lavapipe: about 35% less CPU time per read back).
   */
  private async politely<T>(pending: Promise<T>): Promise<T> {
    const g = globalThis as any;
    if (this.adapter.runtime !== 'node' || typeof g.setImmediate !== 'function') return pending;
    // Waits may overlap (two reads in flight): the first one in swaps, the last one out restores.
    if (this.waiting++ === 0) {
      this.realSetImmediate = g.setImmediate;
      g.setImmediate = (fn: (...a: unknown[]) => void, ...a: unknown[]) => setTimeout(fn, 1, ...a);
    }
    try {
      return await pending;
    } finally {
      if (--this.waiting === 0) g.setImmediate = this.realSetImmediate;
    }
  }
  private waiting = 0;
  private realSetImmediate: unknown = null;

  /** Uploads data into a fresh pooled buffer. */
  upload(data: ArrayBufferView, bytes: number): GPUBuffer {
    const buffer = this.pool.acquire(Math.max(bytes, 4), STORAGE_USAGE);
    if (bytes > 0) {
      this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, Math.ceil(bytes / 4) * 4);
    }
    return buffer;
  }

  memoryStats(): MemoryStats {
    return this.pool.memoryStats();
  }

  // ---- profiling -----------------------------------------------------------------------------

  private profiler: Profiler | null = null;

  /** Times every dispatch recorded from now until stopProfile() (benchmarks; slows the work). */
  startProfile(): void {
    this.flush();
    this.profiler = new Profiler(this.device, this.adapter.features.includes('timestamp-query'));
  }

  /** Ends profiling and returns one record per dispatch, in recording order. */
  async stopProfile(): Promise<ProfileResult> {
    const p = this.profiler;
    if (!p) throw new Error('stopProfile: no profile was started');
    this.flush();
    this.profiler = null;
    await this.sync();
    return p.finish();
  }
}

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
class Profiler {
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
    const resolved = this.device.createBuffer({ size: count * 8, usage: 0x200 /* QUERY_RESOLVE */ | 0x4 /* COPY_SRC */ });
    const staging = this.device.createBuffer({ size: count * 8, usage: 0x1 /* MAP_READ */ | 0x8 /* COPY_DST */ });
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

let current: Engine | null = null;
const kernelNames = new Set<string>();

/** Called by each Kernel at module load so that initEngine() knows which sources to fetch. */
export function registerKernelFile(name: string): void {
  kernelNames.add(name);
}

export interface EngineOptions extends DeviceOptions {
  /** Tests set this: new tensors start as NaN instead of whatever the pool last held. */
  poison?: boolean;
}

export async function initEngine(options: EngineOptions = {}): Promise<Engine> {
  if (current) return current;
  const { device, report, keepAlive } = await openDevice(options);
  const e = new Engine(device, report, options.poison ?? false);
  e.keepAlive = keepAlive;
  await e.loadSources(kernelNames);
  current = e;
  return e;
}

export function engine(): Engine {
  if (!current) throw new Error('no GPU engine yet: call `await initEngine()` before using tensors');
  return current;
}

export function hasEngine(): boolean {
  return current !== null;
}

/** Destroys the device; a later initEngine() opens a new one. */
export function destroyEngine(): void {
  if (!current) return;
  current.flush();
  current.device.destroy();
  current = null;
}
