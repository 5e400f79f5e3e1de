// A compute kernel: one entry point of one kernels/*.wgsl file.
//
// Everything about how to call a kernel is read from its WGSL with wgsl_reflect: which bindings
// it has (read-only storage, read-write storage, uniform), and the layout of its uniform struct,
// so ops pass buffers and parameters by the names the WGSL gives them and no layout is ever
// written by hand. Pipelines are cached per set of override constants, bind groups per set of
// buffers (training repeats the same pattern every step, so most bind groups are reused).
//
// Numbers both sides must agree on (flag bits, workgroup sizes, array bounds) are written in the
// WGSL as module-scope `const`s, and an op that mirrors them declares its values (`consts`): they
// are compared when the kernel is reflected, so a drift stops the first dispatch with the file,
// the name and both values instead of computing something else.

// The package's "main" is a CommonJS build inside an ESM package, which Node refuses; load its
// ES module build by path.
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { engine, registerKernelFile, UNIFORM_SLOT } from './runtime.ts';

export interface BufferArg {
  buffer: GPUBuffer;
  /** Bytes bound, starting at offset 0. */
  size: number;
}

/** Values for the kernel's uniform struct, by member name. */
export type Params = Record<string, number | ArrayLike<number>>;

/** What one dispatch of a kernel takes. */
export interface DispatchArgs {
  label: string;
  buffers: Record<string, BufferArg>;
  params?: Params;
  constants?: Record<string, number>;
  workgroups: readonly [number, number?, number?];
}

interface Member {
  name: string;
  offset: number;
  /** 'f32' | 'i32' | 'u32' */
  scalar: string;
  /** Scalars in the member (1 for a scalar, 4 for vec4, 4*N for array<vec4, N>). */
  count: number;
}

interface Layout {
  bindings: { name: string; binding: number; type: GPUBufferBindingType }[];
  uniform: { name: string; binding: number; size: number; members: Member[] } | null;
}

// What the bind-group cache needs of a buffer: an id for its key, and the size. Dawn's getters
// (buffer.size) call into C++ at about half a microsecond each, several times a dispatch; a
// buffer's size never changes, so it is read once.
interface BufferInfo {
  id: number;
  size: number;
}
let nextId = 1;
const bufferInfo = new WeakMap<GPUBuffer, BufferInfo>();
function infoOf(b: GPUBuffer): BufferInfo {
  let info = bufferInfo.get(b);
  if (info === undefined) bufferInfo.set(b, (info = { id: nextId++, size: b.size }));
  return info;
}

/** buffer.size, read from Dawn once per buffer. */
export function bufferSize(b: GPUBuffer): number {
  return infoOf(b).size;
}

// Per kernel entry point. Every live bind group holds a descriptor set in the driver; lavapipe
// crashed allocating descriptor pools once tens of thousands were alive, and a training step
// reuses far fewer than this (its buffers come back from the pool in the same order each step).
const MAX_CACHED_BIND_GROUPS = 256;

export interface KernelOptions {
  /** Module-scope `const`s of the WGSL that the op keeps its own copy of, by name. */
  consts?: Record<string, number>;
}

export class Kernel {
  private layout: Layout | null = null;
  private bindGroupLayout: GPUBindGroupLayout | null = null;
  private pipelines = new Map<string, GPUComputePipeline>();
  private bindGroups = new Map<string, GPUBindGroup>();

  /** `file` names kernels/<file>.wgsl; `entry` the @compute function in it. */
  constructor(
    readonly file: string,
    readonly entry = 'main',
    private readonly options: KernelOptions = {},
  ) {
    registerKernelFile(file);
  }

  private reflect(): Layout {
    if (this.layout) return this.layout;
    const r = new WgslReflect(engine().source(this.file));
    // The reflector's table of the module-scope constants it could evaluate to a number (a
    // vector-valued one is left out). It is an internal of the library, typed in its .d.ts: were
    // a later version to drop or move it, this throws rather than passing unchecked.
    const wgslConsts: Map<string, number> = r._constValues;
    for (const [name, value] of Object.entries(this.options.consts ?? {})) {
      const wgsl = wgslConsts.get(name);
      if (wgsl === undefined) throw new Error(`kernels/${this.file}.wgsl declares no numeric const ${name} (the op expects ${value})`);
      if (wgsl !== value) throw new Error(`kernels/${this.file}.wgsl: const ${name} is ${wgsl}, but the op that runs it has ${value}; change both together`);
    }
    const fn = r.entry.compute.find((f) => f.name === this.entry);
    if (!fn) throw new Error(`kernels/${this.file}.wgsl has no @compute fn ${this.entry}`);
    const layout: Layout = { bindings: [], uniform: null };
    for (const res of fn.resources) {
      if (res.group !== 0) throw new Error(`kernels/${this.file}.wgsl: only @group(0) is supported (${res.name})`);
      if (res.resourceType === 0 /* uniform */) {
        const t: any = res.type;
        const members: Member[] = t.members.map((m: any) => ({
          name: m.name,
          offset: m.offset,
          scalar: m.type.format?.name ?? m.type.name,
          count: m.size / 4,
        }));
        if (t.size > UNIFORM_SLOT) throw new Error(`kernels/${this.file}.wgsl: uniform struct over ${UNIFORM_SLOT} bytes`);
        layout.uniform = { name: res.name, binding: res.binding, size: t.size, members };
      } else {
        layout.bindings.push({
          name: res.name,
          binding: res.binding,
          type: res.access === 'read' ? 'read-only-storage' : 'storage',
        });
      }
    }
    return (this.layout = layout);
  }

