// A SentencePiece unigram tokenizer that reads T5's `spiece.model` and reproduces the reference
// C++ library's encode_as_ids / encode_as_pieces / decode_ids:
//   1. normalize (NormalizerSpec): longest-match rewriting with the precompiled charsmap (for T5,
//      NFKC plus whitespace folding), dropping leading, trailing and repeated spaces, a dummy
//      space prefix, spaces escaped as "▁";
//   2. segment with Viterbi over the unigram lattice of the normalized UTF-8 bytes, a character no
//      piece starts with becoming <unk>; a run of adjacent <unk>s is merged into one;
//   3. decode by joining pieces, "▁" back to spaces, <unk> as the trainer's unk_surface (" ⁇ ").
// Everything works on UTF-8 bytes, as the library does, so trie lookups, tie-breaking and float32
// score sums match it exactly.

import type { DecodeOptions, EncodeOptions, Tokenizer } from './tokenizer.ts';
import { ProtoReader } from './protobuf.ts';

// ---- the model proto --------------------------------------------------------------------------

export type PieceType = 'normal' | 'unknown' | 'control' | 'user_defined' | 'unused' | 'byte';
const PIECE_TYPES: Record<number, PieceType> = { 1: 'normal', 2: 'unknown', 3: 'control', 4: 'user_defined', 5: 'unused', 6: 'byte' };

export interface SentencePieceEntry {
  piece: string;
  score: number;
  type: PieceType;
}

/** The parts of ModelProto that encoding and decoding depend on, with the proto's defaults. */
export interface SentencePieceModel {
  pieces: SentencePieceEntry[];
  modelType: number;
  treatWhitespaceAsSuffix: boolean;
  byteFallback: boolean;
  unkSurface: string;
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

const MODEL_TYPE_UNIGRAM = 1;

/** Field numbers from sentencepiece_model.proto; fields not listed are skipped. */
export function parseModelProto(bytes: Uint8Array, what: string): SentencePieceModel {
  const model: SentencePieceModel = {
    pieces: [],
    modelType: MODEL_TYPE_UNIGRAM,
    treatWhitespaceAsSuffix: false,
    byteFallback: false,
    unkSurface: ' \u2047 ',
    precompiledCharsmap: new Uint8Array(0),
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    escapeWhitespaces: true,
  };
  const r = new ProtoReader(bytes, what);
  r.forEachField((field, wire) => {
    if (field === 1) model.pieces.push(parsePiece(r.message(wire, 'pieces'), model.pieces.length));
    else if (field === 2) parseTrainerSpec(r.message(wire, 'trainer_spec'), model);
    else if (field === 3) parseNormalizerSpec(r.message(wire, 'normalizer_spec'), model);
    else return false;
    return true;
  });
  return model;
}

function parsePiece(r: ProtoReader, index: number): SentencePieceEntry {
  const entry: SentencePieceEntry = { piece: '', score: 0, type: 'normal' };
  r.forEachField((field, wire) => {
    if (field === 1) entry.piece = r.string(wire, 'piece');
    else if (field === 2) entry.score = r.float(wire, 'score');
    else if (field === 3) {
      const t = r.int(wire, 'type');
      entry.type = PIECE_TYPES[t] ?? r.fail(`piece ${index} has unknown type ${t}`);
    } else return false;
    return true;
  });
  return entry;
}

function parseTrainerSpec(r: ProtoReader, model: SentencePieceModel): void {
  r.forEachField((field, wire) => {
    if (field === 3) model.modelType = r.int(wire, 'trainer_spec.model_type');
    else if (field === 24) model.treatWhitespaceAsSuffix = r.bool(wire, 'trainer_spec.treat_whitespace_as_suffix');
    else if (field === 35) model.byteFallback = r.bool(wire, 'trainer_spec.byte_fallback');
    else if (field === 44) model.unkSurface = r.string(wire, 'trainer_spec.unk_surface');
    else return false;
    return true;
  });
}

function parseNormalizerSpec(r: ProtoReader, model: SentencePieceModel): void {
  r.forEachField((field, wire) => {
    if (field === 2) model.precompiledCharsmap = r.bytesField(wire, 'normalizer_spec.precompiled_charsmap');
    else if (field === 3) model.addDummyPrefix = r.bool(wire, 'normalizer_spec.add_dummy_prefix');
    else if (field === 4) model.removeExtraWhitespaces = r.bool(wire, 'normalizer_spec.remove_extra_whitespaces');
    else if (field === 5) model.escapeWhitespaces = r.bool(wire, 'normalizer_spec.escape_whitespaces');
    else return false;
    return true;
  });
}

// ---- normalization ----------------------------------------------------------------------------

const SPACE_SYMBOL = [0xe2, 0x96, 0x81]; // "▁" U+2581 in UTF-8
const SPACE = 0x20;

/** Bytes of the UTF-8 character starting with `lead` (SentencePiece's OneCharLen). */
function utf8Length(lead: number): number {
  return lead < 0xc0 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
}

/**
 * The precompiled charsmap: a uint32 trie size, a darts-clone double-array trie over UTF-8 keys
 * whose values are offsets into the rest of the blob, NUL-terminated replacement strings.
 */
class CharsMap {
  private readonly units: Uint32Array;
  private readonly strings: Uint8Array;

