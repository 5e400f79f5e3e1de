// Tokenizers share one interface so the model and training layers do not care whether ids come
// from a task's own small word vocabulary or from T5's SentencePiece model.
//
// WordTokenizer: a vocabulary built from the task texts themselves, with T5's special ids
// (pad 0, eos 1, unk 2). Text is cut into pieces whose concatenation is the text, so decoding is
// plain concatenation and decode(encode(x)) === x whenever every piece is in the vocabulary:
//   - a run of letters is one piece ("MEDIAN", "sorted", "Final"),
//   - every digit is its own piece, so a number is its digit sequence: a model can then write
//     numbers it never saw (e.g. sums up to 270 in listops30) from ten known digit tokens,
//   - every other non-space character is its own piece ("[", "]", ",", ":", "(", "/"),
//   - a single space directly before a piece is part of it (" sorted", " [", " 4"), like
//     SentencePiece's "▁", so the usual single spaces cost no tokens: "[MAX 4 ]" is
//     "[", "MAX", " 4", " ]",
//   - any other whitespace character is a piece of its own ("\n", "\t", a second space).
// Ids: the three specials, then the pieces in sorted (UTF-16 code unit) order, so the vocabulary
// depends only on the set of texts, not on their order; then, for a vocabulary that a model was
// pretrained with by span corruption (experiments/pretrain/), T5's sentinels <extra_id_0>,
// <extra_id_1>, ... at the end, so that the ids of the pieces do not depend on how many there are.
// A sentinel in a text is read as its one token, and written back as its name.

export interface EncodeOptions {
  /** Appends eosId (T5 ends every source and target with it). Default false. */
  addEos?: boolean;
}

export interface DecodeOptions {
  /** Drops pad and eos instead of rendering them as "<pad>" and "</s>". Default false. */
  skipSpecial?: boolean;
}

export interface Tokenizer {
  readonly vocabSize: number;
  readonly padId: number;
  readonly eosId: number;
  readonly unkId: number;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /** The pieces encode produces; an unknown piece shows its source text. */
  encodeAsPieces(text: string): string[];
  idToPiece(id: number): string;
}

export const PAD_TOKEN = '<pad>';
export const EOS_TOKEN = '</s>';
export const UNK_TOKEN = '<unk>';
const SPECIALS = [PAD_TOKEN, EOS_TOKEN, UNK_TOKEN];

/** The name of span-corruption sentinel `i`, as T5 names it. */
export const sentinelToken = (i: number): string => `<extra_id_${i}>`;
const SENTINEL = /^<extra_id_(0|[1-9][0-9]*)>$/;
const SENTINELS_IN_TEXT = /(<extra_id_(?:0|[1-9][0-9]*)>)/;

// The alternatives cover every character, so the pieces always concatenate back to the text.
const PIECE = / ?\p{L}+| ?[0-9]| ?[^\s\p{L}0-9]|\s/gu;

function splitPieces(text: string): string[] {
  return text.match(PIECE) ?? [];
}

// Digits are always in the vocabulary, with and without the leading space, so any number can be
// encoded even if the texts the vocabulary was built from lack some digit in some position.
const ALWAYS = [...'0123456789', ...[...'0123456789'].map((d) => ' ' + d), ' ', '\n'];

export interface WordTokenizerJSON {
  type: 'word';
  tokens: string[];
}

export class WordTokenizer implements Tokenizer {
  readonly padId = 0;
  readonly eosId = 1;
  readonly unkId = 2;
  private readonly ids: Map<string, number>;
  /** How many sentinels end the vocabulary (0 but for a span-corruption vocabulary). */
  readonly sentinels: number;

  private constructor(private readonly tokens: readonly string[]) {
    this.ids = new Map(tokens.map((t, i) => [t, i]));
    let n = 0;
    while (n < tokens.length && SENTINEL.test(tokens[tokens.length - 1 - n])) n++;
    this.sentinels = n;
  }

