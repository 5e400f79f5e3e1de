// Waiting for the GPU without spinning a CPU core.
//
// Dawn's Node bindings poll for finished GPU work by rescheduling themselves with setImmediate for
// as long as anything is pending, a busy loop that takes a whole core from a software adapter's
// own worker threads while we wait for them. Dawn looks setImmediate up on every poll, so during
// the wait polls are spaced 1 ms apart instead (measured on lavapipe: less CPU time per read
// back), and 4 ms apart once a wait has lasted QUICK_POLLS polls. Short waits (a decode step)
// keep their 1 ms latency; a long one (a training step, read one step late while the next is
// already queued, so a later wake-up costs nothing) polls less often.
// Each poll takes main-thread time that, on a software adapter with few cores, the driver's
// threads could have had: fewer polls measured faster on a short training run (BENCHMARKS.md).

import type { AdapterReport } from './device.ts';

const QUICK_POLLS = 8;
const SLOW_POLL_MS = 4;

// The patch is on the global, so its bookkeeping is module-wide too.
let waiting = 0;
let realSetImmediate: unknown = null;

/** `pending`, awaited with Dawn's polling slowed down (Dawn only, in Node or Deno; elsewhere just
 *  `pending`). */
export async function politely<T>(implementation: AdapterReport['implementation'], pending: Promise<T>): Promise<T> {
  const g = globalThis as any;
  if (implementation !== 'dawn' || typeof g.setImmediate !== 'function') return pending;
  // Waits may overlap (two reads in flight): the first one in swaps, the last one out restores.
  if (waiting++ === 0) {
    realSetImmediate = g.setImmediate;
    let polls = 0;
    g.setImmediate = (fn: (...a: unknown[]) => void, ...a: unknown[]) => setTimeout(fn, polls++ < QUICK_POLLS ? 1 : SLOW_POLL_MS, ...a);
  }
  try {
    return await pending;
  } finally {
    if (--waiting === 0) g.setImmediate = realSetImmediate;
  }
}