  constructor(blob: Uint8Array, what: string) {
    const trieSize = blob.length > 4 ? new DataView(blob.buffer, blob.byteOffset, 4).getUint32(0, true) : -1;
    if (trieSize < 0 || trieSize % 4 !== 0 || trieSize >= blob.length) {
      throw new Error(`${what}: precompiled_charsmap is broken (trie size ${trieSize}, blob ${blob.length} bytes)`);
    }
    // Copied: the trie's offset in the file is not 4-byte aligned in general. Not blob.slice():
    // on a Node Buffer (what readFile returns) slice is a view, and .buffer the whole file.
    this.units = new Uint32Array(new Uint8Array(blob.subarray(4, 4 + trieSize)).buffer);
    this.strings = blob.subarray(4 + trieSize);
  }

  /**
   * The longest rule matching `input` at `pos`: [bytes consumed, replacement]; null when none.
   * Walks the double array as darts-clone's commonPrefixSearch does: a unit's offset locates its
   * children, its label must equal the byte that led to it, and a leaf flag marks a key end whose
   * value sits in the child reached by offset.
   */
  match(input: Uint8Array, pos: number): [number, Uint8Array] | null {
    const u = this.units;
    let node = offsetOf(u[0]);
    let best = -1;
    let bestLength = 0;
    for (let i = pos; i < input.length; i++) {
      node ^= input[i];
      if (node >= u.length) break;
      const unit = u[node];
      if (((unit & 0x800000ff) >>> 0) !== input[i]) break;
      node ^= offsetOf(unit);
      if ((unit >>> 8) & 1 && node < u.length) {
        best = u[node] & 0x7fffffff;
        bestLength = i + 1 - pos;
      }
    }
    if (best < 0) return null;
    let end = best;
    while (end < this.strings.length && this.strings[end] !== 0) end++;
    return [bestLength, this.strings.subarray(best, end)];
  }
}

function offsetOf(unit: number): number {
  return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
}

// ---- the tokenizer ----------------------------------------------------------------------------

/** A byte trie over the pieces the lattice may use. */
class PieceTrie {
  private readonly children: Map<number, number>[] = [new Map()];
  private readonly values: number[] = [-1];

  insert(key: Uint8Array, value: number): void {
    let node = 0;
    for (const b of key) {
      let next = this.children[node].get(b);
      if (next === undefined) {
        next = this.children.length;
        this.children.push(new Map());
        this.values.push(-1);
        this.children[node].set(b, next);
      }
      node = next;
    }
    this.values[node] = value;
  }

  /** Calls `found(endPos, id)` for every piece that is a prefix of input[pos..]. */
  prefixes(input: Uint8Array, pos: number, found: (end: number, id: number) => void): void {
    let node = 0;
    for (let i = pos; i < input.length; i++) {
      const next = this.children[node].get(input[i]);
      if (next === undefined) return;
      node = next;
      if (this.values[node] >= 0) found(i + 1, this.values[node]);
    }
  }
}

// SentencePiece scores an unknown character this far below the worst piece.
const UNK_PENALTY = 10;

export class SentencePieceTokenizer implements Tokenizer {
  readonly padId: number;
  readonly eosId: number;
  readonly unkId: number;
  private readonly pieces: SentencePieceEntry[];
  private readonly charsMap: CharsMap | null;
  private readonly trie = new PieceTrie();
  private readonly unkScore: number;

