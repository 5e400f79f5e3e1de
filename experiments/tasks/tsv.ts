// The two data file formats: the authors' (no header; source TAB target, a field holding a tab,
// newline or quote is double-quoted with inner quotes doubled, as Python's csv module writes) and
// LRA's (`Source\tTarget` header, one example per line, bare-answer target). Readers keep the
// file's line ending so that writing what was read reproduces the file exactly.

import { quote } from './quote.ts';

export type TsvFormat = 'authors' | 'lra';
export type LineEnding = '\n' | '\r\n';

export interface TsvRow {
  source: string;
  target: string;
}

export interface TsvFile {
  format: TsvFormat;
  lineEnding: LineEnding;
  rows: TsvRow[];
}

export const LRA_HEADER = 'Source\tTarget';

function failAt(fileName: string, line: number, message: string): never {
  throw new Error(`${fileName}:${line}: ${message}`);
}

const showEnding = (e: LineEnding): string => (e === '\n' ? '\\n' : '\\r\\n');

export function detectTsvFormat(text: string): TsvFormat {
  const firstLine = text.split('\n', 1)[0].replace(/\r$/, '');
  return firstLine === LRA_HEADER ? 'lra' : 'authors';
}

export function readTsv(text: string, fileName: string): TsvFile {
  // With a byte-order mark the LRA header would not match and the file would pass as the
  // authors' format, its header as an example.
  if (text.startsWith('\uFEFF')) failAt(fileName, 1, 'the file starts with a UTF-8 byte-order mark; save it without one (UTF-8 without BOM)');
  return detectTsvFormat(text) === 'lra' ? readLraTsv(text, fileName) : readAuthorsTsv(text, fileName);
}

export function writeTsv(file: TsvFile): string {
  return file.format === 'lra' ? writeLraTsv(file.rows, file.lineEnding) : writeAuthorsTsv(file.rows, file.lineEnding);
}

export function readAuthorsTsv(text: string, fileName: string): TsvFile {
  const rows: TsvRow[] = [];
  let lineEnding: LineEnding | null = null;
  let pos = 0;
  let line = 1;

  const readField = (): string => {
    if (text[pos] !== '"') {
      let end = pos;
      while (end < text.length && text[end] !== '\t' && text[end] !== '\n' && !(text[end] === '\r' && text[end + 1] === '\n')) end++;
      const value = text.slice(pos, end);
      if (value.includes('"')) failAt(fileName, line, 'a quote inside an unquoted field (a field with quotes must be quoted, inner quotes doubled)');
      pos = end;
      return value;
    }
    const openedAt = line;
    let value = '';
    pos++;
    for (;;) {
      const close = text.indexOf('"', pos);
      if (close < 0) failAt(fileName, openedAt, 'quoted field is never closed');
      const chunk = text.slice(pos, close);
      for (let i = chunk.indexOf('\n'); i >= 0; i = chunk.indexOf('\n', i + 1)) line++;
      value += chunk;
      if (text[close + 1] === '"') {
        value += '"';
        pos = close + 2;
      } else {
        pos = close + 1;
        break;
      }
    }
    const next = text[pos];
    if (pos < text.length && next !== '\t' && next !== '\n' && !text.startsWith('\r\n', pos)) {
      failAt(fileName, line, `unexpected ${JSON.stringify(next)} after a closing quote (inner quotes must be doubled)`);
    }
    return value;
  };

  while (pos < text.length) {
    const recordLine = line;
    const fields = [readField()];
    while (text[pos] === '\t') {
      pos++;
      fields.push(readField());
    }
    if (pos < text.length) {
      const ending: LineEnding = text[pos] === '\n' ? '\n' : '\r\n';
      if (lineEnding === null) lineEnding = ending;
      else if (ending !== lineEnding) failAt(fileName, line, `line ends with ${showEnding(ending)} but earlier lines end with ${showEnding(lineEnding)}`);
      pos += ending.length;
      line++;
    }
    if (fields.length === 1 && fields[0] === '') failAt(fileName, recordLine, 'empty line');
    if (fields.length === 1) failAt(fileName, recordLine, 'expected source<TAB>target, found no tab');
    if (fields.length > 2) failAt(fileName, recordLine, `expected 2 tab-separated fields (source, target), found ${fields.length}`);
    if (fields[0] === '') failAt(fileName, recordLine, 'empty source');
    if (fields[1] === '') failAt(fileName, recordLine, 'empty target');
    rows.push({ source: fields[0], target: fields[1] });
  }
  return { format: 'authors', lineEnding: lineEnding ?? '\n', rows };
}

function quoteField(value: string): string {
  return /[\t\n\r"]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export function writeAuthorsTsv(rows: readonly TsvRow[], lineEnding: LineEnding = '\n'): string {
  let out = '';
  rows.forEach((r, i) => {
    if (r.source === '' || r.target === '') throw new Error(`row ${i + 1}: empty ${r.source === '' ? 'source' : 'target'}`);
    out += `${quoteField(r.source)}\t${quoteField(r.target)}${lineEnding}`;
  });
  return out;
}

export function readLraTsv(text: string, fileName: string): TsvFile {
  const lines = text.split('\n');
  // A final line ending leaves one empty piece after the split.
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  const lineEnding: LineEnding = text.startsWith(LRA_HEADER + '\r\n') ? '\r\n' : '\n';
  const rows: TsvRow[] = [];
  lines.forEach((raw, i) => {
    const n = i + 1;
    const isLast = i === lines.length - 1 && !text.endsWith('\n');
    const hasCr = raw.endsWith('\r');
    if (!isLast && hasCr !== (lineEnding === '\r\n')) failAt(fileName, n, `line ends with ${showEnding(hasCr ? '\r\n' : '\n')} but line 1 ends with ${showEnding(lineEnding)}`);
    const content = hasCr ? raw.slice(0, -1) : raw;
    if (i === 0) {
      if (content !== LRA_HEADER) failAt(fileName, n, `expected the header ${JSON.stringify(LRA_HEADER)}`);
      return;
    }
    const fields = content.split('\t');
    if (fields.length !== 2) failAt(fileName, n, `expected 2 tab-separated fields (source, target), found ${fields.length}`);
    const [source, target] = fields;
    if (source === '') failAt(fileName, n, 'empty source');
    if (!/^\d+$/.test(target)) failAt(fileName, n, `target must be a bare non-negative integer, got ${quote(target)}`);
    rows.push({ source, target });
  });
  return { format: 'lra', lineEnding, rows };
}

export function writeLraTsv(rows: readonly TsvRow[], lineEnding: LineEnding = '\n'): string {
  let out = LRA_HEADER + lineEnding;
  rows.forEach((r, i) => {
    if (r.source === '' || /[\t\r\n]/.test(r.source)) throw new Error(`row ${i + 1}: LRA TSV sources must be non-empty single-line text without tabs`);
    if (!/^\d+$/.test(r.target)) throw new Error(`row ${i + 1}: LRA TSV targets must be bare answers (a non-negative integer), got ${JSON.stringify(r.target)}`);
    out += `${r.source}\t${r.target}${lineEnding}`;
  });
  return out;
}
