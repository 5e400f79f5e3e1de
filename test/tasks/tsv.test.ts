import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectTsvFormat, readAuthorsTsv, readLraTsv, readTsv, writeAuthorsTsv, writeLraTsv, writeTsv, type TsvRow } from '../../experiments/tasks/tsv.ts';

const sample = readFileSync(path.resolve(import.meta.dirname, '../fixtures/authors-medium-sample.tsv'), 'utf8');

const tricky: TsvRow[] = [
  { source: '( ( ( [MAX 4 ) 9 ) ] )', target: 'Max, largest number of [4, 9] is 9\nFinal answer: 9' },
  { source: 'SUM 1 2', target: '3' },
  { source: 'a "quoted" source', target: 'say "hi"\tthen\r\nstop' },
  { source: 'x', target: '"' },
];

describe("authors' TSV", () => {
  it('round-trips the sample file exactly', () => {
    const file = readTsv(sample, 'sample.tsv');
    expect(file.format).toBe('authors');
    expect(file.rows).toHaveLength(8);
    expect(file.rows[0].target.split('\n')).toHaveLength(6);
    expect(writeTsv(file)).toBe(sample);
  });

  it('quotes only fields that need it and doubles inner quotes', () => {
    const text = writeAuthorsTsv(tricky);
    expect(text).toBe(
      '( ( ( [MAX 4 ) 9 ) ] )\t"Max, largest number of [4, 9] is 9\nFinal answer: 9"\n' +
        'SUM 1 2\t3\n' +
        '"a ""quoted"" source"\t"say ""hi""\tthen\r\nstop"\n' +
        'x\t""""\n',
    );
    expect(readAuthorsTsv(text, 't.tsv').rows).toEqual(tricky);
  });

  it('keeps CRLF line endings', () => {
    const text = writeAuthorsTsv(tricky, '\r\n');
    const file = readAuthorsTsv(text, 'crlf.tsv');
    expect(file.lineEnding).toBe('\r\n');
    expect(file.rows).toEqual(tricky);
    expect(writeTsv(file)).toBe(text);
  });

  it('accepts a missing final newline', () => {
    expect(readAuthorsTsv('a\t1\nb\t2', 'f.tsv').rows).toEqual([
      { source: 'a', target: '1' },
      { source: 'b', target: '2' },
    ]);
  });

  it('names file and line of malformed records', () => {
    const multi = 'a\t"x\ny\nz"\n';
    expect(() => readAuthorsTsv(multi + 'no tab here\n', 'bad.tsv')).toThrow(/^bad\.tsv:4: expected source<TAB>target, found no tab/);
    expect(() => readAuthorsTsv('a\t1\nb\t"open\nnever closed\n', 'bad.tsv')).toThrow(/^bad\.tsv:2: quoted field is never closed/);
    expect(() => readAuthorsTsv(multi + 'b\t"ok" trailing\n', 'bad.tsv')).toThrow(/^bad\.tsv:4: unexpected " " after a closing quote/);
    expect(() => readAuthorsTsv('a\t1\tz\n', 'bad.tsv')).toThrow(/^bad\.tsv:1: expected 2 tab-separated fields .*found 3/);
    expect(() => readAuthorsTsv('a\t1\n\nb\t2\n', 'bad.tsv')).toThrow(/^bad\.tsv:2: empty line/);
    expect(() => readAuthorsTsv('a\t1\n\t2\n', 'bad.tsv')).toThrow(/^bad\.tsv:2: empty source/);
    expect(() => readAuthorsTsv('a\t1\nb\t\n', 'bad.tsv')).toThrow(/^bad\.tsv:2: empty target/);
    expect(() => readAuthorsTsv('a\tsay "x"\n', 'bad.tsv')).toThrow(/^bad\.tsv:1: a quote inside an unquoted field/);
    expect(() => readAuthorsTsv('a\t1\r\nb\t2\n', 'bad.tsv')).toThrow(/^bad\.tsv:2: line ends with \\n but earlier lines end with \\r\\n/);
  });
});

describe("LRA's TSV", () => {
  const rows: TsvRow[] = [
    { source: '( ( ( [MAX 4 ) 9 ) ] )', target: '9' },
    { source: '[SM 9 9 [MED 4 9 ] ]', target: '4' },
  ];
  const text = 'Source\tTarget\n( ( ( [MAX 4 ) 9 ) ] )\t9\n[SM 9 9 [MED 4 9 ] ]\t4\n';

  it('writes the header and one bare answer per line', () => {
    expect(writeLraTsv(rows)).toBe(text);
  });

  it('round-trips with either line ending', () => {
    const file = readTsv(text, 'lra.tsv');
    expect(file.format).toBe('lra');
    expect(file.rows).toEqual(rows);
    expect(writeTsv(file)).toBe(text);
    const crlf = text.replaceAll('\n', '\r\n');
    const crlfFile = readTsv(crlf, 'lra.tsv');
    expect(crlfFile).toEqual({ format: 'lra', lineEnding: '\r\n', rows });
    expect(writeTsv(crlfFile)).toBe(crlf);
  });

  it('is told apart from the authors format', () => {
    expect(detectTsvFormat(text)).toBe('lra');
    expect(detectTsvFormat(text.replaceAll('\n', '\r\n'))).toBe('lra');
    expect(detectTsvFormat(sample)).toBe('authors');
    expect(detectTsvFormat('SUM 1 2\t3\n')).toBe('authors');
  });

  it('names file and line of malformed lines', () => {
    expect(() => readLraTsv('Src\tTgt\n', 'l.tsv')).toThrow(/^l\.tsv:1: expected the header/);
    expect(() => readLraTsv('', 'l.tsv')).toThrow(/^l\.tsv:1: expected the header/);
    expect(() => readLraTsv(text + '[MAX 1 2 ]\tMax is 2\n', 'l.tsv')).toThrow(/^l\.tsv:4: target must be a bare non-negative integer/);
    expect(() => readLraTsv(text + '[MAX 1 2 ]\n', 'l.tsv')).toThrow(/^l\.tsv:4: expected 2 tab-separated fields .*found 1/);
    expect(() => readLraTsv(text + '\t3\n', 'l.tsv')).toThrow(/^l\.tsv:4: empty source/);
    expect(() => readLraTsv(text + '\n[MAX 1 2 ]\t2\n', 'l.tsv')).toThrow(/^l\.tsv:4: /);
    expect(() => readLraTsv('Source\tTarget\r\n[MAX 1 2 ]\t2\n[MAX 1 3 ]\t3\r\n', 'l.tsv')).toThrow(/^l\.tsv:2: line ends with \\n but line 1 ends with \\r\\n/);
  });

  it('refuses targets that are not bare answers', () => {
    expect(() => writeLraTsv([{ source: '[MAX 1 2 ]', target: 'Final answer: 2' }])).toThrow(/row 1: .*bare answers/);
    expect(() => writeLraTsv([{ source: 'a\tb', target: '2' }])).toThrow(/row 1/);
  });
});
