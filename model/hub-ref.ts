// Hugging Face Hub model references (`hf:OWNER/NAME[@REVISION]`) and what the Node download
// (model/hub.ts) and the browser one (web/hub.ts) share: the resolve URL, reading the Hub's
// answer headers, errors that name the repository, file and revision, which files make up a
// T5 model, and progress figures. No file system here, so it runs in browsers too.

import type { CheckpointFiles } from './checkpoint.ts';
import { readSafetensors, writeSafetensors, type F32Tensor } from './safetensors.ts';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface HubRef {
  /** `OWNER/NAME`, or a bare `NAME` for the Hub's legacy canonical models such as `t5-small`. */
  repo: string;
  revision: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export const isHubRef = (spec: string): boolean => spec.startsWith('hf:');

export function parseHubRef(spec: string): HubRef {
  if (!isHubRef(spec)) throw new Error(`"${spec}" is not a Hub reference (hf:OWNER/NAME[@REVISION])`);
  const body = spec.slice(3);
  const at = body.indexOf('@');
  const repo = at < 0 ? body : body.slice(0, at);
  const revision = at < 0 ? 'main' : body.slice(at + 1);
  const parts = repo.split('/');
  if (parts.length > 2 || !parts.every((p) => NAME.test(p) && !p.includes('..'))) {
    throw new Error(`"${spec}": the repository must be OWNER/NAME or NAME (letters, digits, ".", "_", "-")`);
  }
  if (revision === '' || revision.includes('..') || /[\s\\]/.test(revision)) throw new Error(`"${spec}": bad revision "${revision}"`);
  return { repo, revision };
}

export const formatRef = (r: HubRef): string => `hf:${r.repo}${r.revision === 'main' ? '' : `@${r.revision}`}`;

export const isCommitHash = (revision: string): boolean => /^[0-9a-f]{40}$/.test(revision);

export function resolveUrl(endpoint: string, ref: HubRef, file: string): string {
  return `${endpoint.replace(/\/+$/, '')}/${ref.repo}/resolve/${encodeURIComponent(ref.revision)}/${file}`;
}

/** The ETag without quotes or a weak-validator prefix, as huggingface_hub names blobs. */
export const normalizeEtag = (etag: string): string => etag.replace(/^W\//, '').replace(/^"|"$/g, '');

/** An LFS file's ETag is the sha256 of its content; a small git file's is its git blob id, which is not checked. */
export const isSha256 = (etag: string): boolean => /^[0-9a-f]{64}$/.test(etag);

/** What the Hub says about a file before it is downloaded. */
export interface FileMeta {
  commit: string;
  etag: string;
  size: number;
  /** Where the content is: the resolve URL itself, or the storage URL it redirects to. */
  url: string;
}

export class HubError extends Error {
  constructor(
    message: string,
    /** 'missing': the Hub says the file does not exist at that revision (other files may stand in). */
    readonly kind: 'missing' | 'denied' | 'network' | 'corrupt' | 'offline' | 'other',
    /** The commit the Hub answered for, where it said (it does on a missing file). */
    readonly commit: string | null = null,
  ) {
    super(message);
    this.name = 'HubError';
  }
}

export const where = (ref: HubRef, file: string): string => `${file} of ${formatRef(ref)}`;

/** Headers for requests to the endpoint: the token goes only there, never to storage hosts it redirects to. */
export function authHeaders(token: string | undefined, url: string, endpoint: string): Record<string, string> {
  return token && new URL(url).origin === new URL(endpoint).origin ? { authorization: `Bearer ${token}` } : {};
}

/** The error for a resolve answer that is not a success, naming repository, file and revision. */
export function statusError(ref: HubRef, file: string, res: Response): HubError {
  const commit = res.headers.get('x-repo-commit');
  const code = res.headers.get('x-error-code');
  const msg = res.headers.get('x-error-message');
  const detail = msg ? ` (${msg})` : '';
  if (code === 'RepositoryNotFound') {
    return new HubError(`${formatRef(ref)}: no such repository, or a private or gated one (HTTP ${res.status})${detail}; for a gated one set HF_TOKEN`, 'denied');
  }
  if (res.status === 401 || res.status === 403) {
    return new HubError(`${where(ref, file)}: access denied (HTTP ${res.status})${detail}; a gated or private repository needs HF_TOKEN set to a token that may read it`, 'denied');
  }
  if (res.status === 404) {
    if (code === 'RevisionNotFound') return new HubError(`${formatRef(ref)}: no revision "${ref.revision}" (HTTP 404)${detail}`, 'other');
    return new HubError(`${where(ref, file)}: not found (HTTP 404) at revision ${ref.revision}${detail}`, 'missing', commit && isCommitHash(commit) ? commit : null);
  }
  return new HubError(`${where(ref, file)}: HTTP ${res.status} ${res.statusText}${detail}`, 'other');
}

/**
 * Asks the resolve endpoint about a file without downloading it. Redirects on the same host (a
 * renamed repository) are followed; one to another host points at the storage, and its headers
 * carry the LFS file's sha256 and size (X-Linked-Etag, X-Linked-Size), as huggingface_hub reads them. A browser hides a redirect's
 * headers (an "opaque redirect"): there the redirect is followed and the storage host's answer
 * read, with the commit of an earlier file of the same revision (`commit`) where it names none.
 */
export async function fileMeta(endpoint: string, ref: HubRef, file: string, token: string | undefined, commit?: string): Promise<FileMeta> {
  let url = resolveUrl(endpoint, ref, file);
  const head = async (redirect: RequestRedirect): Promise<Response> => {
    try {
      return await fetch(url, { method: 'HEAD', redirect, headers: { ...authHeaders(token, url, endpoint), 'accept-encoding': 'identity' } });
    } catch (e) {
      throw new HubError(`${where(ref, file)}: cannot reach ${new URL(url).origin} (${(e as Error).message})`, 'network');
    }
  };
  for (let hops = 0; hops < 10; hops++) {
    let res = await head('manual');
    if (res.type === 'opaqueredirect') res = await head('follow');
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      const target = new URL(location, url);
      if (target.host === new URL(url).host) {
        url = target.href;
        continue;
      }
    } else if (!res.ok) throw statusError(ref, file, res);
    const answered = res.headers.get('x-repo-commit') ?? commit;
    const etag = res.headers.get('x-linked-etag') ?? res.headers.get('etag');
    const size = Number(res.headers.get('x-linked-size') ?? res.headers.get('content-length'));
    if (!answered || !isCommitHash(answered)) throw new HubError(`${where(ref, file)}: the server sent no commit hash (X-Repo-Commit); is ${endpoint} a Hugging Face Hub?`, 'other');
    if (!etag) throw new HubError(`${where(ref, file)}: the server sent no ETag, so the download cannot be checked`, 'other');
    if (!Number.isSafeInteger(size) || size < 0) throw new HubError(`${where(ref, file)}: the server announced no length`, 'other');
    const at = location ? new URL(location, url).href : res.redirected ? res.url : url;
    return { commit: answered, etag: normalizeEtag(etag), size, url: at };
  }
  throw new HubError(`${where(ref, file)}: too many redirects`, 'other');
}

/** Bytes, speed and time left of one download; `null` speed before the first second. */
export interface DownloadProgress {
  file: string;
  received: number;
  total: number;
  bytesPerSecond: number | null;
}

const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;

export function formatProgress(p: DownloadProgress): string {
  const pct = p.total > 0 ? ((100 * p.received) / p.total).toFixed(0) : '100';
  if (!p.bytesPerSecond) return `${p.file}: ${mb(p.received)} of ${mb(p.total)} (${pct}%)`;
  const left = (p.total - p.received) / p.bytesPerSecond;
  return `${p.file}: ${mb(p.received)} of ${mb(p.total)} (${pct}%), ${mb(p.bytesPerSecond)}/s, ${left.toFixed(0)} s left`;
}

/** Fetches one file of the repository: its bytes, or null if the Hub says it does not exist. */
export type GetFile = (file: string) => Promise<Uint8Array | null>;

const SINGLE = 'model.safetensors';
const INDEX = 'model.safetensors.index.json';

/**
 * The files of a T5 model on the Hub, as checkpoint files: config.json, the weights (one
 * model.safetensors, or an index and its shards merged into one), spiece.model or
 * tokenizer.json, and generation_config.json when the repository has one.
 */
export async function hubModelFiles(ref: HubRef, get: GetFile): Promise<CheckpointFiles> {
  // Without the Hub (offline, or unreachable) a file the cache does not know about throws; an
  // optional one then counts as absent, and a required one reports that first error.
  let unknown: HubError | null = null;
  const optional = async (file: string): Promise<Uint8Array | null> => {
    try {
      return await get(file);
    } catch (e) {
      if (!(e instanceof HubError) || (e.kind !== 'offline' && e.kind !== 'network')) throw e;
      unknown ??= e;
      return null;
    }
  };
  const need = async (file: string, why: string): Promise<Uint8Array> => {
    const bytes = await optional(file);
    if (bytes) return bytes;
    throw unknown ?? new HubError(`${where(ref, file)}: not found at revision ${ref.revision}; ${why}`, 'missing');
  };
  const files: CheckpointFiles = { 'config.json': await need('config.json', 'every model needs its config.json') };
  const single = await optional(SINGLE);
  if (single) files[SINGLE] = single;
  else files[SINGLE] = await mergeShards(ref, await need(INDEX, `the repository has no ${SINGLE} either (only safetensors weights are read, not pytorch_model.bin)`), get);
  const spiece = await optional('spiece.model');
  if (spiece) files['spiece.model'] = spiece;
  else {
    // A Hugging Face tokenizers file is not read here (yet); only this project's word tokenizer is.
    const tokenizer = await optional('tokenizer.json');
    if (tokenizer && isWordTokenizer(tokenizer)) files['tokenizer.json'] = tokenizer;
  }
  const generation = await optional('generation_config.json');
  if (generation) files['generation_config.json'] = generation;
  return files;
}

function isWordTokenizer(bytes: Uint8Array): boolean {
  try {
    return JSON.parse(new TextDecoder().decode(bytes))?.type === 'word';
  } catch {
    return false;
  }
}

async function mergeShards(ref: HubRef, indexBytes: Uint8Array, get: GetFile): Promise<Uint8Array> {
  const fail = (m: string): never => {
    throw new HubError(`${where(ref, INDEX)}: ${m}`, 'corrupt');
  };
  let map: Record<string, unknown> = {};
  try {
    map = JSON.parse(new TextDecoder().decode(indexBytes)).weight_map;
  } catch (e) {
    fail(`not valid JSON (${(e as Error).message})`);
  }
  if (typeof map !== 'object' || map === null) fail('has no weight_map');
  const shards = [...new Set(Object.values(map))];
  if (!shards.every((s): s is string => typeof s === 'string' && NAME.test(s))) fail('weight_map names a shard that is not a plain file name');
  const tensors: [string, F32Tensor][] = [];
  for (const shard of shards as string[]) {
    const bytes = await get(shard);
    if (!bytes) fail(`lists ${shard}, which is not in the repository`);
    const file = readSafetensors(bytes!, `${formatRef(ref)}/${shard}`);
    for (const name of file.names()) {
      if (map[name] !== shard) fail(`${shard} holds ${name}, which weight_map puts in ${String(map[name] ?? 'no shard')}`);
      tensors.push([name, { shape: file.info(name).shape, data: file.getF32(name) }]);
    }
  }
  const held = new Set(tensors.map(([n]) => n));
  const missing = Object.keys(map).filter((n) => !held.has(n));
  if (missing.length > 0) fail(`weight_map lists tensors no shard holds: ${missing.slice(0, 5).join(', ')}`);
  return writeSafetensors(tensors);
}