  static fromTexts(texts: Iterable<string>): WordTokenizer {
    const pieces = new Set(ALWAYS);
    for (const text of texts) for (const p of splitPieces(text)) pieces.add(p);
    for (const s of SPECIALS) pieces.delete(s);
    return new WordTokenizer([...SPECIALS, ...[...pieces].sort()]);
  }

  /** The same vocabulary with `count` sentinels at its end (in place of any it had): every
   *  other piece keeps its id. */
  withSentinels(count: number): WordTokenizer {
    if (!Number.isSafeInteger(count) || count < 0) throw new Error(`WordTokenizer.withSentinels: count must be an integer >= 0, got ${count}`);
    const base = this.tokens.slice(0, this.tokens.length - this.sentinels);
    return new WordTokenizer([...base, ...Array.from({ length: count }, (_, i) => sentinelToken(i))]);
  }

  /** The id of sentinel `i` (<extra_id_i>). */
  sentinelId(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.sentinels) throw new Error(`WordTokenizer: no sentinel ${i}; the vocabulary has ${this.sentinels}`);
    return this.tokens.length - this.sentinels + i;
  }

  static fromJSON(json: unknown): WordTokenizer {
    const fail = (m: string): never => {
      throw new Error(`WordTokenizer.fromJSON: ${m}`);
    };
    const j = json as Partial<WordTokenizerJSON> | null;
    if (typeof j !== 'object' || j === null || j.type !== 'word') fail('expected an object with type "word"');
    const tokens = j!.tokens;
    if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string')) fail('tokens must be an array of strings');
    const list = tokens as string[];
    SPECIALS.forEach((s, i) => {
      if (list[i] !== s) fail(`token ${i} must be ${JSON.stringify(s)}, got ${JSON.stringify(list[i])}`);
    });
    const seen = new Set<string>();
    // Sentinels, if any, end the list, in order: <extra_id_0>, <extra_id_1>, ...
    let first = list.length;
    while (first > SPECIALS.length && SENTINEL.test(list[first - 1])) first--;
    list.forEach((t, i) => {
      if (seen.has(t)) fail(`token ${JSON.stringify(t)} appears twice`);
      seen.add(t);
      if (i >= first) {
        if (t !== sentinelToken(i - first)) fail(`token ${i} ${JSON.stringify(t)}: the sentinels must run <extra_id_0>, <extra_id_1>, ... at the end of the list`);
        return;
      }
      const p = splitPieces(t);
      if (i >= SPECIALS.length && (p.length !== 1 || p[0] !== t)) fail(`token ${i} ${JSON.stringify(t)} is not a single piece`);
    });
    return new WordTokenizer(list);
  }

  toJSON(): WordTokenizerJSON {
    return { type: 'word', tokens: [...this.tokens] };
  }

  get vocabSize(): number {
    return this.tokens.length;
  }

  encodeAsPieces(text: string): string[] {
    if (this.sentinels === 0) return this.piecesOf(text);
    // A sentinel of this vocabulary is one piece; any other text between them as usual.
    return text.split(SENTINELS_IN_TEXT).flatMap((part, i) => (i % 2 === 1 && this.ids.has(part) ? [part] : this.piecesOf(part)));
  }

  private piecesOf(text: string): string[] {
    const out: string[] = [];
    for (const p of splitPieces(text)) {
      // A space-prefixed piece missing from the vocabulary can still be spelled as " " + piece.
      if (p.length > 1 && p[0] === ' ' && !this.ids.has(p) && this.ids.has(' ')) out.push(' ', p.slice(1));
      else out.push(p);
    }
    return out;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids = this.encodeAsPieces(text).map((p) => this.ids.get(p) ?? this.unkId);
    if (options.addEos) ids.push(this.eosId);
    return ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    let text = '';
    for (const id of ids) {
      if (options.skipSpecial && (id === this.padId || id === this.eosId)) continue;
      text += this.idToPiece(id);
    }
    return text;
  }

  idToPiece(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.tokens.length) {
      throw new Error(`WordTokenizer: id ${id} is outside the vocabulary (size ${this.tokens.length})`);
    }
    return this.tokens[id];
  }
}
