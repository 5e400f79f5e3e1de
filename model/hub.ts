// Models from the Hugging Face Hub in Node and Deno, cached in the Hub's own layout so that
// Python's huggingface_hub and this project share one cache:
//   $HF_HOME/hub/models--OWNER--NAME/refs/<revision>          the commit the revision points at
//   $HF_HOME/hub/models--OWNER--NAME/blobs/<etag>             file contents (an LFS file's etag is its sha256)
//   $HF_HOME/hub/models--OWNER--NAME/snapshots/<commit>/<file> a relative link to ../../blobs/<etag>
//   $HF_HOME/hub/models--OWNER--NAME/.no_exist/<commit>/<file> the Hub said this file does not exist
// A download goes to blobs/<etag>.incomplete (resumed with a Range request next time) and is
// renamed to its blob only after its length and, for LFS files, its sha256 match what the Hub
// announced, so nothing in blobs/ or snapshots/ is ever a file a later run should not trust.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readCheckpointDir } from './checkpoint-dir.ts';
import type { CheckpointFiles } from './checkpoint.ts';
import {
  DEFAULT_ENDPOINT,
  HubError,
  authHeaders,
  fileMeta,
  formatProgress,
  formatRef,
  hubModelFiles,
  isCommitHash,
  isHubRef,
  isSha256,
  parseHubRef,
  statusError,
  where,
  type DownloadProgress,
  type FileMeta,
  type HubRef,
} from './hub-ref.ts';

export interface HubOptions {
  endpoint: string;
  /** The `hub` folder: `$HF_HUB_CACHE`, or `$HF_HOME/hub`, or `~/.cache/huggingface/hub`. */
  cacheDir: string;
  offline: boolean;
  token?: string;
  onProgress?: (p: DownloadProgress) => void;
  log?: (line: string) => void;
}

const TRUE = ['1', 'on', 'yes', 'true'];

/** Settings from the environment variables huggingface_hub reads, including its stored token file. */
export async function hubOptionsFromEnv(env: Record<string, string | undefined> = process.env): Promise<HubOptions> {
  const home = env.HF_HOME ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'huggingface');
  const token = env.HF_TOKEN || (await readFile(env.HF_TOKEN_PATH ?? path.join(home, 'token'), 'utf8').then((t) => t.trim(), () => '')) || undefined;
  return {
    endpoint: env.HF_ENDPOINT || DEFAULT_ENDPOINT,
    cacheDir: env.HF_HUB_CACHE ?? path.join(home, 'hub'),
    offline: TRUE.includes((env.HF_HUB_OFFLINE ?? '').toLowerCase()),
    token,
  };
}

export const repoCacheDir = (cacheDir: string, ref: HubRef): string => path.join(cacheDir, `models--${ref.repo.replace('/', '--')}`);

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

/** A file as the cache has it: its path, 'absent' when the Hub said it does not exist, or null when the cache does not know. */
async function fromCache(o: HubOptions, ref: HubRef, file: string): Promise<string | 'absent' | null> {
  const dir = repoCacheDir(o.cacheDir, ref);
  const commit = isCommitHash(ref.revision) ? ref.revision : (await readFile(path.join(dir, 'refs', ref.revision), 'utf8').catch(() => '')).trim();
  if (!commit) return null;
  const snapshot = path.join(dir, 'snapshots', commit, file);
  if (await exists(snapshot)) return snapshot;
  if (await exists(path.join(dir, '.no_exist', commit, file))) return 'absent';
  return null;
}

