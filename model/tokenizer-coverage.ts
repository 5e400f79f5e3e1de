// How well a tokenizer's vocabulary covers a set of texts. A pretrained vocabulary was not made
// for the task's texts (T5's SentencePiece model lacks some symbols, e.g. "{", "}" and "<", and
// folds newlines into spaces): characters it lacks become <unk>, so the model can read that
// something is there but never write it back.

import type { Tokenizer } from './tokenizer.ts';

export interface Coverage {
  /** Characters in all texts. */
  characters: number;
  /** Each character the vocabulary lacks, with how often it occurs. */
  unknown: Map<string, number>;
  /** Texts that do not decode back to themselves (unknown characters, or whitespace folded by normalization). */
  changed: number;
  texts: number;
}

export function coverage(tokenizer: Tokenizer, texts: Iterable<string>): Coverage {
  const c: Coverage = { characters: 0, unknown: new Map(), changed: 0, texts: 0 };
  for (const text of texts) {
    c.texts += 1;
    c.characters += [...text].length;
    const ids = tokenizer.encode(text);
    const pieces = tokenizer.encodeAsPieces(text);
    ids.forEach((id, i) => {
      if (id !== tokenizer.unkId) return;
      for (const ch of pieces[i]) c.unknown.set(ch, (c.unknown.get(ch) ?? 0) + 1);
    });
    if (tokenizer.decode(ids, { skipSpecial: true }) !== text) c.changed += 1;
  }
  return c;
}

/** One line for a log: what the vocabulary lacks and what becomes of it. */
export function describeCoverage(c: Coverage): string {
  const missing = [...c.unknown.values()].reduce((a, b) => a + b, 0);
  if (missing === 0) return `the vocabulary covers every character of the ${c.texts} texts (${c.changed} decode with whitespace folded)`;
  const list = [...c.unknown.entries()].sort((a, b) => b[1] - a[1]).map(([ch, n]) => `${JSON.stringify(ch)} x${n}`);
  return (
    `the vocabulary lacks ${c.unknown.size} characters, ${missing} of ${c.characters} (${((100 * missing) / c.characters).toFixed(2)}%): ${list.slice(0, 12).join(', ')}${list.length > 12 ? ', ...' : ''}; ` +
    `they are encoded as <unk>, which the model reads but cannot write back, and answers are scored on the decoded text`
  );
}
