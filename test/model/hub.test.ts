// Models from the Hub (model/hub.ts) against a stand-in server on 127.0.0.1: the first download,
// the cache alone, offline mode, a cut connection, a wrong hash, 404 and 401 — each with what it
// leaves in the cache, which must never be a file a later run would trust.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type CheckpointFiles } from '../../model/checkpoint.ts';
import { greedyDecode } from '../../model/decode.ts';
import { hubFile, hubModel, repoCacheDir, type HubOptions } from '../../model/hub.ts';
import { formatProgress, parseHubRef } from '../../model/hub-ref.ts';
import { readSafetensors, writeSafetensors } from '../../model/safetensors.ts';
import { setupEngine } from '../helpers.ts';
import { COMMIT, makeT5Repo } from './hub-repo.ts';
import { startStandInHub, type StandInHub, type StandInRepo } from './hub-server.ts';

let files: CheckpointFiles;
let repos: Record<string, StandInRepo>;
const LFS = ['model.safetensors', 'spiece.model'];
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  await setupEngine();
  files = await makeT5Repo();
  // The same weights cut into two shards behind an index, as large models are published.
  const st = readSafetensors(files['model.safetensors'], 'model.safetensors');
  const names = st.names();
  const shard = (part: string[]) => writeSafetensors(part.map((n) => [n, { shape: st.info(n).shape, data: st.getF32(n) }] as const));
  const half = names.length >> 1;
  const weightMap = Object.fromEntries(names.map((n, i) => [n, i < half ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors']));
  const { 'model.safetensors': _, ...rest } = files;
  repos = {
    'test/tiny-t5': { commit: COMMIT, files, lfs: LFS },
    'test/sharded': {
      commit: 'b'.repeat(40),
      files: {
        ...rest,
        'model.safetensors.index.json': new TextEncoder().encode(JSON.stringify({ metadata: {}, weight_map: weightMap })),
        'model-00001-of-00002.safetensors': shard(names.slice(0, half)),
        'model-00002-of-00002.safetensors': shard(names.slice(half)),
      },
      lfs: [...LFS, 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'],
    },
    'test/gated': { commit: 'c'.repeat(40), files, lfs: LFS, token: 'hf_secret' },
    'test/no-weights': { commit: 'd'.repeat(40), files: { 'config.json': files['config.json'] }, lfs: [] },
  };
});

let hub: StandInHub | null = null;
afterEach(async () => {
  await hub?.close();
  hub = null;
});

const serve = async () => (hub = await startStandInHub(repos));
const newCache = () => mkdtempSync(path.join(tmpdir(), 'hf-cache-'));
const opts = (cacheDir: string, more: Partial<HubOptions> = {}): HubOptions & { lines: string[] } => {
  const lines: string[] = [];
  return { endpoint: hub?.url ?? 'http://127.0.0.1:9', cacheDir, offline: false, log: (l) => lines.push(l), lines, ...more };
};
const ref = parseHubRef('hf:test/tiny-t5');
const repoDir = (cache: string, r = ref) => repoCacheDir(cache, r);

/** Every file name in the cache's blobs/ folder: blobs are only ever verified files, or .incomplete parts. */
const blobs = (cache: string, r = ref) => (existsSync(path.join(repoDir(cache, r), 'blobs')) ? readdirSync(path.join(repoDir(cache, r), 'blobs')).sort() : []);

function expectSameFiles(got: CheckpointFiles) {
  expect(Object.keys(got).sort()).toEqual(Object.keys(files).sort());
  for (const [name, bytes] of Object.entries(files)) expect(sha256(got[name]), name).toBe(sha256(bytes));
}

describe('Hub downloads', () => {
  it('downloads a model into the Hub cache layout, and the model loads and generates', async () => {
    await serve();
    const cache = newCache();
    const got = await hubModel(ref, opts(cache));
    expectSameFiles(got);
    const dir = repoDir(cache);
    expect(dir).toBe(path.join(cache, 'models--test--tiny-t5'));
    expect(readFileSync(path.join(dir, 'refs/main'), 'utf8')).toBe(COMMIT);
    // LFS files are stored under their sha256, small ones under their git blob id, each snapshot entry a relative link.
    const weights = sha256(files['model.safetensors']);
    expect(readlinkSync(path.join(dir, 'snapshots', COMMIT, 'model.safetensors'))).toBe(`../../blobs/${weights}`);
    const gitId = createHash('sha1').update(`blob ${files['config.json'].length}\0`).update(files['config.json']).digest('hex');
    expect(readlinkSync(path.join(dir, 'snapshots', COMMIT, 'config.json'))).toBe(`../../blobs/${gitId}`);
    const genId = createHash('sha1').update(`blob ${files['generation_config.json'].length}\0`).update(files['generation_config.json']).digest('hex');
    expect(blobs(cache)).toEqual([weights, sha256(files['spiece.model']), gitId, genId].sort());
    // The repository has model.safetensors, so no index was asked for; the tokenizer is spiece.model.
    expect(hub!.requests.some((r) => r.path.endsWith('index.json') || r.path.endsWith('tokenizer.json'))).toBe(false);

    const { model, tokenizer } = loadModel(got, 'hf:test/tiny-t5');
    const { model: original } = loadModel(files, 'original');
    const src = [tokenizer!.encode('the sum is 12', { addEos: true })];
    expect(await greedyDecode(model, src, { maxNewTokens: 5 })).toEqual(await greedyDecode(original, src, { maxNewTokens: 5 }));
    model.dispose();
    original.dispose();
  });

  it('answers from the cache when the server is gone, and offline without asking it', async () => {
    await serve();
    const cache = newCache();
    await hubModel(ref, opts(cache));
    const url = hub!.url;
    await hub!.close();
    hub = null;
    const o = opts(cache, { endpoint: url });
    expectSameFiles(await hubModel(ref, o));
    expect(o.lines.join('\n')).toMatch(/cannot reach .*; using the cached copy/);

    await serve();
    expectSameFiles(await hubModel(ref, opts(cache, { offline: true })));
    expect(hub!.requests).toEqual([]);
    // A pinned commit is immutable: online, the cache answers without a request either.
    expectSameFiles(await hubModel(parseHubRef(`hf:test/tiny-t5@${COMMIT}`), opts(cache)));
    expect(hub!.requests).toEqual([]);
  });

  it('offline with an empty cache says which file of which repository is missing', async () => {
    await serve();
    await expect(hubModel(ref, opts(newCache(), { offline: true }))).rejects.toThrow(/config\.json of hf:test\/tiny-t5: not in the cache .* HF_HUB_OFFLINE/);
    expect(hub!.requests).toEqual([]);
  });

  it('a connection cut mid-file is an error, leaves only a .incomplete part, and the next run resumes it', async () => {
    await serve();
    hub!.faults.cut = 'model.safetensors';
    const cache = newCache();
    await expect(hubModel(ref, opts(cache))).rejects.toThrow(/model\.safetensors of hf:test\/tiny-t5: the connection (broke|ended) after \d+ of \d+ bytes/);
    const weights = sha256(files['model.safetensors']);
    expect(blobs(cache).filter((b) => b.startsWith(weights))).toEqual([`${weights}.incomplete`]);
    expect(existsSync(path.join(repoDir(cache), 'snapshots', COMMIT, 'model.safetensors'))).toBe(false);
    // Offline, the part is not trusted.
    await expect(hubModel(ref, opts(cache, { offline: true }))).rejects.toThrow(/model\.safetensors of hf:test\/tiny-t5: not in the cache/);

    hub!.faults.cut = undefined;
    const o = opts(cache);
    expectSameFiles(await hubModel(ref, o));
    expect(hub!.requests.some((r) => r.path === `/lfs/${weights}` && /^bytes=[1-9]\d*-$/.test(r.range ?? ''))).toBe(true);
    expect(o.lines.join('\n')).toMatch(/model\.safetensors of hf:test\/tiny-t5: resuming at byte \d+/);
    expect(blobs(cache)).not.toContain(`${weights}.incomplete`);
  });

  it('a file whose sha256 differs from the announced one is an error and is deleted', async () => {
    await serve();
    hub!.faults.corrupt = 'model.safetensors';
    const cache = newCache();
    const weights = sha256(files['model.safetensors']);
    await expect(hubModel(ref, opts(cache))).rejects.toThrow(new RegExp(`model\\.safetensors of hf:test/tiny-t5: its sha256 is [0-9a-f]{64}, but the Hub announced ${weights}`));
    expect(blobs(cache).filter((b) => b.startsWith(weights))).toEqual([]);
    expect(existsSync(path.join(repoDir(cache), 'snapshots', COMMIT, 'model.safetensors'))).toBe(false);
    hub!.faults.corrupt = undefined;
    expectSameFiles(await hubModel(ref, opts(cache)));
  });

  it('404 and 401 name the repository, file and revision; a missing optional file is remembered as absent', async () => {
    await serve();
    const cache = newCache();
    await expect(hubModel(parseHubRef('hf:test/nothing-here'), opts(cache))).rejects.toThrow(/hf:test\/nothing-here: no such repository, or a private or gated one \(HTTP 401\)/);
    await expect(hubModel(parseHubRef('hf:test/tiny-t5@v9'), opts(cache))).rejects.toThrow(/hf:test\/tiny-t5@v9: no revision "v9" \(HTTP 404\)/);
    await expect(hubModel(parseHubRef('hf:test/no-weights'), opts(cache))).rejects.toThrow(
      /model\.safetensors\.index\.json of hf:test\/no-weights: not found at revision main; the repository has no model\.safetensors either/,
    );
    expect(await hubFile(ref, 'tokenizer.json', opts(cache))).toBeNull();
    expect(existsSync(path.join(repoDir(cache), '.no_exist', COMMIT, 'tokenizer.json'))).toBe(true);
    expect(blobs(cache)).toEqual([]);
  });

  it('sends HF_TOKEN to a gated repository', async () => {
    await serve();
    const gated = parseHubRef('hf:test/gated');
    await expect(hubModel(gated, opts(newCache()))).rejects.toThrow(/hf:test\/gated: no such repository, or a private or gated one .*HF_TOKEN/);
    expectSameFiles(await hubModel(gated, opts(newCache(), { token: 'hf_secret' })));
  });

  it('merges a sharded checkpoint into one set of weights', async () => {
    await serve();
    const got = await hubModel(parseHubRef('hf:test/sharded'), opts(newCache()));
    const a = readSafetensors(got['model.safetensors'], 'merged');
    const b = readSafetensors(files['model.safetensors'], 'original');
    expect(a.names().sort()).toEqual(b.names().sort());
    for (const n of b.names()) expect(a.getF32(n)).toEqual(b.getF32(n));
  });
});

describe('Hub references and progress', () => {
  it('reads OWNER/NAME, a bare NAME and a revision, and refuses anything else', () => {
    expect(parseHubRef('hf:google-t5/t5-small')).toEqual({ repo: 'google-t5/t5-small', revision: 'main' });
    expect(parseHubRef('hf:t5-small@v1.0')).toEqual({ repo: 't5-small', revision: 'v1.0' });
    expect(() => parseHubRef('hf:a/b/c')).toThrow(/"hf:a\/b\/c": the repository must be OWNER\/NAME or NAME/);
    expect(() => parseHubRef('hf:../x')).toThrow(/must be OWNER\/NAME/);
    expect(() => parseHubRef('hf:a/b@')).toThrow(/bad revision/);
  });

  it('says bytes, speed and time left', () => {
    expect(formatProgress({ file: 'hf:a/b/model.safetensors', received: 50e6, total: 200e6, bytesPerSecond: 10e6 })).toBe('hf:a/b/model.safetensors: 50.0 MB of 200.0 MB (25%), 10.0 MB/s, 15 s left');
  });

  it('takes over a lock whose holder is gone', async () => {
    await serve();
    const cache = newCache();
    const weights = sha256(files['model.safetensors']);
    const blobDir = path.join(repoDir(cache), 'blobs');
    mkdirSync(blobDir, { recursive: true });
    // A pid that cannot be running: above Linux's pid_max limit.
    writeFileSync(path.join(blobDir, `${weights}.lock`), String(2 ** 22 + 1));
    expectSameFiles(await hubModel(ref, opts(cache)));
    expect(blobs(cache)).not.toContain(`${weights}.lock`);
  });
});