  private constructor(
    private readonly model: SentencePieceModel,
    what: string,
    /** The .model file it was read from, so a checkpoint can store it unchanged. */
    readonly modelProto: Uint8Array,
  ) {
    const fail = (m: string): never => {
      throw new Error(`${what}: ${m}`);
    };
    if (model.modelType !== MODEL_TYPE_UNIGRAM) fail(`model type ${model.modelType} is not unigram (1); only unigram models are supported`);
    if (model.treatWhitespaceAsSuffix) fail('treat_whitespace_as_suffix is not supported');
    if (model.byteFallback) fail('byte_fallback is not supported');
    if (model.pieces.length === 0) fail('the model has no pieces');
    this.pieces = model.pieces;
    this.charsMap = model.precompiledCharsmap.length > 0 ? new CharsMap(model.precompiledCharsmap, what) : null;

    const encoder = new TextEncoder();
    const seen = new Set<string>();
    let unk = -1;
    let minScore = Infinity;
    this.pieces.forEach((p, id) => {
      if (p.type === 'user_defined' || p.type === 'byte') fail(`piece ${id} ${JSON.stringify(p.piece)} is ${p.type}; such pieces are not supported`);
      if (p.piece === '') fail(`piece ${id} is empty`);
      if (seen.has(p.piece)) fail(`piece ${JSON.stringify(p.piece)} is defined twice`);
      seen.add(p.piece);
      if (p.type === 'unknown') {
        if (unk >= 0) fail(`two unknown pieces (${unk} and ${id})`);
        unk = id;
      }
      // Unused pieces keep their ids but never enter the lattice; control and unknown pieces are
      // never matched in text.
      if (p.type === 'normal') {
        this.trie.insert(encoder.encode(p.piece), id);
        minScore = Math.min(minScore, p.score);
      }
    });
    if (unk < 0) fail('the model defines no unknown piece');
    this.unkId = unk;
    this.unkScore = Math.fround(minScore - UNK_PENALTY);
    this.padId = this.controlId('<pad>');
    this.eosId = this.controlId('</s>');
  }

  /** Reads a serialized ModelProto (the bytes of a `.model` file); `what` names it in errors. */
  static fromModelProto(bytes: ArrayBuffer | Uint8Array, what = 'spiece.model'): SentencePieceTokenizer {
    const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    return new SentencePieceTokenizer(parseModelProto(data, what), what, data);
  }

  // T5's tokenizer pads and ends with these pieces; -1 where the model lacks one.
  private controlId(piece: string): number {
    const id = this.pieces.findIndex((p) => p.piece === piece);
    return id >= 0 && this.pieces[id].type === 'control' ? id : -1;
  }

  get vocabSize(): number {
    return this.pieces.length;
  }

  pieceInfo(id: number): SentencePieceEntry {
    this.idToPiece(id);
    return { ...this.pieces[id] };
  }

  idToPiece(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.pieces.length) {
      throw new Error(`SentencePieceTokenizer: id ${id} is outside the vocabulary (size ${this.pieces.length})`);
    }
    return this.pieces[id].piece;
  }

  /** The normalized text the lattice is built over, as UTF-8 bytes. */
  normalize(text: string): Uint8Array {
    const input = new TextEncoder().encode(text);
    const m = this.model;
    const out: number[] = [];
    const prefix = (pos: number): [number, Uint8Array] => {
      const rule = this.charsMap?.match(input, pos);
      if (rule) return rule;
      const n = Math.min(utf8Length(input[pos]), input.length - pos);
      return [n, input.subarray(pos, pos + n)];
    };
    const isSpace = (s: Uint8Array): boolean => s.length === 1 && s[0] === SPACE;

    let pos = 0;
    if (m.removeExtraWhitespaces) {
      while (pos < input.length) {
        const [n, s] = prefix(pos);
        if (!isSpace(s)) break;
        pos += n;
      }
    }
    if (pos === input.length) return new Uint8Array(0);
    const spaceSymbol = m.escapeWhitespaces ? SPACE_SYMBOL : [SPACE];
    if (m.addDummyPrefix) out.push(...spaceSymbol);

    let prevSpace = m.removeExtraWhitespaces;
    while (pos < input.length) {
      const [n, s] = prefix(pos);
      pos += n;
      let start = 0;
      // Whitespace right after whitespace is dropped, also at the start of a replacement.
      while (prevSpace && start < s.length && s[start] === SPACE) start++;
      if (start < s.length) {
        for (let i = start; i < s.length; i++) {
          if (s[i] === SPACE && m.escapeWhitespaces) out.push(...SPACE_SYMBOL);
          else out.push(s[i]);
        }
        prevSpace = s[s.length - 1] === SPACE;
      }
      if (!m.removeExtraWhitespaces) prevSpace = false;
    }

    if (m.removeExtraWhitespaces) {
      const k = spaceSymbol.length;
      while (out.length >= k && spaceSymbol.every((b, i) => out[out.length - k + i] === b)) out.length -= k;
    }
    return Uint8Array.from(out);
  }

