// Size-bucketed pool of GPU buffers.
//
// Creating a GPUBuffer is slow and fragments memory, so released buffers are kept and handed
// out again for requests of the same bucket. Buckets are quarter steps between powers of two
// (e.g. 1024, 1280, 1536, 1792, 2048), so no request wastes more than a quarter of its buffer.
//
// When may a released buffer be reused? Work is recorded into a command encoder that is only
// submitted later, while `queue.writeBuffer` takes effect at once on the queue timeline. A buffer
// released by a not-yet-submitted dispatch and handed to a `writeBuffer` would be overwritten
// before that dispatch ran. So a buffer released in the open batch is marked pending: kernels may
// reuse it at once (dispatches in one pass run in recording order, and WebGPU orders a later write
// after an earlier read of the same buffer), but uploads get it only once its batch is submitted,
// when every later queue operation is ordered after the old use.
//
// Which free buffer? The kernels cache a bind group per set of buffers (engine/kernel.ts, which
// binds whole buffers, whatever the tensor's size), and a bind group is only reused if a dispatch
// gets the very same buffers again. A training step makes the same requests in the same order
// every step, so the pool remembers which buffer served the n-th request in the last unit of work
// (an epoch: tensor.ts starts one with each outermost tidy()) and hands that buffer out again for
// the n-th request of the next when it is free and big enough, even when batches of other lengths
// ask for other sizes. Otherwise it takes the most recently released buffer of the right size.

// The GPUBufferUsage global exists in Node only once Dawn has loaded, after this module is
// evaluated, so the spec's flag values are spelled out here.
export const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80, QUERY_RESOLVE: 0x200 };

export interface MemoryStats {
  /** Bytes in buffers owned by the pool, in use or free. */
  allocatedBytes: number;
  /** Bytes in buffers handed out and not yet released. */
  inUseBytes: number;
  /** Bytes in free buffers waiting for reuse. */
  freeBytes: number;
  /** Bytes released but waiting for their batch to be submitted. */
  pendingBytes: number;
  buffers: number;
}

export function bucketSize(bytes: number): number {
  if (bytes <= 256) return 256;
  const step = 2 ** Math.max(8, Math.floor(Math.log2(bytes)) - 2);
  return Math.ceil(bytes / step) * step;
}

interface Released {
  buffer: GPUBuffer;
  size: number;
  /** Released in the batch that is still being recorded. */
  pending: boolean;
}

/** What the pool needs of a buffer it made, kept because Dawn's getters (buffer.size,
 *  buffer.usage) call into C++, about half a microsecond each, on every request and release. */
interface Owned {
  size: number;
  /** Its list in `free`. */
  key: string;
  /** Its entry in that list while it is released. */
  released: Released | null;
}

export class BufferPool {
  /** Released buffers per size and usage, the most recently released last. */
  private free = new Map<string, Released[]>();
  private owned = new Map<GPUBuffer, Owned>();
  private pendingList: Released[] = [];
  /** Buffers handed out per usage, in request order, in the last epoch and in this one. */
  private lastEpoch = new Map<number, GPUBuffer[]>();
  private thisEpoch = new Map<number, GPUBuffer[]>();
  private stats: MemoryStats = { allocatedBytes: 0, inUseBytes: 0, freeBytes: 0, pendingBytes: 0, buffers: 0 };

  constructor(private device: GPUDevice) {}

  /** `forKernel`: the buffer will only be written by dispatches recorded from now on, so a
   *  buffer released earlier in the open batch will do. */
  acquire(bytes: number, usage: GPUBufferUsageFlags, forKernel = false): GPUBuffer {
    const size = bucketSize(bytes);
    const usable = (r: Released) => forKernel || !r.pending;
    const served = this.thisEpoch.get(usage) ?? [];
    // The buffer of the same request last time, if it is free and big enough: a training step's
    // batches change their lengths, and with them the sizes asked for, so each request's buffer
    // grows to the largest it has served (memory: that of the largest step) and then stays.
    const hint = this.lastEpoch.get(usage)?.[served.length];
    const hinted = hint && this.owned.get(hint); // none once trim() destroyed it
    let taken = hinted && hinted.size >= size ? this.take(hint!, usable) : undefined;
    if (!taken) {
      const list = this.free.get(key(size, usage));
      let i = list ? list.length - 1 : -1;
      while (i >= 0 && !usable(list![i])) i--;
      if (i >= 0) taken = this.take(list![i].buffer, usable);
    }
    let buffer = taken;
    if (!buffer) {
      const maxSize = this.device.limits.maxBufferSize;
      if (size > maxSize) {
        throw new Error(`GPU buffer of ${bytes} bytes exceeds this adapter's maxBufferSize (${maxSize}); use a smaller batch or model`);
      }
      buffer = this.device.createBuffer({ size, usage });
      this.owned.set(buffer, { size, key: key(size, usage), released: null });
      this.stats.allocatedBytes += size;
      this.stats.buffers += 1;
    }
    this.stats.inUseBytes += this.owned.get(buffer)!.size;
    served.push(buffer);
    this.thisEpoch.set(usage, served);
    return buffer;
  }

  /** Takes a released buffer out of the free lists, if it is there and usable. */
  private take(buffer: GPUBuffer, usable: (r: Released) => boolean): GPUBuffer | undefined {
    const owned = this.owned.get(buffer)!;
    const r = owned.released;
    if (!r || !usable(r)) return undefined;
    const list = this.free.get(owned.key)!;
    list.splice(list.indexOf(r), 1);
    owned.released = null;
    if (r.pending) {
      this.stats.pendingBytes -= r.size;
      r.pending = false;
    } else {
      this.stats.freeBytes -= r.size;
    }
    return buffer;
  }

  /** Hands the buffer back; uploads may reuse it once the current batch is submitted. */
  release(buffer: GPUBuffer): void {
    const owned = this.owned.get(buffer)!;
    this.stats.inUseBytes -= owned.size;
    this.stats.pendingBytes += owned.size;
    const r = { buffer, size: owned.size, pending: true };
    this.pendingList.push(r);
    push(this.free, owned.key, r);
    owned.released = r;
  }

  /** Called right after a batch is submitted. */
  submitted(): void {
    for (const r of this.pendingList) {
      if (!r.pending) continue;
      r.pending = false;
      this.stats.pendingBytes -= r.size;
      this.stats.freeBytes += r.size;
    }
    this.pendingList = [];
  }

  /** Destroys every free buffer (in-use ones are untouched; released ones of the open batch wait). */
  trim(): void {
    for (const [k, list] of this.free) {
      const keep = list.filter((r) => r.pending);
      for (const r of list) {
        if (r.pending) continue;
        this.stats.allocatedBytes -= r.size;
        this.stats.freeBytes -= r.size;
        this.stats.buffers -= 1;
        this.owned.delete(r.buffer);
        r.buffer.destroy();
      }
      this.free.set(k, keep);
    }
  }

  memoryStats(): MemoryStats {
    return { ...this.stats };
  }

  /** Starts a unit of work whose requests should get the buffers of the last one's. */
  newEpoch(): void {
    this.lastEpoch = this.thisEpoch;
    this.thisEpoch = new Map();
  }
}

function push<T>(map: Map<string, T[]>, k: string, b: T): void {
  let list = map.get(k);
  if (!list) map.set(k, (list = []));
  list.push(b);
}

function key(size: number, usage: number): string {
  return `${size}:${usage}`;
}