  private getPipeline(constants: Record<string, number>): GPUComputePipeline {
    // Built by hand, once a dispatch: JSON.stringify took a larger share of a step's JavaScript
    // in a CPU profile, and so did comparing values against every cached pipeline in turn (a
    // matmul entry point has dozens; BENCHMARKS.md).
    let key = '';
    for (const name in constants) key += `${name}=${constants[name]} `;
    const cached = this.pipelines.get(key);
    if (cached) return cached;
    const { device } = engine();
    const layout = this.reflect();
    if (!this.bindGroupLayout) {
      const entries: GPUBindGroupLayoutEntry[] = layout.bindings.map((b) => ({
        binding: b.binding,
        visibility: 4 /* GPUShaderStage.COMPUTE */,
        buffer: { type: b.type },
      }));
      if (layout.uniform) {
        // A dynamic offset picks the dispatch's slot of the uniform arena at setBindGroup time,
        // so the slot is not part of the bind group and groups can be reused from step to step.
        entries.push({ binding: layout.uniform.binding, visibility: 4, buffer: { type: 'uniform', hasDynamicOffset: true } });
      }
      this.bindGroupLayout = device.createBindGroupLayout({ label: `${this.file}.${this.entry}`, entries });
    }
    const module = device.createShaderModule({ label: this.file, code: engine().source(this.file) });
    const pipeline = device.createComputePipeline({
      label: `${this.file}.${this.entry} ${key}`,
      layout: device.createPipelineLayout({ bindGroupLayouts: [this.bindGroupLayout] }),
      compute: { module, entryPoint: this.entry, constants },
    });
    this.pipelines.set(key, pipeline);
    return pipeline;
  }

  /** Throws unless `params` fill the kernel's uniform struct: every member, within its room,
   *  and nothing else. */
  private checkParams(params: Params, label: string): void {
    const u = this.reflect().uniform;
    const names = Object.keys(params);
    if (!u) {
      if (names.length > 0) throw new Error(`${label}: kernel ${this.file}.${this.entry} takes no parameters`);
      return;
    }
    for (const m of u.members) {
      const v = params[m.name];
      if (v === undefined) throw new Error(`${label}: kernel ${this.file}.${this.entry} needs parameter '${m.name}'`);
      const length = typeof v === 'number' ? 1 : v.length;
      if (length > m.count) throw new Error(`${label}: parameter '${m.name}' has ${length} values, room for ${m.count}`);
    }
    // Every member is present, so as many names as members means no stranger among them.
    if (names.length === u.members.length) return;
    for (const name of names) {
      if (!u.members.some((m) => m.name === name)) {
        throw new Error(`${label}: kernel ${this.file}.${this.entry} has no parameter '${name}'`);
      }
    }
  }

  /** Writes checked `params` into the uniform arena slot at `offset` (zeroed by recordDispatch). */
  private writeParams(params: Params, view: DataView, offset: number): void {
    for (const m of this.layout!.uniform!.members) {
      const v = params[m.name];
      const at = offset + m.offset;
      if (typeof v === 'number') write(view, m.scalar, at, v);
      else for (let i = 0; i < v.length; i++) write(view, m.scalar, at + 4 * i, v[i]);
    }
  }

  /** Throws what dispatch() would throw for `args` before recording, and records nothing: an op
   *  that holds its dispatch back (engine/ops/held.ts) fails where it is called. */
  check(args: DispatchArgs): void {
    engine().checkAlive(args.label);
    this.checkParams(args.params ?? {}, args.label);
    const [x, y = 1, z = 1] = args.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    this.checkWorkgroups(args.label, x, y, z);
    for (const b of this.reflect().bindings) this.checkBuffer(args, b.name, engine().device.limits.maxStorageBufferBindingSize);
  }

