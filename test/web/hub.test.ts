// An hf: model in the page: the training worker fetches a small T5 repository from a stand-in
// Hub on 127.0.0.1 (another origin, so through CORS), checks it, keeps it in the Cache Storage,
// and fine-tunes it with its own SentencePiece tokenizer; a corrupted file is refused and never
// cached, and with the server gone the cached copy serves.

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { COMMIT, makeT5Repo } from '../model/hub-repo.ts';
import { startStandInHub, type StandInHub } from '../model/hub-server.ts';
import { setupEngine } from '../helpers.ts';
import { launch, screenshotPath, useBuiltSite } from './browser.ts';

const site = useBuiltSite();

describe('an hf: model in the page', () => {
  let hub: StandInHub;
  let page: Page;
  let close: () => Promise<void>;
  const errors: string[] = [];

  beforeAll(async () => {
    await setupEngine();
    hub = await startStandInHub({ 'test/tiny-t5': { commit: COMMIT, files: await makeT5Repo(), lfs: ['model.safetensors', 'spiece.model'] } });
    const browser = await launch();
    close = browser.close;
    page = await browser.context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
  });
  afterAll(async () => {
    await close?.();
    await hub?.close();
  });

  // 16 examples in batches of 8: two steps, validated after the second.
  const open = async () => {
    await page.goto(`${site.url}/index.html?task=listops&explanation=medium&model=hf:test/tiny-t5&scale=tiny&trainSize=16&seed=1&evalEvery=2&hfEndpoint=${encodeURIComponent(hub.url)}`);
    await page.waitForFunction(() => !(document.getElementById('start') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
  };
  const finish = async (id: number) => {
    await page.waitForFunction((n) => new RegExp(`Run ${n} (done|failed)`).test(document.getElementById('status')!.textContent ?? ''), id, { timeout: 120_000 });
    return (await page.textContent('#status'))!;
  };

  it('refuses a file whose sha256 is not the announced one, and caches nothing', async () => {
    await open();
    hub.faults.corrupt = 'model.safetensors';
    await page.click('#start');
    expect(await finish(1)).toMatch(/Run 1 failed: model\.safetensors of hf:test\/tiny-t5: its sha256 is [0-9a-f]{64}, but the Hub announced [0-9a-f]{64}/);
    hub.faults.corrupt = undefined;
    const cached = await page.evaluate(async () => (await (await caches.open('hf-hub')).keys()).map((r) => r.url));
    expect(cached.some((u) => u.endsWith('/model.safetensors'))).toBe(false);
  });

  it('fetches, caches and fine-tunes it through its SentencePiece tokenizer', async () => {
    await open();
    expect(await page.inputValue('select[name=model]')).toBe('hf:test/tiny-t5');
    const before = hub.requests.length;
    await page.click('#start');
    expect(await finish(1)).toMatch(/Run 1 done: test \d+\.\d% after 2 steps/);
    expect(hub.requests.slice(before).some((r) => r.path.startsWith('/lfs/') && r.method === 'GET')).toBe(true);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-results')]);
    const results = JSON.parse(readFileSync(await download.path(), 'utf8'));
    expect(results.rows[0]).toMatchObject({ model: 'hf:test/tiny-t5', params: 47_872, steps: 2 });
    const cached = await page.evaluate(async () => (await (await caches.open('hf-hub')).keys()).map((r) => new URL(r.url).pathname));
    expect(cached).toEqual(expect.arrayContaining([`/test/tiny-t5/snapshots/${COMMIT}/model.safetensors`, '/test/tiny-t5/refs/main']));
    await page.screenshot({ path: screenshotPath('web-hub.png'), fullPage: true });
  });

  it('trains from the Cache Storage when the server is gone', async () => {
    await open();
    await hub.close();
    await page.click('#start');
    expect(await finish(1)).toMatch(/Run 1 done/);
    expect(errors).toEqual([]);
  });
});
