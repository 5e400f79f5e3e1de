import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors, type F32Tensor } from '../../model/safetensors.ts';

const T5_DIR = new URL('../fixtures/t5/', import.meta.url);
const fixture = (path: string): Uint8Array => new Uint8Array(readFileSync(new URL(path, T5_DIR)));

/** A safetensors file from a header object and raw data bytes, bypassing the writer's checks. */
function rawFile(header: unknown, data: number[] | Uint8Array = []): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const bytesOf = (a: ArrayBufferView): number[] => [...new Uint8Array(a.buffer, a.byteOffset, a.byteLength)];
const bits = (a: Float32Array): number[] => [...new Uint32Array(a.buffer, a.byteOffset, a.length)];

describe('safetensors round trip', () => {
  const tensors: [string, F32Tensor][] = [
    ['weights', { shape: [2, 3], data: new Float32Array([1.5, -0, 0, Infinity, -Infinity, NaN]) }],
    ['scalar', { shape: [], data: new Float32Array([Math.fround(Math.PI)]) }],
    ['empty', { shape: [0, 7], data: new Float32Array(0) }],
    ['odd', { shape: [5], data: new Float32Array([1e-45, 3.4028234663852886e38, -1e-30, 7, 0.1]) }],
    ['ünï/cøde.name', { shape: [1, 1, 1], data: new Float32Array([42]) }],
  ];

  it('reads back names, shapes, metadata and bit-exact values', () => {
    const bytes = writeSafetensors(tensors, { format: 'pt', note: 'ünïcode' });
    const headerLength = new DataView(bytes.buffer).getUint32(0, true);
    expect((8 + headerLength) % 8).toBe(0);
    const file = readSafetensors(bytes, 'rt.safetensors');
    expect(file.names()).toEqual(tensors.map(([n]) => n));
    expect(file.metadata).toEqual({ format: 'pt', note: 'ünïcode' });
    for (const [name, t] of tensors) {
      expect(file.info(name).shape).toEqual(t.shape);
      expect(file.info(name).dtype).toBe('F32');
      expect(bits(file.getF32(name))).toEqual(bits(t.data));
    }
    expect([...file].map(([n, t]) => [n, t.shape, bits(t.data)])).toEqual(tensors.map(([n, t]) => [n, t.shape, bits(t.data)]));
    expect(file.get('missing')).toBeUndefined();
  });

  it('accepts a Record and a Map, and reads from an ArrayBuffer or an offset Uint8Array view', () => {
    const a = writeSafetensors({ x: { shape: [2], data: new Float32Array([1, 2]) } });
    const b = writeSafetensors(new Map([['x', { shape: [2], data: new Float32Array([1, 2]) }]]));
    expect(bytesOf(a)).toEqual(bytesOf(b));
    expect([...readSafetensors(a.slice().buffer, 'a').getF32('x')]).toEqual([1, 2]);
    // a view at an odd offset: the data is unaligned for Float32Array
    const padded = new Uint8Array(a.length + 3);
    padded.set(a, 3);
    expect([...readSafetensors(padded.subarray(3), 'view').getF32('x')]).toEqual([1, 2]);
  });

  it('writes the fixture files byte for byte (sorted names, compact header, "pt" metadata)', () => {
    for (const path of ['tiny-relu/model.safetensors', 'tiny-gated/model.safetensors', 'tiny-gated/grads.safetensors']) {
      const original = fixture(path);
      const file = readSafetensors(original, path);
      const sorted = [...file].sort(([a], [b]) => (a < b ? -1 : 1));
      expect(bytesOf(writeSafetensors(sorted, { ...file.metadata }))).toEqual([...original]);
    }
  });

  it('reads the fixture gradients: their norms match reference.json', () => {
    for (const name of ['tiny-relu', 'tiny-gated']) {
      const norms: Record<string, number> = JSON.parse(readFileSync(new URL(`${name}/reference.json`, T5_DIR), 'utf8')).grad_norms;
      const grads = readSafetensors(fixture(`${name}/grads.safetensors`), `${name}/grads.safetensors`);
      expect(grads.names().sort()).toEqual(Object.keys(norms).sort());
      for (const [tensor, { data }] of grads) {
        const norm = Math.sqrt(data.reduce((s, v) => s + v * v, 0));
        expect(Math.abs(norm - norms[tensor]), tensor).toBeLessThan(1e-6 * norms[tensor] + 1e-12);
      }
    }
  });

  it('refuses bad input to the writer', () => {
    expect(() => writeSafetensors({ x: { shape: [2, 2], data: new Float32Array(3) } })).toThrow(/"x".*\[2, 2\] has 4 elements but data has 3/);
    expect(() => writeSafetensors([['x', { shape: [1], data: new Float32Array(1) }], ['x', { shape: [1], data: new Float32Array(1) }]])).toThrow(/"x": duplicate/);
    expect(() => writeSafetensors({ __metadata__: { shape: [1], data: new Float32Array(1) } })).toThrow(/invalid tensor name/);
    expect(() => writeSafetensors({ x: { shape: [1.5], data: new Float32Array(1) } })).toThrow(/bad shape/);
    expect(() => writeSafetensors({}, { n: 3 as unknown as string })).toThrow(/"n" must be a string/);
  });
});

