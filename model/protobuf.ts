// A reader of the protobuf wire format, as much of it as SentencePiece's model proto
// (model/sentencepiece.ts) needs: varint, fixed32/64 and length-delimited fields, with typed reads
// that check each field's wire type and errors that name the file and the byte offset.

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

export class ProtoReader {
  pos: number;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
    start = 0,
    private readonly end = bytes.length,
  ) {
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(message: string): never {
    throw new Error(`${this.what}: malformed protobuf at byte ${this.pos}: ${message}`);
  }

  /** Calls `field` for every field; it returns false for fields it does not read, which are skipped. */
  forEachField(field: (number: number, wire: number) => boolean): void {
    while (this.pos < this.end) {
      const tag = this.varint32() >>> 0;
      const wire = tag & 7;
      if (!field(tag >>> 3, wire)) this.skip(wire);
    }
  }

  // Typed reads: each first checks that the field has the wire type its proto type implies.

  int(wire: number, name: string): number {
    this.expectWire(wire, WIRE_VARINT, name);
    return this.varint32();
  }

  bool(wire: number, name: string): boolean {
    return this.int(wire, name) !== 0;
  }

  float(wire: number, name: string): number {
    this.expectWire(wire, WIRE_FIXED32, name);
    const at = this.advance(4);
    return this.view.getFloat32(at, true);
  }

  bytesField(wire: number, name: string): Uint8Array {
    this.expectWire(wire, WIRE_BYTES, name);
    const [s, e] = this.lengthDelimited();
    return this.bytes.subarray(s, e);
  }

  string(wire: number, name: string): string {
    const b = this.bytesField(wire, name);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(b);
    } catch {
      return this.fail(`${name} is not valid UTF-8`);
    }
  }

  message(wire: number, name: string): ProtoReader {
    this.expectWire(wire, WIRE_BYTES, name);
    const [s, e] = this.lengthDelimited();
    return new ProtoReader(this.bytes, this.what, s, e);
  }

  /**
   * The low 32 bits as a signed int: exactly the value of every int32, enum and bool field
   * (negative int32s are sign-extended to ten bytes on the wire, which truncation undoes).
   */
  private varint32(): number {
    let result = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= this.end) this.fail('varint runs past the end');
      const b = this.bytes[this.pos++];
      if (shift < 32) result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result | 0;
    }
    return this.fail('varint longer than 10 bytes');
  }

  private lengthDelimited(): [number, number] {
    const length = this.varint32();
    if (length < 0 || this.pos + length > this.end) this.fail(`field length ${length} runs past the end`);
    const start = this.pos;
    this.pos += length;
    return [start, this.pos];
  }

  private advance(n: number): number {
    if (this.pos + n > this.end) this.fail('fixed-size field runs past the end');
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint32();
    else if (wire === WIRE_FIXED64) this.advance(8);
    else if (wire === WIRE_BYTES) this.lengthDelimited();
    else if (wire === WIRE_FIXED32) this.advance(4);
    else this.fail(`unsupported wire type ${wire}`);
  }

  private expectWire(wire: number, expected: number, name: string): void {
    if (wire !== expected) this.fail(`${name} has wire type ${wire}, expected ${expected}`);
  }
}
