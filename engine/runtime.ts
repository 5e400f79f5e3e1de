// The engine's one GPU context: the device, the buffer pool, and the batch of recorded work.
//
// Ops do not submit anything themselves. Each dispatch is recorded into one open compute pass;
// the batch is submitted when it is full, when data is read back, or on `flush()`. Per-dispatch
// parameters are packed into one uniform "arena" buffer and uploaded with a single write at
// submit time. The arena is the same buffer for every batch (a queue write is ordered after the
// work submitted before it, so the last batch has read its slots by then), which keeps it out of
// the bind groups' identity: a bind group made for one batch serves the same dispatch in the next.
//
// One dispatch at a time may be held back (hold()): a product records its pass one op late, so
// that an add of a residual or an RMS norm right after it can still ride in that pass
// (engine/ops/held.ts). Whatever records anything else, or submits, records the held one first,
// so work still runs in the order the ops were called.
//
// The rest lives beside it: GPU errors and the device-lost state in errors.ts, reads and the hang
// deadline in readback.ts, Dawn's polling in polling.ts, the profiler in profiler.ts, and what the
// ops choose for this adapter in profile.ts.

import { openDevice, type AdapterReport, type DeviceOptions } from './device.ts';
import { BufferPool, USAGE, type MemoryStats } from './pool.ts';
import { GPUErrors } from './errors.ts';
import { Readback } from './readback.ts';
import { Profiler, type ProfileResult } from './profiler.ts';
import type { AdapterProfile, ProfileOverrides } from './profile.ts';
import { overrideProfile, startingProfile } from './profile_overrides.ts';
import { loadKernelSource } from '../kernels/source.ts';

/** A dispatch an op held back (Engine.hold); `dispatch` records it. */
export interface HeldDispatch {
  dispatch(): void;
}

export const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

/** Bytes of uniform data one dispatch may use; also the arena slot alignment. */
export const UNIFORM_SLOT = 256;

