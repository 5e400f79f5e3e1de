// What a pretrained vocabulary lacks of the task texts, with the SentencePiece fixture (whose
// cases.json shows "中文" and "∆∆" as unknown runs).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SentencePieceTokenizer } from '../../model/sentencepiece.ts';
import { coverage, describeCoverage } from '../../model/tokenizer-coverage.ts';

const sp = SentencePieceTokenizer.fromModelProto(readFileSync(path.resolve(import.meta.dirname, '../fixtures/spiece/spiece.model')));

describe('tokenizer coverage', () => {
  it('counts each character the vocabulary lacks, and texts that do not decode back to themselves', () => {
    const c = coverage(sp, ['[MAX 2 中文 ]', 'the sum is 7', '∆∆ 7\nFinal answer: 7']);
    expect(c.texts).toBe(3);
    expect(c.characters).toBe(11 + 12 + 20);
    expect([...c.unknown.entries()].sort()).toEqual([['∆', 2], ['中', 1], ['文', 1]]);
    // Unknown characters and the newline (folded into a space) change texts 1 and 3.
    expect(c.changed).toBe(2);
    expect(describeCoverage(c)).toMatch(/^the vocabulary lacks 3 characters, 4 of 43 \(9\.30%\): "∆" x2, "中" x1, "文" x1; they are encoded as <unk>/);
  });

  it('says so when every character is covered', () => {
    expect(describeCoverage(coverage(sp, ['the sum is 7']))).toBe('the vocabulary covers every character of the 1 texts (0 decode with whitespace folded)');
  });
});