describe('safetensors dtypes', () => {
  it('widens F16 exactly, including subnormals, infinities, NaN and -0', () => {
    const halves = [0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x3555, 0x7c00, 0xfc00, 0x7e00];
    const expected = [0, -0, 1, -2, 65504, 5.960464477539063e-8, 6.097555160522461e-5, 6.103515625e-5, 0.333251953125, Infinity, -Infinity, NaN];
    const file = readSafetensors(rawFile({ h: { dtype: 'F16', shape: [12], data_offsets: [0, 24] } }, bytesOf(new Uint16Array(halves))), 'f16');
    const got = [...file.getF32('h')];
    got.forEach((v, i) => expect(Object.is(v, expected[i]), `0x${halves[i].toString(16)} -> ${v}`).toBe(true));
  });

  it('widens BF16 exactly', () => {
    const halves = [0x3f80, 0xc040, 0x7f80, 0x3eab, 0x0001, 0x8000, 0x7fc0];
    const expected = [1, -3, Infinity, 0.333984375, 9.183549615799121e-41, -0, NaN];
    const file = readSafetensors(rawFile({ b: { dtype: 'BF16', shape: [7], data_offsets: [0, 14] } }, bytesOf(new Uint16Array(halves))), 'bf16');
    const got = [...file.getF32('b')];
    got.forEach((v, i) => expect(Object.is(v, expected[i]), `0x${halves[i].toString(16)} -> ${v}`).toBe(true));
  });

  it('reads I32 and I64 as int32, refusing I64 values beyond int32', () => {
    const i32 = bytesOf(new Int32Array([-5, 0, 2147483647]));
    const i64 = bytesOf(new BigInt64Array([-3n, 2147483647n, -2147483648n]));
    const big = bytesOf(new BigInt64Array([1n, 2147483648n]));
    const file = readSafetensors(
      rawFile(
        {
          a: { dtype: 'I32', shape: [3], data_offsets: [0, 12] },
          b: { dtype: 'I64', shape: [3], data_offsets: [12, 36] },
          c: { dtype: 'I64', shape: [2], data_offsets: [36, 52] },
        },
        [...i32, ...i64, ...big],
      ),
      'ints.safetensors',
    );
    expect([...file.getI32('a')]).toEqual([-5, 0, 2147483647]);
    expect([...file.getI32('b')]).toEqual([-3, 2147483647, -2147483648]);
    expect(() => file.getI32('c')).toThrow(/ints\.safetensors: tensor "c" \(I64\) holds 2147483648 at index 1, outside the int32 range/);
    expect(() => file.getF32('a')).toThrow(/ints\.safetensors: tensor "a" has dtype I32/);
  });

  it('opens files with other dtypes but refuses to convert them', () => {
    const file = readSafetensors(rawFile({ d: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, bytesOf(new Float64Array([1]))), 'f64.safetensors');
    expect(file.info('d').dtype).toBe('F64');
    expect(() => file.getF32('d')).toThrow(/f64\.safetensors: tensor "d" has dtype F64; this reader supports F32, F16, BF16/);
    expect(() => file.getI32('d')).toThrow(/supports I32, I64/);
    expect(() => file.getF32('nope')).toThrow(/f64\.safetensors: no tensor "nope"/);
  });
});

describe('safetensors errors name the file and the tensor', () => {
  const good = writeSafetensors({ a: { shape: [2], data: new Float32Array([1, 2]) }, b: { shape: [1], data: new Float32Array([3]) } });
  const f32 = (begin: number, end: number, shape = [(end - begin) / 4]) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
  const cases: [string, Uint8Array, RegExp][] = [
    ['an empty file', new Uint8Array(0), /bad\.st: truncated: 0 bytes/],
    ['a file shorter than the length field', new Uint8Array([1, 0, 0]), /bad\.st: truncated: 3 bytes/],
    ['a header length past the end', good.subarray(0, 20), /bad\.st: header length \d+ runs past the end of the file \(20 bytes\)/],
    ['a huge header length', Uint8Array.from([0, 0, 0, 0, 0, 0, 1, 0, 0x7b, 0x7d]), /header length 281474976710656 runs past the end/],
    ['truncated data', good.subarray(0, good.length - 2), /bad\.st: tensor "b": data_offsets \[8, 12\] run past the end of the data \(10 bytes\); the file is truncated/],
    ['a header that is not JSON', rawFile('x').map((b, i) => (i === 8 ? 0x7b : b)), /bad\.st: header is not valid UTF-8 JSON/],
    ['a header that is not an object', rawFile([1, 2]), /bad\.st: header is not a JSON object/],
    ['invalid UTF-8 in the header', Uint8Array.from([3, 0, 0, 0, 0, 0, 0, 0, 0x22, 0xff, 0x22]), /not valid UTF-8 JSON/],
    ['overlapping offsets', rawFile({ a: f32(0, 8), b: f32(4, 12) }, new Array(12).fill(0)), /bad\.st: tensors "a" \[0, 8\] and "b" \[4, 12\] overlap/],
    ['a hole between tensors', rawFile({ a: f32(0, 4), b: f32(8, 12) }, new Array(12).fill(0)), /bad\.st: bytes \[4, 8\) of the data belong to no tensor/],
    ['trailing bytes', rawFile({ a: f32(0, 4) }, new Array(8).fill(0)), /bad\.st: bytes \[4, 8\) at the end of the data belong to no tensor/],
    ['a size mismatch', rawFile({ w: f32(0, 8, [3]) }, new Array(8).fill(0)), /bad\.st: tensor "w": F32 \[3\] needs 12 bytes but data_offsets \[0, 8\] span 8/],
    ['an unknown dtype', rawFile({ w: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }, [0, 0, 0, 0]), /bad\.st: tensor "w": unknown dtype "F33"/],
    ['a negative dimension', rawFile({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, [0, 0, 0, 0]), /tensor "w": shape \[-1\] is not a list of non-negative integers/],
    ['reversed offsets', rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, [0, 0, 0, 0]), /tensor "w": data_offsets \[4,0\] is not a pair/],
    ['a missing data_offsets', rawFile({ w: { dtype: 'F32', shape: [1] } }, [0, 0, 0, 0]), /tensor "w": data_offsets undefined/],
    ['an entry that is not an object', rawFile({ w: 3 }), /tensor "w": header entry is not an object/],
    ['non-string metadata', rawFile({ __metadata__: { step: 3 } }), /"__metadata__" value for "step" must be a string/],
  ];
  for (const [what, bytes, message] of cases) {
    it(`rejects ${what}`, () => {
      expect(() => readSafetensors(bytes, 'bad.st')).toThrow(message);
    });
  }

  it('accepts the untouched file', () => {
    expect(readSafetensors(good, 'good.st').names()).toEqual(['a', 'b']);
  });
});
