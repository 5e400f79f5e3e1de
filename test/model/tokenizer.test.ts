import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WordTokenizer } from '../../model/tokenizer.ts';
import { generateSplits, TASK_NAMES, type TaskName } from '../../experiments/tasks/dataset.ts';
import { EXPLANATION_FORMATS } from '../../experiments/tasks/explain.ts';
import { readTsv } from '../../experiments/tasks/tsv.ts';

function taskTexts(task: TaskName, seed: number, n: number, split: 'train' | 'test' = 'train'): string[] {
  const texts: string[] = [];
  for (const format of EXPLANATION_FORMATS) {
    const s = generateSplits({ task, seed, sizes: { train: split === 'train' ? n : 0, validation: 0, test: split === 'test' ? n : 0 }, format });
    for (const e of s[split]) texts.push(e.source, e.target!);
  }
  return texts;
}

const AUTHORS = readTsv(readFileSync(new URL('../fixtures/authors-medium-sample.tsv', import.meta.url), 'utf8'), 'authors-medium-sample.tsv').rows.flatMap((r) => [r.source, r.target]);

describe('WordTokenizer on the task texts', () => {
  const train = TASK_NAMES.flatMap((t) => taskTexts(t, 1, 200));
  const tok = WordTokenizer.fromTexts(train);

  it('round-trips every task and explanation format exactly, without unknowns', () => {
    for (const text of train) {
      const ids = tok.encode(text);
      expect(ids).not.toContain(tok.unkId);
      expect(tok.decode(ids)).toBe(text);
    }
  });

  it('covers held-out examples: numbers are digit sequences, so unseen values still encode', () => {
    for (const text of TASK_NAMES.flatMap((t) => taskTexts(t, 99, 100, 'test'))) {
      const ids = tok.encode(text);
      expect(ids).not.toContain(tok.unkId);
      expect(tok.decode(ids)).toBe(text);
    }
    // built from listops alone (values 0-9), the vocabulary still spells listops30's sums up to 270
    const small = WordTokenizer.fromTexts(taskTexts('listops', 1, 100));
    for (const text of taskTexts('listops30', 5, 100)) {
      expect(small.encode(text)).not.toContain(small.unkId);
      expect(small.decode(small.encode(text))).toBe(text);
    }
  });

  it("round-trips the authors' released sample (multi-line quoted targets)", () => {
    const authors = WordTokenizer.fromTexts(AUTHORS);
    for (const text of AUTHORS) expect(authors.decode(authors.encode(text))).toBe(text);
    for (const text of AUTHORS) expect(tok.encode(text)).not.toContain(tok.unkId);
  });

  it('keeps the vocabulary small', () => {
    expect(tok.vocabSize).toBeGreaterThan(40);
    expect(tok.vocabSize).toBeLessThan(100);
  });

  it('cuts words, single digits, punctuation and whitespace as documented', () => {
    expect(tok.encodeAsPieces('( ( [MAX 4 ) 19 ) ] )')).toEqual(['(', ' (', ' [', 'MAX', ' 4', ' )', ' 1', '9', ' )', ' ]', ' )']);
    expect(tok.encodeAsPieces('MED, sorted list, [4, 9], MEDIAN is 6\nFinal answer: 270')).toEqual(
      ['MED', ',', ' sorted', ' list', ',', ' [', '4', ',', ' 9', ']', ',', ' MEDIAN', ' is', ' 6', '\n', 'Final', ' answer', ':', ' 2', '7', '0'],
    );
  });
});

