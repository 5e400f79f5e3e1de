// A stand-in for the Hugging Face Hub for tests: a plain HTTP server on 127.0.0.1 that answers
// the resolve endpoint the way the Hub does (X-Repo-Commit; an LFS file redirects to a storage
// URL on another host name, localhost, with X-Linked-Etag = its sha256 and X-Linked-Size; a
// small file's ETag is its git blob id;
// 404 with X-Error-Code), serves byte ranges, and can cut or corrupt a file on request.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandInRepo {
  commit: string;
  files: Record<string, Uint8Array>;
  /** Files stored with LFS (served through a redirect, their ETag a sha256). */
  lfs: string[];
  /** A gated repository: requests must carry `Authorization: Bearer <token>`. */
  token?: string;
}

export interface Faults {
  /** Send only the first half of this file, then drop the connection. */
  cut?: string;
  /** Send this file with one byte changed (same length). */
  corrupt?: string;
}

export interface StandInHub {
  url: string;
  requests: { method: string; path: string; range?: string }[];
  faults: Faults;
  close(): Promise<void>;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const gitBlobId = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

// Browsers read only the headers a cross-origin answer exposes.
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, range',
  'access-control-expose-headers': 'x-repo-commit, etag, x-linked-etag, x-linked-size, content-length, content-range, x-error-code, x-error-message',
};

export async function startStandInHub(repos: Record<string, StandInRepo>): Promise<StandInHub> {
  const requests: StandInHub['requests'] = [];
  const faults: Faults = {};
  const byHash = new Map<string, { name: string; bytes: Uint8Array }>();
  for (const repo of Object.values(repos)) for (const f of repo.lfs.filter((f) => repo.files[f])) byHash.set(sha256(repo.files[f]), { name: f, bytes: repo.files[f] });

  const send = (req: IncomingMessage, res: ServerResponse, name: string, bytes: Uint8Array, headers: Record<string, string>) => {
    let body = bytes;
    if (faults.corrupt === name) {
      body = bytes.slice();
      body[body.length >> 1] ^= 0xff;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const status = m ? 206 : 200;
    res.writeHead(status, { ...CORS, ...headers, 'content-length': String(body.length - start), ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}) });
    if (req.method === 'HEAD') return void res.end();
    const part = body.subarray(start);
    if (faults.cut === name) {
      res.write(part.subarray(0, part.length >> 1), () => res.destroy());
      return;
    }
    res.end(part);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://127.0.0.1');
    requests.push({ method: req.method!, path: url.pathname, range: req.headers.range });
    if (req.method === 'OPTIONS') return void res.writeHead(204, CORS).end();
    const lfs = /^\/lfs\/([0-9a-f]{64})$/.exec(url.pathname);
    if (lfs) {
      const f = byHash.get(lfs[1]);
      if (!f) return void res.writeHead(404, CORS).end();
      return send(req, res, f.name, f.bytes, { etag: `"${lfs[1]}"` });
    }
    const m = /^\/(.+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const repo = m ? repos[m[1]] : undefined;
    if (!m || !repo || (repo.token && req.headers.authorization !== `Bearer ${repo.token}`)) {
      return void res.writeHead(401, { ...CORS, 'x-error-code': 'RepositoryNotFound', 'x-error-message': 'Repository not found' }).end();
    }
    const revision = decodeURIComponent(m[2]);
    if (revision !== 'main' && revision !== repo.commit) {
      return void res.writeHead(404, { ...CORS, 'x-error-code': 'RevisionNotFound', 'x-error-message': 'Invalid rev id' }).end();
    }
    const name = m[3];
    const bytes = repo.files[name];
    const common = { 'x-repo-commit': repo.commit };
    if (!bytes) return void res.writeHead(404, { ...CORS, ...common, 'x-error-code': 'EntryNotFound', 'x-error-message': 'Entry not found' }).end();
    if (repo.lfs.includes(name)) {
      const hash = sha256(bytes);
      // Another host name for the same server, as the Hub's storage is another host than the Hub.
      const location = `http://localhost:${(server.address() as AddressInfo).port}/lfs/${hash}`;
      return void res.writeHead(302, { ...CORS, ...common, location, 'x-linked-etag': `"${hash}"`, 'x-linked-size': String(bytes.length) }).end();
    }
    send(req, res, name, bytes, { ...common, etag: `"${gitBlobId(bytes)}"` });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    faults,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