export class Engine {
  readonly pool: BufferPool;
  readonly maxBatch: number;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** The uniform arena: every dispatch's parameters, one UNIFORM_SLOT each. */
  readonly arena: GPUBuffer;
  private readonly arenaHost: Uint8Array;
  /** The arena's bytes on the CPU, where a dispatch writes its parameters at its slot's offset. */
  readonly uniforms: DataView;
  private slots = 0;
  private batchLabels: string[] = [];
  private readonly errors: GPUErrors;
  private readonly readback: Readback;
  private sources = new Map<string, string>();
  keepAlive: unknown[] = [];
  /** Total dispatches and submits since start, for benchmarks and tests. */
  readonly counters = { dispatches: 0, submits: 0, reads: 0, bindGroupHits: 0, bindGroupMisses: 0 };

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterReport,
    /** The kernels, tiles and paths the ops pick on this adapter (engine/profile.ts; not the
     *  timing profiler below). Replaced only for the length of a withAdapterProfile() call. */
    public adapterProfile: AdapterProfile,
    /** Fill every new tensor's buffer with NaN first, so a kernel that misses an output shows. */
    readonly poison = false,
  ) {
    this.pool = new BufferPool(device);
    const arenaBytes = Math.min(device.limits.maxUniformBufferBindingSize, 65536);
    this.maxBatch = Math.floor(arenaBytes / UNIFORM_SLOT);
    this.arenaHost = new Uint8Array(this.maxBatch * UNIFORM_SLOT);
    this.uniforms = new DataView(this.arenaHost.buffer);
    this.arena = device.createBuffer({ size: this.arenaHost.byteLength, usage: USAGE.UNIFORM | USAGE.COPY_DST });
    this.errors = new GPUErrors(device);
    this.readback = new Readback(device, adapter.implementation, this.errors);
  }

  /**
   * How long a read or sync may wait for submitted work before the engine gives up on the
   * device. A driver that stops answering (a shader that never ends, a wedged software driver)
   * would otherwise leave a run waiting forever; a run that stops with an error resumes from its
   * checkpoint. The default is far above the longest batch measured (a t5-small training step on
   * lavapipe; BENCHMARKS.md).
   */
  get hangSeconds(): number {
    return this.readback.hangSeconds;
  }
  set hangSeconds(seconds: number) {
    this.readback.hangSeconds = seconds;
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
    this.errors.checkAlive(op);
  }

  private begin(): void {
    if (this.encoder) return;
    this.errors.openBatch();
    this.encoder = this.device.createCommandEncoder();
  }

  /**
   * The open compute pass, and the byte offset of this dispatch's uniform slot in `arena`, whose
   * first `uniformBytes` are zeroed for the dispatch to write its parameters into (`uniforms`).
   * `kernel` names the entry point (file.entry) for the profiler.
   */
  recordDispatch(label: string, uniformBytes: number, kernel = label): { pass: GPUComputePassEncoder; offset: number } {
    this.recordHeld();
    if (this.slots >= Math.min(this.maxBatch, this.profiler?.maxDispatches ?? Infinity)) this.flush();
    this.begin();
    if (this.profiler) {
      // Timestamps can only be written where a pass begins and ends: one pass per dispatch.
      if (this.pass) this.pass.end();
      this.pass = this.profiler.beginPass(this.encoder!, kernel, label);
    }
    if (!this.pass) this.pass = this.encoder!.beginComputePass();
    const offset = this.slots * UNIFORM_SLOT;
    // The slot held another dispatch's parameters in an earlier batch.
    this.arenaHost.fill(0, offset, offset + uniformBytes);
    this.slots += 1;
    this.counters.dispatches += 1;
    if (this.batchLabels.length < 64) this.batchLabels.push(label);
    return { pass: this.pass, offset };
  }

  /** The encoder with no pass open, for copies. */
  commandEncoder(): GPUCommandEncoder {
    this.recordHeld();
    this.begin();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return this.encoder!;
  }

  /** Submits everything recorded so far. */
  flush(): void {
    this.recordHeld();
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
    this.readback.lastBatch = labels;
    this.errors.closeBatch(labels);
    this.encoder = null;
    this.pass = null;
    this.slots = 0;
    this.batchLabels = [];
    this.pool.submitted();
  }

  /** Waits for all submitted work and throws the first GPU error it produced. */
  async sync(): Promise<void> {
    this.flush();
    await this.readback.wait(this.device.queue.onSubmittedWorkDone());
    await this.errors.throwPending();
  }

  /** Copies `bytes` bytes of `buffer` back to the CPU. */
  async read(buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    this.checkAlive('reading results');
    const staging = this.readback.stagingFor(bytes);
    this.commandEncoder().copyBufferToBuffer(buffer, offset, staging, 0, Math.ceil(bytes / 4) * 4);
    this.flush();
    this.counters.reads += 1;
    const out = await this.readback.copyOut(staging, bytes);
    await this.errors.throwPending();
    return out;
  }

  // ---- the held dispatch ---------------------------------------------------------------------

  private heldWork: HeldDispatch | null = null;

  /** Holds `work` back until the next recording or submit (recording any work held before). */
  hold(work: HeldDispatch): void {
    this.recordHeld();
    this.heldWork = work;
  }

  /** The work held back, if any. */
  get held(): HeldDispatch | null {
    return this.heldWork;
  }

  /** Takes `work` out of the hold without recording it: the op that changes it records it. */
  unhold(work: HeldDispatch): void {
    if (this.heldWork === work) this.heldWork = null;
  }

  private recordHeld(): void {
    const work = this.heldWork;
    if (!work) return;
    this.heldWork = null;
    work.dispatch();
  }

  /** A pooled storage buffer that only kernels recorded from now on will write. */
  allocate(bytes: number): GPUBuffer {
    return this.pool.acquire(Math.max(bytes, 4), STORAGE_USAGE, true);
  }

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
  let profile: AdapterProfile;
  try {
    profile = startingProfile(report, device);
  } catch (err) {
    device.destroy();
    throw err;
  }
  const e = new Engine(device, report, profile, options.poison ?? false);
  e.keepAlive = keepAlive;
  await e.loadSources(kernelNames);
  current = e;
  return e;
}

/**
 * Runs `fn` with `overrides` put over the adapter profile's choices (overrideProfile in
 * engine/profile_overrides.ts), and puts the profile back when fn returns, throws, or (for an
 * async fn) its promise settles. This is how tests and benchmarks force a kernel, a tile or a path:
 *   withAdapterProfile({ attention: { path: 'materialized' } }, () => attention(q, k, v))
 * Ops read the profile when they record their dispatches, and a backward records its own when
 * backward() runs it: a forced kernel that should hold for the backward too wraps backward() as
 * well (attention keeps the path its forward took either way). Calls that overlap in time (two
 * async fns awaited together) would put back each other's profile: await one before the next.
 */
export function withAdapterProfile<T>(overrides: ProfileOverrides, fn: () => T): T {
  const e = engine();
  const saved = e.adapterProfile;
  e.adapterProfile = overrideProfile(saved, overrides);
  const restore = () => {
    e.adapterProfile = saved;
  };
  let result: T;
  try {
    result = fn();
  } catch (err) {
    restore();
    throw err;
  }
  if (result instanceof Promise) return result.finally(restore) as T;
  restore();
  return result;
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
  // Nothing can read what a held dispatch would write once the device is gone.
  if (current.held) current.unhold(current.held);
  current.flush();
  current.device.destroy();
  current = null;
}
