// The engine's public API.

export { initEngine, engine, destroyEngine, hasEngine } from './runtime.ts';
export { GPUDeviceLostError, GPUHangError, GPUValidationError, GPUOutOfMemoryError } from './errors.ts';
export type { ProfileRecord, ProfileResult } from './profiler.ts';
export { describeAdapter, GPUUnavailableError, type AdapterReport } from './device.ts';
export { Tensor, tensor, full, zeros, ones, randn, randu, tidy, keep, dispose, fmtShape, sizeOf, type DType, type Shape, type TypedArray } from './tensor.ts';
export { backward, noGrad, param, isGradEnabled, record } from './autograd.ts';
export * from './ops/elementwise.ts';
export * from './ops/reduce.ts';
export * from './ops/shape.ts';
export * from './ops/softmax.ts';
export * from './ops/norm.ts';
export * from './ops/embedding.ts';
export * from './ops/cross_entropy.ts';
export * from './ops/dropout.ts';
export { feedForward } from './ops/feed_forward.ts';
export { matmul, type MatmulOptions, type MatmulVariant } from './ops/matmul.ts';
export { attention, type AttentionOptions } from './ops/attention.ts';
export { FlatLayout, segmentLength } from './flat.ts';
export { adamwUpdate, type AdamWFlats, type AdamWUpdate } from './ops/adamw.ts';
export { clipStats, type ClipOptions } from './ops/clip.ts';

import { bindAutogradOps } from './autograd.ts';
import { add, onesLike } from './ops/elementwise.ts';
import { engine } from './runtime.ts';

bindAutogradOps({ add, onesLike });

/** Bytes held by the buffer pool (in use, free, waiting). */
export function memoryStats() {
  return engine().memoryStats();
}

/** Submits recorded work, waits for the GPU, and throws any GPU error it produced. */
export function sync(): Promise<void> {
  return engine().sync();
}
export { Rng, deriveSeed } from './random.ts';
