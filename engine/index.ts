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
// pays for one guard, not one per call. test/engine/op-failure.test.ts checks none is missed.
import * as tensorOps from './tensor.ts';
import * as elementwise from './ops/elementwise.ts';
import * as reduce from './ops/reduce.ts';
import * as shape from './ops/shape.ts';
import * as softmaxOps from './ops/softmax.ts';
import * as norm from './ops/norm.ts';
import * as embeddingOps from './ops/embedding.ts';
import * as crossEntropyOps from './ops/cross_entropy.ts';
import * as dropoutOps from './ops/dropout.ts';
import * as feedForwardOps from './ops/feed_forward.ts';
import * as matmulOps from './ops/matmul.ts';
import * as attentionOps from './ops/attention/index.ts';
import * as adamw from './ops/adamw.ts';
import * as clip from './ops/clip.ts';
import { guarded } from './tensor.ts';

export const full = guarded(tensorOps.full);
export const zeros = guarded(tensorOps.zeros);
export const ones = guarded(tensorOps.ones);
export const { stridedMap, neg, exp, log, sqrt, rsqrt, relu, gelu, tanh, reciprocal, addScalar, mulScalar, powScalar, copy, add, sub, mul, div, pow, maximum, gt, lt, eq, where, maskedFill, expand, onesLike } =
  guardAll(elementwise);
export const { sum, mean, max, sumTo } = guardAll(reduce);
export const { reshape, permute, transpose, slice, concat, writeSlice } = guardAll(shape);
export const { softmax, logSoftmax } = guardAll(softmaxOps);
export const { layerNorm, rmsNorm } = guardAll(norm);
export const { embedding } = guardAll(embeddingOps);
export const { crossEntropy } = guardAll(crossEntropyOps);
export const { dropout } = guardAll(dropoutOps);
export const { feedForward } = guardAll(feedForwardOps);
export const { matmul } = guardAll(matmulOps);
export const { attention, packedAttention } = guardAll(attentionOps);
export const { adamwUpdate } = guardAll(adamw);
export const { clipStats } = guardAll(clip);

/** A module's functions, each guarded; its other exports as they are. */
function guardAll<M extends object>(module: M): M {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(module)) out[name] = typeof value === 'function' ? guarded(value as (...args: unknown[]) => unknown) : value;
  return out as M;
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