  private checkWorkgroups(label: string, x: number, y: number, z: number): void {
    const maxWG = engine().device.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWG || y > maxWG || z > maxWG) {
      throw new Error(`${label}: dispatch of ${x}x${y}x${z} workgroups exceeds ${maxWG} per dimension`);
    }
  }

  private checkBuffer(args: DispatchArgs, name: string, maxBinding: number): BufferArg {
    const arg = args.buffers[name];
    if (!arg) throw new Error(`${args.label}: kernel ${this.file}.${this.entry} needs buffer '${name}'`);
    if (arg.size > maxBinding) {
      throw new Error(
        `${args.label}: '${name}' is ${arg.size} bytes, more than this adapter can bind at once ` +
          `(maxStorageBufferBindingSize ${maxBinding}); use smaller tensors (batch, sequence or model size)`,
      );
    }
    return arg;
  }

  /**
   * Records one dispatch. `label` should name the op and its shapes: it is what a GPU error
   * message will quote.
   */
  dispatch(args: DispatchArgs): void {
    const e = engine();
    e.checkAlive(args.label);
    const layout = this.reflect();
    const pipeline = this.getPipeline(args.constants ?? {});
    const params = args.params ?? {};
    this.checkParams(params, args.label);
    const [x, y = 1, z = 1] = args.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    this.checkWorkgroups(args.label, x, y, z);
    const maxBinding = e.device.limits.maxStorageBufferBindingSize;
    // One bind group layout serves every pipeline of this entry point, so a bind group does too:
    // it is found by the buffers and the bytes bound of each.
    let key = '';
    for (const b of layout.bindings) {
      const arg = this.checkBuffer(args, b.name, maxBinding);
      const buffer = infoOf(arg.buffer);
      key += `|${buffer.id}:${boundSize(arg.size, buffer.size, maxBinding)}`;
    }
    if (layout.uniform) key += `|u${infoOf(e.arena).id}`;

    const { pass, offset } = e.recordDispatch(args.label, layout.uniform?.size ?? 0, `${this.file}.${this.entry}`);
    if (layout.uniform) this.writeParams(params, e.uniforms, offset);
    let group = this.bindGroups.get(key);
    if (group) {
      // Least recently used goes first: re-inserting moves the key to the end of the Map.
      this.bindGroups.delete(key);
      e.counters.bindGroupHits += 1;
    } else {
      if (this.bindGroups.size >= MAX_CACHED_BIND_GROUPS) this.bindGroups.delete(this.bindGroups.keys().next().value!);
      const entries: GPUBindGroupEntry[] = layout.bindings.map((b) => {
        const arg = args.buffers[b.name];
        return { binding: b.binding, resource: { buffer: arg.buffer, size: boundSize(arg.size, infoOf(arg.buffer).size, maxBinding) } };
      });
      if (layout.uniform) {
        entries.push({ binding: layout.uniform.binding, resource: { buffer: e.arena, offset: 0, size: layout.uniform.size } });
      }
      group = e.device.createBindGroup({ label: args.label, layout: this.bindGroupLayout!, entries });
      e.counters.bindGroupMisses += 1;
    }
    this.bindGroups.set(key, group);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group, layout.uniform ? [offset] : []);
    pass.dispatchWorkgroups(x, y, z);
  }
}

/**
 * Bytes bound for an argument: the whole buffer (kernels take their sizes from parameters), so
 * that one bind group serves the buffer whatever tensor it holds this step; never more than a
 * binding holds. An argument larger than its buffer is bound as asked, for the GPU to report.
 */
function boundSize(argBytes: number, bufferBytes: number, maxBinding: number): number {
  const asked = Math.max(4, Math.ceil(argBytes / 4) * 4);
  return asked > bufferBytes ? asked : Math.min(bufferBytes, Math.floor(maxBinding / 16) * 16);
}

function write(view: DataView, scalar: string, at: number, value: number): void {
  if (scalar === 'f32') view.setFloat32(at, value, true);
  else if (scalar === 'i32') view.setInt32(at, value, true);
  else view.setUint32(at, value, true);
}

/**
 * Workgroup counts for `n` independent items at `perGroup` items a workgroup. Counts above the
 * per-dimension limit spill into y; kernels rebuild the flat index as
 * `gid.x + gid.y * num_workgroups.x * WG` and skip indices past the end.
 */
export function grid(n: number, perGroup: number): [number, number] {
  const groups = Math.ceil(n / perGroup);
  const max = engine().device.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}
