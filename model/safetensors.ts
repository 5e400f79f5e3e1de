// The safetensors format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping
// each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data
// buffer that follows the header) plus an optional "__metadata__" string map, then the raw
// little-endian data. Works on bytes only (no file system), so it runs in browsers too.
//
// Reading is strict the way the reference implementation is: the tensors must tile the data
// buffer exactly (no overlaps, holes or trailing bytes), which rejects corrupt and polyglot
// files early instead of producing garbage weights.
//
// Typed arrays use the host byte order; every host WebGPU runs on is little-endian, like the format.

/** Every dtype the format defines, with its element size, so any valid file can be opened. */
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

const FLOAT_DTYPES = ['F32', 'F16', 'BF16'];
const INT_DTYPES = ['I32', 'I64'];

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte range [begin, end) inside the data buffer, as stored in data_offsets. */
  begin: number;
  end: number;
}

const fmt = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function asBytes(data: ArrayBuffer | Uint8Array): Uint8Array {
  return data instanceof Uint8Array ? data : new Uint8Array(data);
}

// Float16 -> float32 through a 64K-entry table: one lookup per element, exact for subnormals,
// infinities and NaN. Built on first use, as most checkpoints are float32.
let f16Table: Float32Array | null = null;
function halfTable(): Float32Array {
  if (f16Table !== null) return f16Table;
  f16Table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) f16Table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) f16Table[h] = frac === 0 ? sign * Infinity : NaN;
    else f16Table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return f16Table;
}

export class SafetensorsFile {
  private constructor(
    /** Used in every error message. */
    readonly fileName: string,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
    private readonly data: Uint8Array,
  ) {}

  /** Parses and validates the header; tensor data is only read (and converted) on request. */
  static parse(bytes: ArrayBuffer | Uint8Array, fileName: string): SafetensorsFile {
    const file = asBytes(bytes);
    const fail = (message: string): never => {
      throw new Error(`${fileName}: ${message}`);
    };
    if (file.length < 8) fail(`truncated: ${file.length} bytes, too short for the 8-byte header length`);
    const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
    const headerLength = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
    if (headerLength > file.length - 8) {
      fail(`header length ${headerLength} runs past the end of the file (${file.length} bytes); the file is truncated or not safetensors`);
    }
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(8, 8 + headerLength)));
    } catch (e) {
      fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
    const data = file.subarray(8 + headerLength);

    let metadata: Record<string, string> = {};
    const tensors = new Map<string, TensorInfo>();
    for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        metadata = parseMetadata(entry, fail);
        continue;
      }
      tensors.set(name, parseEntry(name, entry, fail));
    }
    checkTiling([...tensors.values()], data.length, fail);
    return new SafetensorsFile(fileName, tensors, metadata, data);
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (t === undefined) throw new Error(`${this.fileName}: no tensor "${name}"`);
    return t;
  }

  /** Map-like access for optional tensors: the float32 tensor, or undefined when absent. */
  get(name: string): F32Tensor | undefined {
    return this.has(name) ? { shape: [...this.info(name).shape], data: this.getF32(name) } : undefined;
  }

  /** [name, float32 tensor] for every tensor, in header order. */
  *[Symbol.iterator](): IterableIterator<[string, F32Tensor]> {
    for (const name of this.tensors.keys()) yield [name, this.get(name)!];
  }

  /** Throws, naming the tensor and element, if any value is NaN or infinite: such weights give
   *  NaN logits and arbitrary tokens, never an error, so a file that holds one is damaged. */
  assertFinite(): this {
    for (const [name, t] of this) {
      const at = t.data.findIndex((x) => !Number.isFinite(x));
      if (at >= 0) throw new Error(`${this.fileName}: tensor ${name} holds ${t.data[at]} at element ${at}; its values must be finite`);
    }
    return this;
  }

  /** A fresh float32 copy; F16 and BF16 are widened exactly. */
  getF32(name: string): Float32Array {
    const t = this.info(name);
    const bytes = this.copyBytes(t);
    switch (t.dtype) {
      case 'F32':
        return new Float32Array(bytes.buffer);
      case 'F16': {
        const table = halfTable();
        const half = new Uint16Array(bytes.buffer);
        const out = new Float32Array(half.length);
        for (let i = 0; i < half.length; i++) out[i] = table[half[i]];
        return out;
      }
      case 'BF16': {
        // bfloat16 is the top half of a float32.
        const half = new Uint16Array(bytes.buffer);
        const out = new Uint32Array(half.length);
        for (let i = 0; i < half.length; i++) out[i] = half[i] << 16;
        return new Float32Array(out.buffer);
      }
    }
    return this.unsupported(t, FLOAT_DTYPES);
  }

  /** A fresh int32 copy; I64 values must fit in int32. */
  getI32(name: string): Int32Array {
    const t = this.info(name);
    const bytes = this.copyBytes(t);
    if (t.dtype === 'I32') return new Int32Array(bytes.buffer);
    if (t.dtype === 'I64') {
      const wide = new BigInt64Array(bytes.buffer);
      const out = new Int32Array(wide.length);
      for (let i = 0; i < wide.length; i++) {
        const v = wide[i];
        if (v < -2147483648n || v > 2147483647n) {
          throw new Error(`${this.fileName}: tensor "${name}" (I64) holds ${v} at index ${i}, outside the int32 range`);
        }
        out[i] = Number(v);
      }
      return out;
    }
    return this.unsupported(t, INT_DTYPES);
  }

  // A copy, not a view: the data buffer need not be aligned for the element type, and a view
  // would keep the whole file alive.
  // A real copy even when `data` is a Node Buffer, whose slice() is a view into a shared pool.
  private copyBytes(t: TensorInfo): Uint8Array {
    return new Uint8Array(this.data.subarray(t.begin, t.end));
  }

  private unsupported(t: TensorInfo, supported: string[]): never {
    throw new Error(`${this.fileName}: tensor "${t.name}" has dtype ${t.dtype}; this reader supports ${supported.join(', ')} here`);
  }
}

