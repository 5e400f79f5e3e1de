// A checkpoint's files as one download: a plain ustar archive (POSIX tar), which `tar -xf` opens
// into the folder layout model/checkpoint-dir.ts reads. Flat names only, regular files only.

import type { CheckpointFiles } from '../model/checkpoint.ts';

const BLOCK = 512;

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, size: number, mtime: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const put = (at: number, s: string) => h.set(new TextEncoder().encode(s), at);
  put(0, name);
  put(100, octal(0o644, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(size, 12));
  put(136, octal(mtime, 12));
  put(148, '        '); // checksum field counts as spaces while summing
  put(156, '0');
  put(257, 'ustar\0');
  put(263, '00');
  const sum = h.reduce((a, b) => a + b, 0);
  put(148, octal(sum, 7) + ' ');
  return h;
}

export function packTar(files: CheckpointFiles, mtime = Math.floor(Date.now() / 1000)): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, data] of Object.entries(files)) {
    if (new TextEncoder().encode(name).length > 99 || name.includes('/')) throw new Error(`tar: file name "${name}" must be flat and under 100 bytes`);
    parts.push(header(name, data.length, mtime), data, new Uint8Array((BLOCK - (data.length % BLOCK)) % BLOCK));
  }
  parts.push(new Uint8Array(2 * BLOCK));
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Regular files of a tar archive by base name (so an archive of a folder works as well). */
export function unpackTar(bytes: Uint8Array): CheckpointFiles {
  const files: CheckpointFiles = {};
  const text = (from: number, len: number) => new TextDecoder().decode(bytes.subarray(from, from + len)).replace(/\0.*$/s, '');
  for (let at = 0; at + BLOCK <= bytes.length; ) {
    const name = text(at, 100);
    if (name === '') break;
    const size = parseInt(text(at + 124, 12).trim() || '0', 8);
    const type = text(at + 156, 1);
    if (!Number.isFinite(size) || at + BLOCK + size > bytes.length) throw new Error(`tar: entry "${name}" runs past the end of the archive`);
    const prefix = text(at + 345, 155);
    const full = prefix ? `${prefix}/${name}` : name;
    if (type === '0' || type === '') files[full.split('/').pop()!] = bytes.slice(at + BLOCK, at + BLOCK + size);
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  if (Object.keys(files).length === 0) throw new Error('tar: no files in the archive (is it a tar file?)');
  return files;
}