describe('WordTokenizer mechanics', () => {
  it('fixes pad 0, eos 1, unk 2, then sorted pieces independent of text order', () => {
    const a = WordTokenizer.fromTexts(['b a', 'c\n1']);
    const b = WordTokenizer.fromTexts(['c\n1', 'b a']);
    expect(a.toJSON()).toEqual(b.toJSON());
    const tokens = a.toJSON().tokens;
    expect(tokens.slice(0, 3)).toEqual(['<pad>', '</s>', '<unk>']);
    expect([a.padId, a.eosId, a.unkId]).toEqual([0, 1, 2]);
    expect(tokens.slice(3)).toEqual([...tokens.slice(3)].sort());
    // the ten digits, with and without a leading space, space and newline are always present
    for (const t of ['0', ' 0', '9', ' 9', ' ', '\n', ' a', 'b', 'c']) expect(tokens).toContain(t);
  });

  it('keeps unusual whitespace explicit, so it round-trips too', () => {
    const text = '  lead\t\ttabs  double \r\ntrail ';
    const tok = WordTokenizer.fromTexts([text]);
    expect(tok.encodeAsPieces(text)).toEqual([' ', ' lead', '\t', '\t', 'tabs', ' ', ' double', ' ', '\r', '\n', 'trail', ' ']);
    expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it('spells a space-prefixed piece missing from the vocabulary as a space and the bare piece', () => {
    const tok = WordTokenizer.fromTexts(['x', 'y']);
    expect(tok.encodeAsPieces('x y')).toEqual(['x', ' ', 'y']);
    expect(tok.decode(tok.encode('x y'))).toBe('x y');
  });

  it('maps unknown pieces to unk and renders them as <unk>', () => {
    const tok = WordTokenizer.fromTexts(['a b']);
    const ids = tok.encode('a zebra b ü');
    expect(ids).toEqual([tok.encode('a')[0], tok.encode(' ')[0], 2, tok.encode(' b')[0], tok.encode(' ')[0], 2]);
    expect(tok.encodeAsPieces('a zebra')).toEqual(['a', ' ', 'zebra']);
    expect(tok.decode(ids)).toBe('a <unk> b <unk>');
  });

  it('appends eos on request and skips pad and eos on request', () => {
    const tok = WordTokenizer.fromTexts(['SUM 3 4']);
    const ids = tok.encode('SUM 3 4', { addEos: true });
    expect(ids[ids.length - 1]).toBe(1);
    expect(tok.encode('SUM 3 4')).toEqual(ids.slice(0, -1));
    expect(tok.decode([...ids, 0, 0])).toBe('SUM 3 4</s><pad><pad>');
    expect(tok.decode([...ids, 0, 0], { skipSpecial: true })).toBe('SUM 3 4');
    expect(tok.encode('')).toEqual([]);
    expect(() => tok.decode([tok.vocabSize])).toThrow(/id \d+ is outside the vocabulary/);
    expect(() => tok.decode([1.5])).toThrow(/id 1.5 is outside/);
  });

  it('saves to JSON and loads back identically', () => {
    const texts = taskTexts('modsum', 3, 20);
    const tok = WordTokenizer.fromTexts(texts);
    const back = WordTokenizer.fromJSON(JSON.parse(JSON.stringify(tok)));
    expect(back.toJSON()).toEqual(tok.toJSON());
    for (const t of texts) expect(back.encode(t)).toEqual(tok.encode(t));
  });

  it('rejects malformed JSON vocabularies', () => {
    const tokens = ['<pad>', '</s>', '<unk>', 'a', ' b'];
    expect(() => WordTokenizer.fromJSON({ type: 'spm', tokens })).toThrow(/type "word"/);
    expect(() => WordTokenizer.fromJSON(null)).toThrow(/type "word"/);
    expect(() => WordTokenizer.fromJSON({ type: 'word', tokens: 'a' })).toThrow(/array of strings/);
    expect(() => WordTokenizer.fromJSON({ type: 'word', tokens: ['</s>', '<pad>', '<unk>'] })).toThrow(/token 0 must be "<pad>"/);
    expect(() => WordTokenizer.fromJSON({ type: 'word', tokens: [...tokens, 'a'] })).toThrow(/"a" appears twice/);
    expect(() => WordTokenizer.fromJSON({ type: 'word', tokens: [...tokens, 'a b'] })).toThrow(/token 5 "a b" is not a single piece/);
    expect(() => WordTokenizer.fromJSON({ type: 'word', tokens: [...tokens, '12'] })).toThrow(/not a single piece/);
  });
});

describe('WordTokenizer with span-corruption sentinels', () => {
  const texts = taskTexts('listops', 2, 20);
  const base = WordTokenizer.fromTexts(texts);
  const tok = base.withSentinels(3);

  it('adds <extra_id_0>, <extra_id_1>, ... at the end, leaving every other id as it was', () => {
    expect(base.sentinels).toBe(0);
    expect(tok.sentinels).toBe(3);
    expect(tok.vocabSize).toBe(base.vocabSize + 3);
    expect([0, 1, 2].map((i) => tok.sentinelId(i))).toEqual([base.vocabSize, base.vocabSize + 1, base.vocabSize + 2]);
    expect(tok.idToPiece(tok.sentinelId(2))).toBe('<extra_id_2>');
    for (const t of texts) expect(tok.encode(t)).toEqual(base.encode(t));
    expect(() => tok.sentinelId(3)).toThrow(/no sentinel 3; the vocabulary has 3/);
    expect(tok.withSentinels(1).vocabSize).toBe(base.vocabSize + 1);
  });

  it('reads a sentinel in a text as its one token and writes it back by name', () => {
    const [head, tail] = [texts[0].slice(0, 9), texts[0].slice(9)];
    const text = `${head}<extra_id_0>${tail}<extra_id_1>`;
    const ids = tok.encode(text);
    expect(ids).toContain(tok.sentinelId(0));
    expect(ids).toContain(tok.sentinelId(1));
    expect(ids).not.toContain(tok.unkId);
    expect(tok.decode(ids)).toBe(text);
    // a sentinel the vocabulary lacks is ordinary text
    expect(tok.encode('<extra_id_7>')).toContain(tok.unkId);
    expect(base.encode('<extra_id_0>')).not.toContain(base.vocabSize);
  });

  it('saves its sentinels to JSON and loads them back; refuses them out of order or mid-list', () => {
    const back = WordTokenizer.fromJSON(JSON.parse(JSON.stringify(tok)));
    expect(back.toJSON()).toEqual(tok.toJSON());
    expect(back.sentinels).toBe(3);
    const tokens = ['<pad>', '</s>', '<unk>', 'a'];
    expect(() => WordTokenizer.fromJSON({ type: 'word', tokens: [...tokens, '<extra_id_1>'] })).toThrow(/sentinels must run <extra_id_0>, <extra_id_1>, \.\.\. at the end/);
    expect(() => WordTokenizer.fromJSON({ type: 'word', tokens: ['<pad>', '</s>', '<unk>', '<extra_id_0>', 'a'] })).toThrow(/not a single piece/);
  });
});