async function writeAtomic(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

/**
 * The path of one file of a Hub repository in the cache, downloading it first if needed; null
 * when the Hub says the file does not exist at that revision. Without a connection (or with
 * `offline`), the cache answers alone.
 */
export async function hubFile(ref: HubRef, file: string, o: HubOptions): Promise<string | null> {
  const dir = repoCacheDir(o.cacheDir, ref);
  const cacheOnly = async (why: HubError): Promise<string | null> => {
    const c = await fromCache(o, ref, file);
    if (c === 'absent') return null;
    if (c) return c;
    throw why;
  };
  if (o.offline) {
    return cacheOnly(new HubError(`${where(ref, file)}: not in the cache ${dir} and HF_HUB_OFFLINE is set, so it cannot be downloaded`, 'offline'));
  }
  // A commit never changes, so a file cached under it needs no question to the Hub.
  if (isCommitHash(ref.revision)) {
    const c = await fromCache(o, ref, file);
    if (c === 'absent') return null;
    if (c) return c;
  }
  let meta: FileMeta;
  try {
    meta = await fileMeta(o.endpoint, ref, file, o.token);
  } catch (e) {
    if (!(e instanceof HubError)) throw e;
    if (e.kind === 'network') {
      const c = await cacheOnly(e);
      o.log?.(`${e.message}; using the cached copy`);
      return c;
    }
    if (e.kind === 'missing' && e.commit) {
      await writeAtomic(path.join(dir, '.no_exist', e.commit, file), '');
      if (ref.revision !== e.commit) await writeAtomic(path.join(dir, 'refs', ref.revision), e.commit);
      return null;
    }
    if (e.kind === 'missing') return null;
    throw e;
  }
  const blob = path.join(dir, 'blobs', meta.etag);
  if (!(await exists(blob))) await withLock(`${blob}.lock`, async () => (await exists(blob)) || download(meta, ref, file, blob, o));
  const snapshot = path.join(dir, 'snapshots', meta.commit, file);
  await mkdir(path.dirname(snapshot), { recursive: true });
  await rm(snapshot, { force: true });
  await symlink(path.relative(path.dirname(snapshot), blob), snapshot);
  if (ref.revision !== meta.commit) await writeAtomic(path.join(dir, 'refs', ref.revision), meta.commit);
  return snapshot;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Runs `fn` while holding a lock file, so two processes (a grid's --jobs) never write one blob at once; a dead holder's lock is taken over. */
async function withLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(path.dirname(lock), { recursive: true });
  for (;;) {
    try {
      const h = await open(lock, 'wx');
      await h.writeFile(String(process.pid));
      await h.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number(await readFile(lock, 'utf8').catch(() => ''));
      // A holder that died, or a lock left without a pid (a crash between creating and writing it).
      const stale = holder > 0 ? !alive(holder) : Date.now() - ((await stat(lock).catch(() => null))?.mtimeMs ?? 0) > 10_000;
      if (stale) await rm(lock, { force: true });
      else await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

async function hashFile(file: string, hash: ReturnType<typeof createHash>): Promise<void> {
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
}

/** Downloads to blob.incomplete, checks length and sha256, renames it to the blob. */
async function download(meta: FileMeta, ref: HubRef, file: string, blob: string, o: HubOptions): Promise<void> {
  const part = `${blob}.incomplete`;
  let have = (await stat(part).catch(() => null))?.size ?? 0;
  if (have > meta.size) {
    await rm(part, { force: true });
    have = 0;
  }
  const hash = createHash('sha256');
  if (have > 0) await hashFile(part, hash);
  if (have < meta.size) {
    const headers: Record<string, string> = { ...authHeaders(o.token, meta.url, o.endpoint), 'accept-encoding': 'identity' };
    if (have > 0) headers.range = `bytes=${have}-`;
    let res: Response;
    try {
      res = await fetch(meta.url, { headers });
    } catch (e) {
      throw new HubError(`${where(ref, file)}: cannot reach ${new URL(meta.url).origin} (${(e as Error).message})`, 'network');
    }
    if (res.status !== 206 && have > 0 && res.ok) {
      // The server ignored the range: start over.
      await res.body?.cancel();
      await rm(part, { force: true });
      return download(meta, ref, file, blob, o);
    }
    if (!res.ok || !res.body) throw statusError(ref, file, res);
    if (have > 0) o.log?.(`${where(ref, file)}: resuming at byte ${have} of ${meta.size}`);
    const out = await open(part, have > 0 ? 'a' : 'w');
    const t0 = performance.now();
    let received = have;
    let lastReport = t0;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        received += chunk.length;
        if (received > meta.size) {
          await out.close();
          await rm(part, { force: true });
          throw new HubError(`${where(ref, file)}: the server sent more than the ${meta.size} bytes it announced; nothing was kept`, 'corrupt');
        }
        hash.update(chunk);
        await out.write(chunk);
        const now = performance.now();
        if (o.onProgress && now - lastReport > 1000) {
          lastReport = now;
          o.onProgress({ file: `${formatRef(ref)}/${file}`, received, total: meta.size, bytesPerSecond: ((received - have) * 1000) / (now - t0) });
        }
      }
    } catch (e) {
      if (e instanceof HubError) throw e;
      throw new HubError(`${where(ref, file)}: the connection broke after ${received} of ${meta.size} bytes (${(e as Error).message}); the part is kept as ${path.basename(part)} and resumed next time`, 'network');
    } finally {
      await out.close().catch(() => {});
    }
    if (received < meta.size) {
      throw new HubError(`${where(ref, file)}: the connection ended after ${received} of ${meta.size} bytes; the part is kept as ${path.basename(part)} and resumed next time`, 'network');
    }
  }
  if (isSha256(meta.etag)) {
    const digest = hash.digest('hex');
    if (digest !== meta.etag) {
      await rm(part, { force: true });
      throw new HubError(`${where(ref, file)}: its sha256 is ${digest}, but the Hub announced ${meta.etag}; the download was deleted`, 'corrupt');
    }
  }
  await rename(part, blob);
}

/** Every file of a T5 model on the Hub, read from the cache after downloading what is missing. */
export async function hubModel(ref: HubRef, o: HubOptions): Promise<CheckpointFiles> {
  return hubModelFiles(ref, async (file) => {
    const p = await hubFile(ref, file, o);
    return p === null ? null : new Uint8Array(await readFile(p));
  });
}

/**
 * The checkpoint files behind a model option: a folder (a Hugging Face T5 folder or a model this
 * project saved) or a Hub reference `hf:OWNER/NAME[@REVISION]`, settings from the environment.
 */
export async function readCheckpoint(spec: string, log: (line: string) => void = (l) => console.error(l)): Promise<CheckpointFiles> {
  if (isHubRef(spec)) {
    const o = await hubOptionsFromEnv();
    return hubModel(parseHubRef(spec), { ...o, log, onProgress: (p) => log(formatProgress(p)) });
  }
  const files = await readCheckpointDir(spec);
  if (!files) throw new Error(`${spec}: no such directory (a model folder, or hf:OWNER/NAME for one on the Hugging Face Hub)`);
  return files;
}
