// Tensors: a shape, a dtype and a GPU buffer, always laid out contiguously in row-major order.
//
// Several tensors may share one buffer (a reshape is a new view on the same storage), so the
// storage counts its owners and goes back to the pool when the last one is disposed.
// Memory is released deterministically: by `dispose()`, or by leaving a `tidy()` scope, which
// disposes every tensor created inside it except the ones returned or `keep()`-ed.

import { engine, hasEngine } from './runtime.ts';
import { Rng } from './random.ts';
import { Kernel, grid, type BufferArg } from './kernel.ts';
import type { GradNode } from './autograd.ts';

export type DType = 'f32' | 'i32' | 'u32';
export type TypedArray = Float32Array | Int32Array | Uint32Array;
export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

function arrayFor(dtype: DType, data: ArrayBuffer | number): TypedArray {
  const buf = data as any;
  if (dtype === 'f32') return new Float32Array(buf);
  if (dtype === 'i32') return new Int32Array(buf);
  return new Uint32Array(buf);
}

/** A buffer and its owners; it is also the binding a kernel gets (BufferArg), so that binding a
 *  tensor allocates nothing. */
class Storage implements BufferArg {
  owners = 1;
  constructor(
    readonly buffer: GPUBuffer,
    /** Bytes of the tensor's data, at most the buffer's size. */
    readonly size: number,
  ) {}
  release(): void {
    if (--this.owners === 0) engine().pool.release(this.buffer);
  }
}

// ---- scopes -----------------------------------------------------------------------------------

interface Scope {
  tensors: Set<Tensor>;
  nodes: GradNode[];
}
const scopes: Scope[] = [];

/** Frees a graph node's saved tensors, once (backward() passing it, or its scope ending). */
export function releaseNode(node: GradNode): void {
  if (node.released) return;
  node.released = true;
  for (const t of node.saved) t.dispose();
  node.saved = [];
}

/** Frees the graph nodes of a finished scope that no tensor of `kept` reaches by backward();
 *  returns the ones that survive. */
function releaseNodes(nodes: GradNode[], kept: Tensor[]): GradNode[] {
  const reachable = new Set<GradNode>();
  const stack = kept.map((t) => t.node).filter((n): n is GradNode => n !== null);
  while (stack.length) {
    const n = stack.pop()!;
    if (reachable.has(n)) continue;
    reachable.add(n);
    for (const t of n.inputs) if (t.node) stack.push(t.node);
  }
  const surviving: GradNode[] = [];
  for (const n of nodes) {
    if (reachable.has(n)) surviving.push(n);
    else releaseNode(n);
  }
  return surviving;
}

export function trackNode(n: GradNode): void {
  scopes[scopes.length - 1]?.nodes.push(n);
}

/**
 * Runs `fn`; afterwards disposes every tensor it created except those in its result (a tensor,
 * or an array or object of tensors) and those passed to `keep()`; if `fn` throws, all of them. Graph nodes created inside
 * survive only if a returned tensor can still reach them by backward().
 */
export function tidy<T>(fn: () => T): T {
  // An outermost tidy is a unit of work (a training step, a decoding step): the pool hands its
  // n-th request the buffer that served the n-th request of the last one (engine/pool.ts).
  if (scopes.length === 0 && hasEngine()) engine().pool.newEpoch();
  const scope: Scope = { tensors: new Set(), nodes: [] };
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('tidy() takes a synchronous function; await outside it');
  } catch (e) {
    // A caller that catches and goes on (the page's worker) must not lose the memory fn held.
    scopes.pop();
    for (const t of scope.tensors) t.dispose();
    releaseNodes(scope.nodes, []);
    throw e;
  }
  scopes.pop();
  const returned = collectTensors(result);
  const parent = scopes[scopes.length - 1];
  for (const t of scope.tensors) {
    if (returned.has(t)) parent?.tensors.add(t);
    else t.dispose();
  }
  const surviving = releaseNodes(scope.nodes, [...returned]);
  if (parent) parent.nodes.push(...surviving);
  return result;
}

// ---- ops that fail ----------------------------------------------------------------------------

// The tensors created while an op runs, oldest first, kept only while some guarded op is running
// (opDepth > 0) and emptied when the outermost one returns: reusing one array costs a successful op
// no allocation. A failing op owns everything from its mark on, its inner ops' outputs included.
const created: Tensor[] = [];
let opDepth = 0;

/**
 * `op`, made to dispose every tensor it created if it throws: an op called outside tidy() that
 * fails after allocating its output (a dispatch refused over a device limit) would otherwise leak
 * it. A successful op is untouched: its tensors and graph nodes go to the enclosing tidy() scope
 * as before. engine/index.ts guards every op it exports.
 */
