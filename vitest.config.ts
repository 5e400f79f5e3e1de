import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { withDriverThreads } from './engine/index.ts';

// Each test file opens its own WebGPU device; on a 2-core machine with a software adapter, two
// files at a time keep both cores busy.
const workers = 2;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: workers,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: {
      XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp',
      // Files that share the cores (withDriverThreads, engine/device.ts): on 2 cores no driver
      // pool, which took the suite 188-196 s against 206-217 s with pools of 4.
      LP_NUM_THREADS: withDriverThreads(process.env, workers, availableParallelism()).LP_NUM_THREADS,
    },
  },
});
