// Size-bucketed pool of GPU buffers.
//
// Creating a GPUBuffer is slow and fragments memory, so released buffers are kept and handed
// out again for requests of the same bucket. Buckets are quarter steps between powers of two
// (e.g. 1024, 1280, 1536, 1792, 2048), so no request wastes more than a quarter of its buffer.
//
// When may a released buffer be reused? Work is recorded into a command encoder that is only
// submitted later, while `queue.writeBuffer` takes effect at once on the queue timeline. A buffer
// released by a not-yet-submitted dispatch and handed to a `writeBuffer` would be overwritten
// before that dispatch ran. So a buffer released in the open batch is parked: kernels may reuse
// it at once (dispatches in one pass run in recording order, and WebGPU orders a later write
// after an earlier read of the same buffer), but uploads get it only once its batch is
// submitted, when every later queue operation is ordered after the old use.

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

export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  private pending = new Map<string, GPUBuffer[]>();
  private stats: MemoryStats = { allocatedBytes: 0, inUseBytes: 0, freeBytes: 0, pendingBytes: 0, buffers: 0 };

  constructor(private device: GPUDevice) {}

  /** `forKernel`: the buffer will only be written by dispatches recorded from now on, so a
   *  buffer released earlier in the open batch will do. */
  acquire(bytes: number, usage: GPUBufferUsageFlags, forKernel = false): GPUBuffer {
    const size = bucketSize(bytes);
    const k = key(size, usage);
    let buffer = forKernel ? this.pending.get(k)?.pop() : undefined;
    if (buffer) {
      this.stats.pendingBytes -= size;
    } else if ((buffer = this.free.get(k)?.pop())) {
      this.stats.freeBytes -= size;
    } else {
      const maxSize = this.device.limits.maxBufferSize;
      if (size > maxSize) {
        throw new Error(`GPU buffer of ${bytes} bytes exceeds this adapter's maxBufferSize (${maxSize}); use a smaller batch or model`);
      }
      buffer = this.device.createBuffer({ size, usage });
      this.stats.allocatedBytes += size;
      this.stats.buffers += 1;
    }
    this.stats.inUseBytes += size;
    return buffer;
  }

  /** Hands the buffer back; it becomes reusable once the current batch is submitted. */
  release(buffer: GPUBuffer): void {
    this.stats.inUseBytes -= buffer.size;
    this.stats.pendingBytes += buffer.size;
    push(this.pending, key(buffer.size, buffer.usage), buffer);
  }

  /** Called right after a batch is submitted. */
  submitted(): void {
    for (const [k, list] of this.pending) for (const b of list) push(this.free, k, b);
    this.stats.freeBytes += this.stats.pendingBytes;
    this.stats.pendingBytes = 0;
    this.pending.clear();
  }

  /** Destroys every free buffer (in-use ones are untouched). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.stats.allocatedBytes -= b.size;
        this.stats.buffers -= 1;
        b.destroy();
      }
    }
    this.free.clear();
    this.stats.freeBytes = 0;
  }

  memoryStats(): MemoryStats {
    return { ...this.stats };
  }
}

function push(map: Map<string, GPUBuffer[]>, k: string, b: GPUBuffer): void {
  let list = map.get(k);
  if (!list) map.set(k, (list = []));
  list.push(b);
}

function key(size: number, usage: number): string {
  return `${size}:${usage}`;
}
