// What can go wrong on the GPU, and the bookkeeping that notices it.
//
// Validation and out-of-memory errors of a batch are captured with error scopes and thrown at the
// next read back, carrying the labels (op and shapes) that Dawn quotes. A lost device (destroyed,
// crashed, or given up on after a hang) makes every later op throw instead of returning zeros.

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

/** The errors of one device's submitted batches, and whether it is lost. */
export class GPUErrors {
  private scopeChecks: Promise<string | null>[] = [];
  private uncaptured: string[] = [];
  private lostMessage: string | null = null;

  constructor(private readonly device: GPUDevice) {
    device.lost.then((info) => this.markLost(`${info.reason}: ${info.message}`));
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.uncaptured.push(ev.error.message);
    };
  }

  /** Every later op will throw, quoting `reason` (the first reason given, if several). */
  markLost(reason: string): void {
    this.lostMessage ??= reason;
  }

  /** Throws if the device is lost. */
  checkAlive(op: string): void {
    if (this.lostMessage !== null) {
      throw new GPUDeviceLostError(
        `the GPU device was lost (${this.lostMessage}) before ${op}; every tensor on it is gone. ` +
          'Re-run with a fresh engine (initEngine); if it recurs, the driver crashed or ran out of memory.',
      );
    }
  }

  /** Opens the scopes that catch a batch's errors, before its first command is encoded. */
  openBatch(): void {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
  }

  /** Closes them once the batch is submitted; `labels` name its dispatches for the message. */
  closeBatch(labels: string): void {
    const validation = this.device.popErrorScope();
    const oom = this.device.popErrorScope();
    this.scopeChecks.push(
      Promise.all([validation, oom]).then(([v, o]) => {
        if (o) return `oom:out of GPU memory while running [${labels}]: ${o.message}`;
        if (v) return `validation:${v.message}`;
        return null;
      }),
    );
  }

  /** Throws the first error the batches submitted so far produced (or a lost device). */
  async throwPending(): Promise<void> {
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
}
