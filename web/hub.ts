// Models from the Hugging Face Hub in the browser (the training worker), kept in the Cache
// Storage: the same hf:OWNER/NAME[@REVISION] references, files and checks as model/hub.ts.
// A file enters the cache only after its length and, for LFS files, its sha256 (WebCrypto)
// match what the Hub announced, so a cut or corrupted download never becomes a cached one; it is
// held in memory until then, and a broken download starts over next time.
// Cache entries are keyed by URL-like names under the endpoint:
//   <endpoint>/<repo>/refs/<revision>              the commit a revision pointed at
//   <endpoint>/<repo>/snapshots/<commit>/<file>    a verified file, or an empty answer marked absent

import type { CheckpointFiles } from '../model/checkpoint.ts';
import {
  DEFAULT_ENDPOINT,
  HubError,
  authHeaders,
  fileMeta,
  formatProgress,
  hubModelFiles,
  isCommitHash,
  isSha256,
  statusError,
  where,
  type FileMeta,
  type HubRef,
} from '../model/hub-ref.ts';

export interface BrowserHubOptions {
  endpoint?: string;
  token?: string;
  log?: (line: string) => void;
}

const CACHE = 'hf-hub';
const ABSENT = 'x-hub-absent';

const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');

export async function hubModelInBrowser(ref: HubRef, o: BrowserHubOptions = {}): Promise<CheckpointFiles> {
  const endpoint = (o.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const cache = await caches.open(CACHE);
  const base = `${endpoint}/${ref.repo}`;
  const refKey = `${base}/refs/${encodeURIComponent(ref.revision)}`;
  const snapshotKey = (commit: string, file: string) => `${base}/snapshots/${commit}/${file}`;
  let commit: string | undefined = isCommitHash(ref.revision) ? ref.revision : undefined;

  const fromCache = async (file: string): Promise<Uint8Array | null | undefined> => {
    const c = commit ?? (await (await cache.match(refKey))?.text());
    const hit = c ? await cache.match(snapshotKey(c, file)) : undefined;
    if (!hit) return undefined;
    return hit.headers.get(ABSENT) ? null : new Uint8Array(await hit.arrayBuffer());
  };

  const get = async (file: string): Promise<Uint8Array | null> => {
    if (commit && isCommitHash(ref.revision)) {
      const hit = await fromCache(file);
      if (hit !== undefined) return hit;
    }
    let meta: FileMeta;
    try {
      meta = await fileMeta(endpoint, ref, file, o.token, commit);
    } catch (e) {
      if (!(e instanceof HubError)) throw e;
      if (e.kind === 'network') {
        const hit = await fromCache(file);
        if (hit === undefined) throw e;
        o.log?.(`${e.message}; using the cached copy`);
        return hit;
      }
      if (e.kind === 'missing') {
        if (e.commit) await cache.put(snapshotKey(e.commit, file), new Response('', { headers: { [ABSENT]: '1' } }));
        return null;
      }
      throw e;
    }
    commit = meta.commit;
    await cache.put(refKey, new Response(meta.commit));
    const hit = await cache.match(snapshotKey(meta.commit, file));
    if (hit && !hit.headers.get(ABSENT)) return new Uint8Array(await hit.arrayBuffer());
    const bytes = await download(meta, ref, file, endpoint, o);
    await cache.put(snapshotKey(meta.commit, file), new Response(bytes as BlobPart));
    return bytes;
  };
  return hubModelFiles(ref, get);
}

async function download(meta: FileMeta, ref: HubRef, file: string, endpoint: string, o: BrowserHubOptions): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(meta.url, { headers: authHeaders(o.token, meta.url, endpoint) });
  } catch (e) {
    throw new HubError(`${where(ref, file)}: cannot reach ${new URL(meta.url).origin} (${(e as Error).message})`, 'network');
  }
  if (!res.ok || !res.body) throw statusError(ref, file, res);
  const bytes = new Uint8Array(meta.size);
  const reader = res.body.getReader();
  const t0 = performance.now();
  let received = 0;
  let lastReport = t0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (received + value.length > meta.size) throw new HubError(`${where(ref, file)}: the server sent more than the ${meta.size} bytes it announced`, 'corrupt');
      bytes.set(value, received);
      received += value.length;
      const now = performance.now();
      if (now - lastReport > 1000) {
        lastReport = now;
        o.log?.(formatProgress({ file: `${ref.repo}/${file}`, received, total: meta.size, bytesPerSecond: (received * 1000) / (now - t0) }));
      }
    }
  } catch (e) {
    if (e instanceof HubError) throw e;
    throw new HubError(`${where(ref, file)}: the connection broke after ${received} of ${meta.size} bytes (${(e as Error).message}); nothing was kept`, 'network');
  }
  if (received !== meta.size) throw new HubError(`${where(ref, file)}: the connection ended after ${received} of ${meta.size} bytes; nothing was kept`, 'network');
  if (isSha256(meta.etag)) {
    const digest = hex(await crypto.subtle.digest('SHA-256', bytes));
    if (digest !== meta.etag) throw new HubError(`${where(ref, file)}: its sha256 is ${digest}, but the Hub announced ${meta.etag}; nothing was kept`, 'corrupt');
  }
  return bytes;
}
