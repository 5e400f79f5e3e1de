// A flat layout: many tensors packed back to back into one 1-D f32 tensor, so that one kernel
// dispatch can treat all of them as a single array (the optimizer updates many parameters with
// one dispatch and sums their squared gradients in one pass). A flat tensor is bound whole, so it
// can hold no more than one storage binding (maxStorageBufferBindingSize); training/adamw.ts
// spreads the parameters of a larger model over several layouts.
//
// Kernels bind whole buffers from offset 0 and WGSL cannot index an array of buffers, so the
// tensors are copied in (`gather`) and out (`scatter`) with buffer-to-buffer copies recorded in
// the same command stream as the kernels: no dispatch, no read back, ordered with the kernels
// around them. Each segment starts at a multiple of 4 elements and the total is a multiple of 4,
// so vec4 kernels never see a vec4 straddle two tensors; the padding between segments is never
// written by a copy, so it keeps whatever the flat tensor held there (zero, from `zeros()`).

import { engine } from './runtime.ts';
import { Tensor, fmtShape, full, keep, sizeOf, type Shape } from './tensor.ts';
import { sameShape } from './shape.ts';

const ALIGN = 4;

/** Elements a tensor of `size` elements takes in a flat layout: its segment, padding included. */
export function segmentLength(size: number): number {
  return Math.ceil(size / ALIGN) * ALIGN;
}

export class FlatLayout {
  /** Element offset of each tensor's segment. */
  readonly offsets: readonly number[];
  readonly sizes: readonly number[];
  /** Elements in the flat tensor, padding included; a multiple of 4. */
  readonly length: number;

  constructor(readonly shapes: readonly Shape[]) {
    const offsets: number[] = [];
    let at = 0;
    for (const shape of shapes) {
      offsets.push(at);
      at += segmentLength(sizeOf(shape));
    }
    this.offsets = offsets;
    this.sizes = shapes.map(sizeOf);
    this.length = at;
  }

  /** A zero-filled flat tensor for this layout, owned by the caller (kept out of tidy scopes). */
  zeros(): Tensor {
    return keep(full([this.length], 0));
  }

  /** Copies each part into its segment of `flat`; a null part zero-fills its segment. */
  gather(parts: readonly (Tensor | null)[], flat: Tensor): void {
    const label = `flat gather of ${parts.length} tensors into ${fmtShape(flat.shape)}`;
    this.check(label, parts, flat);
    const dst = flat.arg(label).buffer;
    const enc = engine().commandEncoder();
    parts.forEach((t, i) => {
      const bytes = this.sizes[i] * 4;
      if (bytes === 0) return;
      if (t) enc.copyBufferToBuffer(t.arg(label).buffer, 0, dst, this.offsets[i] * 4, bytes);
      else enc.clearBuffer(dst, this.offsets[i] * 4, bytes);
    });
  }

  /** Copies each segment of `flat` back into its part (in place: the parts' buffers change). */
  scatter(flat: Tensor, parts: readonly Tensor[]): void {
    const label = `flat scatter of ${fmtShape(flat.shape)} into ${parts.length} tensors`;
    this.check(label, parts, flat);
    const src = flat.arg(label).buffer;
    const enc = engine().commandEncoder();
    parts.forEach((t, i) => {
      const bytes = this.sizes[i] * 4;
      if (bytes > 0) enc.copyBufferToBuffer(src, this.offsets[i] * 4, t.arg(label).buffer, 0, bytes);
    });
  }

  /** The segments of a flat host array, one copy per tensor. */
  split(flat: ArrayLike<number>): Float32Array[] {
    if (flat.length !== this.length) throw new Error(`flat split: ${flat.length} values for a layout of ${this.length}`);
    const all = flat instanceof Float32Array ? flat : Float32Array.from(flat);
    return this.offsets.map((o, i) => all.slice(o, o + this.sizes[i]));
  }

  /** A flat host array from one array per tensor; the padding is zero. */
  join(parts: readonly ArrayLike<number>[]): Float32Array {
    if (parts.length !== this.shapes.length) throw new Error(`flat join: ${parts.length} arrays for a layout of ${this.shapes.length} tensors`);
    const out = new Float32Array(this.length);
    parts.forEach((p, i) => {
      if (p.length !== this.sizes[i]) {
        throw new Error(`flat join: array ${i} has ${p.length} values, tensor ${fmtShape(this.shapes[i])} has ${this.sizes[i]}`);
      }
      out.set(p, this.offsets[i]);
    });
    return out;
  }

  private check(label: string, parts: readonly (Tensor | null)[], flat: Tensor): void {
    engine().checkAlive(label);
    if (flat.dtype !== 'f32' || !sameShape(flat.shape, [this.length])) {
      throw new Error(`${label}: the flat tensor must be f32 ${fmtShape([this.length])}, got ${flat.dtype} ${fmtShape(flat.shape)}`);
    }
    if (parts.length !== this.shapes.length) throw new Error(`${label}: the layout has ${this.shapes.length} tensors`);
    parts.forEach((t, i) => {
      if (t && (t.dtype !== 'f32' || !sameShape(t.shape, this.shapes[i]))) {
        throw new Error(`${label}: tensor ${i} is ${t.dtype} ${fmtShape(t.shape)}, the layout expects f32 ${fmtShape(this.shapes[i])}`);
      }
    });
  }
}
