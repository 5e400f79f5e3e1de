// The checkpoint archive the page offers: what it packs, tar(1) unpacks byte for byte, and what
// tar(1) packs (a checkpoint folder), the page reads.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { packTar, unpackTar } from '../../web/tar.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'tar-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const files = {
  'config.json': new TextEncoder().encode('{"d_model": 32}\n'),
  'model.safetensors': Uint8Array.from({ length: 1500 }, (_, i) => (i * 7) % 256),
  'empty.txt': new Uint8Array(0),
  'block.bin': new Uint8Array(512).fill(9),
};

it('round-trips through packTar and unpackTar', () => {
  expect(unpackTar(packTar(files))).toEqual(files);
});

it('writes archives tar(1) extracts exactly', () => {
  const archive = path.join(dir, 'a.tar');
  writeFileSync(archive, packTar(files));
  const out = path.join(dir, 'out');
  mkdirSync(out);
  const r = spawnSync('tar', ['-xf', archive, '-C', out], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  for (const [name, bytes] of Object.entries(files)) expect(new Uint8Array(readFileSync(path.join(out, name)))).toEqual(bytes);
});

it('reads a folder archived by tar(1) by the files\' base names', () => {
  const folder = path.join(dir, 'checkpoint');
  mkdirSync(folder);
  for (const [name, bytes] of Object.entries(files)) writeFileSync(path.join(folder, name), bytes);
  const archive = path.join(dir, 'folder.tar');
  expect(spawnSync('tar', ['-cf', archive, '-C', dir, 'checkpoint']).status).toBe(0);
  expect(unpackTar(new Uint8Array(readFileSync(archive)))).toEqual(files);
});

it('refuses what is not a tar archive and names that are not flat', () => {
  expect(() => unpackTar(new TextEncoder().encode('{"not": "a tar"}'))).toThrow(/tar/);
  expect(() => packTar({ 'a/b.json': new Uint8Array(1) })).toThrow(/flat/);
});
