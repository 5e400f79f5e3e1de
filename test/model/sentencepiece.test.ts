import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SentencePieceTokenizer } from '../../model/sentencepiece.ts';

const DIR = new URL('../fixtures/spiece/', import.meta.url);
const MODEL = new Uint8Array(readFileSync(new URL('spiece.model', DIR)));

interface Case {
  text: string;
  ids: number[];
  pieces: string[];
  decoded: string;
}
interface Reference {
  vocab_size: number;
  pad_id: number;
  eos_id: number;
  unk_id: number;
  vocab: [string, number, string][];
  cases: Case[];
}
const REF: Reference = JSON.parse(readFileSync(new URL('cases.json', DIR), 'utf8'));

// A varint, a tag or a length-delimited field, for building small model protos by hand.
function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(n));
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? b | 0x80 : b);
  } while (v > 0n);
  return out;
}
const field = (num: number, wire: number): number[] => varint(num * 8 + wire);
const delimited = (num: number, payload: number[]): number[] => [...field(num, 2), ...varint(payload.length), ...payload];
const text = (s: string): number[] => [...new TextEncoder().encode(s)];
function float32(x: number): number[] {
  return [...new Uint8Array(new Float32Array([x]).buffer)];
}
function piece(p: string, score: number, type?: number): number[] {
  const body = [...delimited(1, text(p)), ...field(2, 5), ...float32(score)];
  if (type !== undefined) body.push(...field(3, 0), ...varint(type));
  return delimited(1, body);
}

describe('SentencePieceTokenizer on the T5-style fixture', () => {
  const sp = SentencePieceTokenizer.fromModelProto(MODEL);

  it('reads the vocabulary, scores, types and special ids', () => {
    expect(sp.vocabSize).toBe(REF.vocab_size);
    expect([sp.padId, sp.eosId, sp.unkId]).toEqual([REF.pad_id, REF.eos_id, REF.unk_id]);
    REF.vocab.forEach(([p, score, type], id) => {
      const info = sp.pieceInfo(id);
      expect(info.piece).toBe(p);
      expect(info.score).toBe(score);
      expect(info.type).toBe(type);
    });
  });

  for (const c of REF.cases) {
    it(`matches the C++ library on ${JSON.stringify(c.text)}`, () => {
      expect(sp.encode(c.text)).toEqual(c.ids);
      expect(sp.encodeAsPieces(c.text)).toEqual(c.pieces);
      expect(sp.decode(c.ids)).toBe(c.decoded);
      expect(sp.decode(c.ids, { skipSpecial: true })).toBe(c.decoded);
    });
  }

  it('reads a Node Buffer (a view into a larger pool) the same as its own bytes', () => {
    const pooled = Buffer.concat([Buffer.from('padding'), readFileSync(new URL('spiece.model', DIR))]).subarray(7);
    const fromBuffer = SentencePieceTokenizer.fromModelProto(pooled);
    for (const c of REF.cases) expect(fromBuffer.encode(c.text), JSON.stringify(c.text)).toEqual(c.ids);
  });
});

describe('SentencePieceTokenizer details', () => {
  const sp = SentencePieceTokenizer.fromModelProto(MODEL.slice().buffer);

  it('appends eos on request and shows control pieces unless skipped', () => {
    const ids = sp.encode('Hello world', { addEos: true });
    expect(ids).toEqual([...REF.cases[0].ids, 1]);
    expect(sp.decode([...ids, 0])).toBe('Hello world</s><pad>');
    expect(sp.decode([...ids, 0], { skipSpecial: true })).toBe('Hello world');
    expect(() => sp.decode([200])).toThrow(/id 200 is outside the vocabulary \(size 200\)/);
  });

  // From the model's NFKC table as the C++ library (0.1.97) applies it: U+00B4 becomes a space and
  // a combining accent, whose space merges with a preceding one.
  it('collapses spaces produced by the normalization table itself', () => {
    const dec = new TextDecoder();
    expect(dec.decode(sp.normalize('\u00b4x'))).toBe('\u2581\u0301x');
    expect(dec.decode(sp.normalize('a \u00b4b'))).toBe('\u2581a\u2581\u0301b');
    expect(dec.decode(sp.normalize('Ⅻ\u3000㍱\u200b℃'))).toBe('\u2581XII\u2581hPa\u2581°C');
    expect(dec.decode(sp.normalize(' \t\n '))).toBe('');
  });

  it('names the file when the proto is truncated or malformed', () => {
    expect(() => SentencePieceTokenizer.fromModelProto(MODEL.subarray(0, 1000), 'cut.model')).toThrow(/cut\.model: malformed protobuf at byte \d+: .*runs past the end/);
    expect(() => SentencePieceTokenizer.fromModelProto(Uint8Array.from([0x0b]), 'g.model')).toThrow(/g\.model: malformed protobuf.*wire type 3/);
    expect(() => SentencePieceTokenizer.fromModelProto(Uint8Array.from([0x08, 0x01]), 'w.model')).toThrow(/w\.model: malformed protobuf.*pieces has wire type 0, expected 2/);
  });
});

