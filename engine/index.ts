// The engine's public API.

export { initEngine, engine, destroyEngine, hasEngine, withAdapterProfile } from './runtime.ts';
export { describeProfile, type AdapterProfile, type ProfileOverrides } from './profile.ts';
export { ProfileOverrideError } from './profile_overrides.ts';
export { GPUDeviceLostError, GPUHangError, GPUValidationError, GPUOutOfMemoryError } from './errors.ts';
export type { ProfileRecord, ProfileResult } from './profiler.ts';
export { describeAdapter, GPUUnavailableError, withDriverThreads, type AdapterReport } from './device.ts';
export { Tensor, tensor, randn, randu, tidy, keep, dispose, fmtShape, sizeOf, type DType, type Shape, type TypedArray } from './tensor.ts';
export { backward, noGrad, param, isGradEnabled, record } from './autograd.ts';
export type { CrossEntropyOptions } from './ops/cross_entropy.ts';
export type { MatmulOptions, MatmulVariant } from './ops/matmul.ts';
export type { AttentionOptions, AttentionPath, PackedInputs } from './ops/attention/index.ts';
export type { AdamWFlats, AdamWUpdate } from './ops/adamw.ts';
export type { ClipOptions } from './ops/clip.ts';
export { FlatLayout, segmentLength } from './flat.ts';

// Every op is exported guarded (engine/tensor.ts guarded()): one that throws after allocating,
// outside any tidy(), frees what it made. Only here, at the public boundary, so an op calling ops
// pays for one guard, not one per call. The ops are those registered in engine/ops/index.ts;
// test/engine/op-failure.test.ts checks that each is exported here, guarded, and nothing else.
import { OP_MODULES } from './ops/index.ts';
import { guarded } from './tensor.ts';

const ops = guardAll(OP_MODULES);
export const { full, zeros, ones } = ops.tensor;
export const { stridedMap, neg, exp, log, sqrt, rsqrt, relu, gelu, tanh, reciprocal, addScalar, mulScalar, powScalar, copy, add, sub, mul, div, pow, maximum, gt, lt, eq, where, maskedFill, expand, onesLike } =
  ops.elementwise;
export const { sum, mean, max, sumTo } = ops.reduce;
export const { reshape, permute, transpose, slice, concat, writeSlice } = ops.shape;
export const { softmax, logSoftmax } = ops.softmax;
export const { layerNorm, rmsNorm } = ops.norm;
export const { embedding } = ops.embedding;
export const { crossEntropy } = ops.crossEntropy;
export const { dropout } = ops.dropout;
export const { feedForward } = ops.feedForward;
export const { matmul } = ops.matmul;
export const { attention, packedAttention } = ops.attention;
export const { adamwUpdate } = ops.adamw;
export const { clipStats } = ops.clip;
export { OP_NAMES } from './ops/index.ts';

/** Each registered module with its functions guarded. */
function guardAll<R extends Record<string, object>>(registry: R): R {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [key, module] of Object.entries(registry)) {
    out[key] = {};
    for (const [name, value] of Object.entries(module)) out[key][name] = typeof value === 'function' ? guarded(value as (...args: unknown[]) => unknown) : value;
  }
  return out as R;
}

import { engine } from './runtime.ts';

/** Bytes held by the buffer pool (in use, free, waiting). */
export function memoryStats() {
  return engine().memoryStats();
}

/** Submits recorded work, waits for the GPU, and throws any GPU error it produced. */
export function sync(): Promise<void> {
  return engine().sync();
}
export { Rng, deriveSeed } from './random.ts';
