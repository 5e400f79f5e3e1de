// The test suite's tools are the ones the browser's kernel check uses too (reference/): one
// engine per test file with poisoned buffers, seeded data, closeness, finite differences.

import { withAdapterProfile } from '../engine/index.ts';

export * from '../reference/check.ts';

/** Runs fn with `lanes` invocations per row in the row-wise kernels (softmax, the norms,
 *  cross-entropy), forced through the adapter profile; null leaves the adapter's choice. Wrap the
 *  backward too: it reads the profile when it runs. */
export function withRowThreads<T>(lanes: number | null, fn: () => T): T {
  return withAdapterProfile(lanes === null ? {} : { rows: { threadsPerRow: lanes } }, fn);
}