export function guarded<F extends (...args: any[]) => unknown>(op: F): F {
  return function (this: unknown) {
    const mark = created.length;
    opDepth++;
    try {
      // `arguments` rather than a rest parameter: no array per call.
      return op.apply(this, arguments as unknown as Parameters<F>);
    } catch (e) {
      for (let i = mark; i < created.length; i++) created[i].dispose();
      created.length = mark;
      throw e;
    } finally {
      if (--opDepth === 0) created.length = 0;
    }
  } as F;
}

/** Takes a tensor out of every enclosing tidy() scope: the caller now owns it. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.tensors.delete(t);
  return t;
}

/** Disposes every tensor found in a value (tensor, array, object). */
export function dispose(value: unknown): void {
  for (const t of collectTensors(value)) t.dispose();
}

function collectTensors(value: unknown, out = new Set<Tensor>()): Set<Tensor> {
  if (value instanceof Tensor) out.add(value);
  else if (Array.isArray(value)) for (const v of value) collectTensors(v, out);
  else if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, out);
  }
  return out;
}

// ---- the tensor -------------------------------------------------------------------------------

export class Tensor {
  readonly size: number;
  requiresGrad = false;
  /** Accumulated gradient of a leaf tensor after backward(). */
  grad: Tensor | null = null;
  /** How this tensor was computed, when it needs a gradient. */
  node: GradNode | null = null;
  /** A CPU copy kept for integer tensors made from arrays (token ids), so ops like the
   *  embedding backward can plan on the CPU without a read back. */
  host: Int32Array | Uint32Array | null = null;
  private storage: Storage | null;
  /** Why the buffer went to another tensor (handOver), for the error a later use gets. */
  private spent: string | null = null;

  constructor(
    readonly shape: Shape,
    readonly dtype: DType,
    storage: Storage,
  ) {
    this.size = sizeOf(shape);
    this.storage = storage;
    scopes[scopes.length - 1]?.tensors.add(this);
    if (opDepth > 0) created.push(this);
  }

  /** An uninitialized tensor for a kernel to fill (NaN-filled when the engine poisons, so a
   *  kernel that misses an element shows in tests). */
  static empty(shape: Shape, dtype: DType = 'f32'): Tensor {
    checkShape(shape);
    const bytes = sizeOf(shape) * 4;
    const e = engine();
    const t = new Tensor(shape, dtype, new Storage(e.allocate(bytes), bytes));
    if (e.poison) fillWith(t, 0x7fc00000);
    return t;
  }

  static fromData(data: ArrayLike<number>, shape: Shape, dtype: DType = 'f32'): Tensor {
    checkShape(shape);
    const n = sizeOf(shape);
    if (data.length !== n) {
      throw new Error(`tensor: ${data.length} values do not fill shape ${fmtShape(shape)} (${n} elements)`);
    }
    const typed = arrayFor(dtype, n);
    typed.set(data);
    const e = engine();
    e.checkAlive('tensor upload');
    const t = new Tensor(shape, dtype, new Storage(e.upload(typed, n * 4), n * 4));
    if (dtype !== 'f32') t.host = typed as Int32Array | Uint32Array;
    return t;
  }