function parseMetadata(entry: unknown, fail: (m: string) => never): Record<string, string> {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('"__metadata__" must be an object of strings');
  for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
    if (typeof v !== 'string') fail(`"__metadata__" value for "${k}" must be a string, got ${JSON.stringify(v)}`);
  }
  return { ...(entry as Record<string, string>) };
}

function parseEntry(name: string, entry: unknown, fail: (m: string) => never): TensorInfo {
  const bad = (what: string): never => fail(`tensor "${name}": ${what}`);
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) bad('header entry is not an object');
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) {
    bad(`unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_BYTES).join(', ')})`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    bad(`data_offsets ${JSON.stringify(offsets)} is not a pair [begin, end] with 0 <= begin <= end`);
  }
  const [begin, end] = offsets as number[];
  const dims = shape as number[];
  const expected = numel(dims) * DTYPE_BYTES[dtype as string];
  if (end - begin !== expected) {
    bad(`${dtype} ${fmt(dims)} needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
  }
  return { name, dtype: dtype as string, shape: dims, begin, end };
}

function checkTiling(tensors: TensorInfo[], dataLength: number, fail: (m: string) => never): void {
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let last: TensorInfo | null = null;
  for (const t of sorted) {
    if (t.end > dataLength) {
      fail(`tensor "${t.name}": data_offsets [${t.begin}, ${t.end}] run past the end of the data (${dataLength} bytes); the file is truncated`);
    }
    if (t.begin < covered && last !== null) {
      fail(`tensors "${last.name}" [${last.begin}, ${last.end}] and "${t.name}" [${t.begin}, ${t.end}] overlap`);
    }
    if (t.begin > covered) fail(`bytes [${covered}, ${t.begin}) of the data belong to no tensor`);
    if (t.end > covered) {
      covered = t.end;
      last = t;
    }
  }
  if (covered !== dataLength) fail(`bytes [${covered}, ${dataLength}) at the end of the data belong to no tensor`);
}

export function readSafetensors(bytes: ArrayBuffer | Uint8Array, fileName: string): SafetensorsFile {
  return SafetensorsFile.parse(bytes, fileName);
}

export interface F32Tensor {
  shape: readonly number[];
  data: Float32Array;
}

/**
 * Serializes float32 tensors in the given order. The header is padded with spaces so the data
 * starts 8-byte aligned, as the reference writer does.
 */
export function writeSafetensors(
  tensors: Iterable<readonly [string, F32Tensor]> | Record<string, F32Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries = Symbol.iterator in tensors ? [...(tensors as Iterable<readonly [string, F32Tensor]>)] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = parseMetadata(metadata, (m) => {
    throw new Error(`writeSafetensors: ${m}`);
  });
  let offset = 0;
  for (const [name, t] of entries) {
    const fail = (m: string): never => {
      throw new Error(`writeSafetensors: tensor "${name}": ${m}`);
    };
    if (name === '' || name === '__metadata__') fail('invalid tensor name');
    if (name in header) fail('duplicate name');
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`bad shape ${fmt(t.shape)}`);
    if (!(t.data instanceof Float32Array)) fail('data must be a Float32Array');
    if (t.data.length !== numel(t.shape)) fail(`shape ${fmt(t.shape)} has ${numel(t.shape)} elements but data has ${t.data.length}`);
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, padded, true);
  view.setUint32(4, 0, true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const [, t] of entries) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