  /**
   * Viterbi over the normalized bytes: the best path to each character boundary, extended by
   * every piece starting there, plus an <unk> step over one character when no piece covers
   * exactly that character. Ties keep the first candidate found (shorter pieces, earlier starts),
   * and piece sums are compared in double but stored in float32, as the library does.
   * Returns [start, end, id] byte spans with runs of <unk> merged.
   */
  private segment(normalized: Uint8Array): [number, number, number][] {
    const size = normalized.length;
    const score = new Float64Array(size + 1);
    const from = new Int32Array(size + 1).fill(-1);
    const ids = new Int32Array(size + 1);
    const offer = (end: number, start: number, id: number, candidate: number): void => {
      if (from[end] === -1 || candidate > score[end]) {
        score[end] = Math.fround(candidate);
        from[end] = start;
        ids[end] = id;
      }
    };
    for (let start = 0; start < size; ) {
      const here = score[start];
      const charLength = Math.min(utf8Length(normalized[start]), size - start);
      let coversChar = false;
      this.trie.prefixes(normalized, start, (end, id) => {
        offer(end, start, id, this.pieces[id].score + here);
        if (end - start === charLength) coversChar = true;
      });
      if (!coversChar) offer(start + charLength, start, this.unkId, Math.fround(this.unkScore + here));
      start += charLength;
    }
    const spans: [number, number, number][] = [];
    for (let end = size; end > 0; end = from[end]) spans.push([from[end], end, ids[end]]);
    spans.reverse();

    const merged: [number, number, number][] = [];
    for (const s of spans) {
      const last = merged[merged.length - 1];
      if (last !== undefined && last[2] === this.unkId && s[2] === this.unkId) last[1] = s[1];
      else merged.push(s);
    }
    return merged;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids = this.segment(this.normalize(text)).map((s) => s[2]);
    if (options.addEos) {
      if (this.eosId < 0) throw new Error('SentencePieceTokenizer: the model has no </s> piece to append');
      ids.push(this.eosId);
    }
    return ids;
  }

  encodeAsPieces(text: string): string[] {
    const normalized = this.normalize(text);
    const decoder = new TextDecoder();
    return this.segment(normalized).map(([s, e]) => decoder.decode(normalized.subarray(s, e)));
  }

  /**
   * SentencePiece's decode: "▁" becomes a space, leading "▁"s of the text are dropped (they are
   * the dummy prefix), <unk> becomes unk_surface. With skipSpecial, control pieces (pad, eos)
   * vanish as in decode_ids; without it they show by name ("<pad>", "</s>").
   */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const m = this.model;
    let text = '';
    let atStart = true;
    let startSpaceSeen = false;
    for (const id of ids) {
      this.idToPiece(id);
      const entry = this.pieces[id];
      if (startSpaceSeen || text !== '') atStart = false;
      startSpaceSeen = false;
      if (entry.type === 'control') {
        if (!options.skipSpecial) text += entry.piece;
        continue;
      }
      if (entry.type === 'unknown') {
        text += m.unkSurface;
        continue;
      }
      let piece = entry.piece;
      if (atStart && (m.addDummyPrefix || m.removeExtraWhitespaces) && piece.startsWith('\u2581')) {
        piece = piece.slice(1);
        // Without whitespace removal only the one dummy-prefix space is dropped.
        startSpaceSeen = !m.removeExtraWhitespaces;
      }
      text += piece.replaceAll('\u2581', ' ');
    }
    return text;
  }
}