  get isDisposed(): boolean {
    return this.storage === null;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** The buffer binding for a kernel; throws if disposed. */
  arg(op = 'an op'): BufferArg {
    return this.live(op);
  }

  private live(op: string): Storage {
    if (!this.storage) {
      if (this.spent) throw new Error(`${op}: tensor ${fmtShape(this.shape)} ${this.dtype} cannot be used: ${this.spent}`);
      throw new Error(`${op}: tensor ${fmtShape(this.shape)} ${this.dtype} was disposed and cannot be used again`);
    }
    return this.storage;
  }

  /** A new tensor of another shape over the same buffer (no copy). */
  view(shape: Shape): Tensor {
    const s = this.live('reshape');
    s.owners += 1;
    const t = new Tensor(shape, this.dtype, s);
    t.host = this.host;
    return t;
  }

  async toArray(): Promise<TypedArray> {
    const s = this.live('toArray');
    const bytes = await engine().read(s.buffer, this.size * 4);
    return arrayFor(this.dtype, bytes);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item: tensor ${fmtShape(this.shape)} has ${this.size} elements, not 1`);
    return (await this.toArray())[0];
  }

  /** Overwrites the contents from the CPU. Work recorded before is submitted first, so it still
   *  sees the old values (an upload takes effect on the queue at once). */
  write(data: ArrayLike<number>): void {
    if (data.length !== this.size) {
      throw new Error(`write: ${data.length} values for tensor ${fmtShape(this.shape)} (${this.size} elements)`);
    }
    const s = this.live('write');
    const e = engine();
    e.flush();
    const typed = arrayFor(this.dtype, this.size);
    typed.set(data);
    if (this.size > 0) e.device.queue.writeBuffer(s.buffer, 0, typed);
    if (this.host) this.host = typed as Int32Array | Uint32Array;
  }

  /** Overwrites the contents with another tensor's, in the GPU command stream (no read back):
   *  in-place parameter updates. */
  assign(source: Tensor): void {
    if (source.size !== this.size || source.dtype !== this.dtype) {
      throw new Error(`assign: ${source} does not fit ${this}`);
    }
    const to = this.live('assign');
    const from = source.live('assign');
    if (this.size > 0) engine().commandEncoder().copyBufferToBuffer(from.buffer, 0, to.buffer, 0, this.size * 4);
  }

  /**
   * A new tensor, like this one, that takes over its buffer, for an op that writes its result
   * where this one's would have gone (a product's pass that adds the residual after it,
   * engine/ops/held.ts). This one is spent: using it throws `why`; disposing it does nothing.
   * Null, and nothing changes, when another tensor shares the buffer (a view would see the
   * result).
   */
  handOver(why: string): Tensor | null {
    const s = this.live('handOver');
    if (s.owners !== 1) return null;
    this.storage = null;
    this.spent = why;
    for (const scope of scopes) scope.tensors.delete(this);
    const t = new Tensor(this.shape, this.dtype, s);
    t.host = this.host;
    return t;
  }

  dispose(): void {
    if (!this.storage) return;
    this.storage.release();
    this.storage = null;
    for (const s of scopes) s.tensors.delete(this);
  }

  toString(): string {
    const state = this.spent ? ' (spent)' : this.isDisposed ? ' (disposed)' : '';
    return `Tensor${fmtShape(this.shape)} ${this.dtype}${state}`;
  }
}

function checkShape(shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`tensor: invalid shape ${fmtShape(shape)}`);
  }
}

// ---- creation ---------------------------------------------------------------------------------

/** A tensor from a flat or nested array; the shape is inferred from nesting when not given. */
export function tensor(data: ArrayLike<number> | NestedArray, shape?: Shape, dtype: DType = 'f32'): Tensor {
  if (shape === undefined) {
    shape = inferShape(data);
    data = flatten(data);
  } else if (isNested(data)) {
    data = flatten(data);
  }
  return Tensor.fromData(data as ArrayLike<number>, shape, dtype);
}

export type NestedArray = number | readonly NestedArray[];

function isNested(d: unknown): boolean {
  return Array.isArray(d) && d.length > 0 && Array.isArray(d[0]);
}

function inferShape(d: unknown): number[] {
  const shape: number[] = [];
  let x: any = d;
  while (Array.isArray(x) || ArrayBuffer.isView(x)) {
    shape.push((x as any).length);
    x = (x as any)[0];
  }
  return shape;
}

function flatten(d: unknown): number[] {
  if (typeof d === 'number') return [d];
  const out: number[] = [];
  const walk = (x: any) => {
    if (typeof x === 'number') out.push(x);
    else for (const v of x) walk(v);
  };
  walk(d);
  return out;
}

const fillKernel = new Kernel('fill');

function fillWith(t: Tensor, bits: number): void {
  const label = `fill ${fmtShape(t.shape)}`;
  fillKernel.dispatch({ label, buffers: { out: t.arg(label) }, params: { n: t.size, bits }, workgroups: grid(t.size, 256) });
}

/** A tensor of one repeated value, filled on the GPU (nothing is uploaded). */
export function full(shape: Shape, value: number, dtype: DType = 'f32'): Tensor {
  checkShape(shape);
  const t = new Tensor(shape, dtype, new Storage(engine().allocate(sizeOf(shape) * 4), sizeOf(shape) * 4));
  const one = arrayFor(dtype, 1);
  one[0] = value;
  fillWith(t, new Uint32Array(one.buffer)[0]);
  return t;
}

export const zeros = (shape: Shape, dtype: DType = 'f32') => full(shape, 0, dtype);
export const ones = (shape: Shape, dtype: DType = 'f32') => full(shape, 1, dtype);

/** Normal samples from a seeded generator (the same values in every runtime). */
export function randn(shape: Shape, options: { seed: number; mean?: number; std?: number }): Tensor {
  const rng = new Rng(options.seed);
  const { mean = 0, std = 1 } = options;
  return Tensor.fromData(Float32Array.from({ length: sizeOf(shape) }, () => mean + std * rng.nextNormal()), shape);
}

/** Uniform samples in [lo, hi) from a seeded generator. */
export function randu(shape: Shape, options: { seed: number; lo?: number; hi?: number }): Tensor {
  const rng = new Rng(options.seed);
  const { lo = 0, hi = 1 } = options;
  return Tensor.fromData(Float32Array.from({ length: sizeOf(shape) }, () => lo + (hi - lo) * rng.nextFloat()), shape);
}