// Hand-built models; the expected outputs come from the C++ library (0.1.97) on the same bytes.
const CONTROL = 3;
const UNKNOWN = 2;
const UNUSED = 5;
const HAND_PIECES = [
  piece('<pad>', 0, CONTROL),
  piece('</s>', 0, CONTROL),
  piece('<unk>', 0, UNKNOWN),
  piece('▁', -1), // 3
  piece('a', -1), // 4
  piece('▁a', -2), // 5: ties with ▁ + a; the library keeps the first path found, ▁a
  piece('b', -1.5), // 6
  piece('ab', -4), // 7
  piece('c', -1), // 8
  piece('bc', -2), // 9
  piece('▁abc', -3, UNUSED), // 10: would win, but unused pieces never segment text
].flat();
const normalizerSpec = (flags: Record<number, number>): number[] =>
  delimited(3, Object.entries(flags).flatMap(([k, v]) => [...field(Number(k), 0), ...varint(v)]));
const hand = (...extra: number[][]): SentencePieceTokenizer => SentencePieceTokenizer.fromModelProto(Uint8Array.from([...HAND_PIECES, ...extra.flat()]), 'hand.model');

describe('SentencePieceTokenizer on hand-built models', () => {
  it('takes the best path, keeps the first of equal paths, skips unused pieces', () => {
    const sp = hand();
    expect(sp.encode('abc')).toEqual([5, 9]);
    expect(sp.encodeAsPieces('abc')).toEqual(['▁a', 'bc']);
    expect(sp.encode('  ab  c ')).toEqual([5, 6, 3, 8]);
    expect(sp.decode([5, 6, 3, 8])).toBe('ab c');
    expect(sp.encode('x')).toEqual([3, 2]);
    expect(sp.decode([3, 2])).toBe(' ⁇ ');
    expect(sp.encodeAsPieces('a xyb')).toEqual(['▁a', '▁', 'xy', 'b']);
    expect(sp.decode(sp.encode('a xyb'))).toBe('a  ⁇ b');
    expect(sp.eosId).toBe(1);
  });

  it('keeps every space when remove_extra_whitespaces is off, dropping only the dummy prefix on decode', () => {
    const sp = hand(normalizerSpec({ 4: 0 }));
    expect(sp.encode('  ab  c ')).toEqual([3, 3, 5, 6, 3, 3, 8, 3]);
    expect(sp.decode([3, 3, 5, 6, 3, 3, 8, 3])).toBe('  ab  c ');
  });

  it('honours add_dummy_prefix and escape_whitespaces off, unk_surface and a negative bos_id', () => {
    const trainer = delimited(2, [...field(41, 0), ...varint(-1), ...delimited(44, text('<?>'))]);
    const sp = hand(trainer, normalizerSpec({ 3: 0, 5: 0 }));
    expect(sp.encode('abc')).toEqual([4, 9]);
    expect(sp.encodeAsPieces('  ab  c ')).toEqual(['a', 'b', ' ', 'c']);
    expect(sp.encode('  ab  c ')).toEqual([4, 6, 2, 8]);
    expect(sp.decode([4, 6, 2, 8])).toBe('ab<?>c');
    expect(sp.encodeAsPieces('a xyb')).toEqual(['a', ' xy', 'b']);
  });

  it('refuses models it cannot reproduce', () => {
    const typed = (t: number): number[] => [...field(3, 0), ...varint(t)];
    expect(() => hand(delimited(2, typed(2)))).toThrow(/hand\.model: model type 2 is not unigram/);
    expect(() => hand(delimited(2, [...field(35, 0), 1]))).toThrow(/byte_fallback is not supported/);
    expect(() => hand(delimited(2, [...field(24, 0), 1]))).toThrow(/treat_whitespace_as_suffix is not supported/);
    expect(() => hand(piece('<x>', 0, 4))).toThrow(/piece 11 "<x>" is user_defined/);
    expect(() => hand(piece('a', -1))).toThrow(/piece "a" is defined twice/);
    expect(() => hand(piece('<u2>', 0, UNKNOWN))).toThrow(/two unknown pieces \(2 and 11\)/);
    expect(() => hand(piece('q', 0, 9))).toThrow(/piece 11 has unknown type 9/);
    expect(() => SentencePieceTokenizer.fromModelProto(Uint8Array.from(piece('a', -1)), 'nounk.model')).toThrow(/nounk\.model: the model defines no unknown piece/);
    expect(() => hand(delimited(3, delimited(2, [1, 0, 0, 0, 0])))).toThrow(/precompiled_charsmap is broken/);
  });
});
