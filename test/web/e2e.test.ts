// The page end to end in real headless Chromium: the static build served by a plain file
// server, the default one-click comparison (none against medium explanations) at the tiny size,
// a tiny model pretrained in the page's worker (against the command line's) and the comparison
// fine-tuned from it, a tiny ListOps run with medium explanations trained in the page's worker, its curves, samples
// and result row, pause/resume/stop, the downloads, a checkpoint loaded back and evaluated, and
// the message where the browser offers no WebGPU adapter. Screenshots go to test-results/.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { loadGrid, presetOf } from '../../experiments/grid.ts';
import { pretrainSettings } from '../../experiments/pretrain/settings.ts';
import { readSafetensors } from '../../model/safetensors.ts';
import { unpackTar } from '../../web/tar.ts';
import { launch, screenshotPath, useBuiltSite } from './browser.ts';

const site = useBuiltSite();
const root = path.resolve(import.meta.dirname, '../..');
/** A pretraining short enough for the software adapter in a browser. */
const PRETRAIN_STEPS_HERE = 4;

// 48 examples in batches of 8: six steps in one epoch, validated after steps 3 and 6.
const SETTINGS = 'task=listops&explanation=medium&model=tiny&scale=tiny&trainSize=48&seed=1&evalEvery=3';
// The comparison on the same data: the task and the explanations are the comparison's own.
const COMPARISON = 'model=tiny&scale=tiny&trainSize=48&evalEvery=3';

async function waitForRun(page: Page, id: number, timeout = 120_000): Promise<string> {
  await page.waitForFunction((n) => new RegExp(`Run ${n} (done|failed)`).test(document.getElementById('status')!.textContent ?? ''), id, { timeout });
  const status = (await page.textContent('#status'))!;
  expect(status).toContain(`Run ${id} done`);
  return status;
}

async function downloadText(page: Page, button: string): Promise<string> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
  return readFileSync(await download.path(), 'utf8');
}

const currentStep = async (page: Page) => Number(/step (\d+)\//.exec((await page.textContent('#status')) ?? '')?.[1] ?? 0);

describe('the experiment page in Chromium', () => {
  let page: Page;
  let close: () => Promise<void>;
  const errors: string[] = [];

  beforeAll(async () => {
    const browser = await launch();
    close = browser.close;
    page = await browser.context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${site.url}/index.html`);
  });

  afterAll(async () => {
    await close?.();
  });

  it('finds a WebGPU adapter in its worker and names it', async () => {
    await page.waitForFunction(() => /via browser/.test(document.getElementById('adapter')!.textContent ?? ''), null, { timeout: 60_000 });
    expect(await page.textContent('#adapter')).toMatch(/^WebGPU adapter: .+ via browser$/);
    expect(await page.isHidden('#gpu-error')).toBe(true);
    expect(await page.isEnabled('#compare')).toBe(true);
    await page.screenshot({ path: screenshotPath('web-ready.png'), fullPage: true });
  });

  it('offers the comparison first, saying what it trains and for how long, the custom settings folded away', async () => {
    const plan = (await page.textContent('#plan'))!;
    expect(plan).toMatch(/a T5 of size tiny \(~[\d.]+[kM] parameters\) from scratch on [\d,]+ ListOps examples for [\d,]+ steps/);
    expect(plan).toContain('bare answers ("none"), then with medium explanations');
    expect(plan).toContain('a few minutes on a laptop GPU');
    expect(plan).toContain('which run is training, its step, loss and time left');
    expect(await page.getAttribute('#custom', 'open')).toBeNull();
    expect(await page.isVisible('#start')).toBe(false);
  });

  it('compares none and medium explanations at the tiny size: both run, both curves on each chart, both rows in the tables', async () => {
    await page.goto(`${site.url}/index.html?${COMPARISON}`);
    await page.waitForFunction(() => !(document.getElementById('compare') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
    // Settings set by the link show, and the plan follows them (no time estimate: it is for the defaults).
    expect(await page.getAttribute('#custom', 'open')).not.toBeNull();
    expect(await page.textContent('#plan')).toMatch(/size tiny .* on 48 ListOps examples for 6 steps/);
    expect(await page.textContent('#plan')).not.toContain('laptop');
    // Every status line, however fast they replace each other.
    await page.evaluate(() => {
      const seen: string[] = ((window as any).statuses = []);
      const el = document.getElementById('status')!;
      new MutationObserver(() => seen.push(el.textContent ?? '')).observe(el, { childList: true, characterData: true, subtree: true });
    });
    await page.click('#compare');
    await page.waitForFunction(() => /Comparison done|failed/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 240_000 });
    await page.screenshot({ path: screenshotPath('web-compared.png'), fullPage: true });
    expect(await page.textContent('#status')).toMatch(/^Comparison done, test accuracy: none \d+\.\d% after 6 steps; medium \d+\.\d% after 6 steps\.$/);

    // Progress named the run, its explanation, step, loss and time left, and what comes next.
    const statuses: string[] = await page.evaluate(() => (window as any).statuses);
    expect(statuses.some((t) => /^Run 1 · none, arm 1 of 2: step \d\/6 · loss \d+\.\d{3} · .* · ~\d+ s left in this run, then medium$/.test(t))).toBe(true);
    expect(statuses.some((t) => /^Run 2 · medium, arm 2 of 2: step \d\/6 · loss \d+\.\d{3} · .* · ~\d+ s left$/.test(t))).toBe(true);

    // Two series on each chart, with a legend naming both.
    for (const chart of ['#loss-chart', '#accuracy-chart']) {
      expect(await page.$$eval(`${chart} g.series`, (gs) => gs.length)).toBe(2);
      expect(await page.textContent(chart)).toMatch(/none.*medium|medium.*none/s);
    }
    // The runs table: a row per arm; the comparison table: one line, a column per explanation.
    const rows = await page.$$eval('#runs tr', (trs) => trs.slice(1).map((tr) => [...tr.children].map((td) => td.textContent ?? '')));
    expect(rows.map((r) => [r[0], r[2], r[3], r[4], r[7]])).toEqual([
      ['1', 'none', 'tiny', '48', 'done'],
      ['2', 'medium', 'tiny', '48', 'done'],
    ]);
    expect(await page.$$eval('#comparison tr', (trs) => trs.length)).toBe(2);
    expect(await page.textContent('#comparison tr:first-child')).toMatch(/none.*medium/);
    // Under it, medium against none on the same seed and test examples, with the baselines.
    const stats = (await page.textContent('#statistics'))!;
    expect(stats).toContain('Against none');
    expect(stats).toMatch(/medium[+−]\d+\.\d–.*\[[+−]\d+\.\d, [+−]\d+\.\d\]/);
    expect(stats).toMatch(/majority answer.*shortcut/s);

    const metrics = (await downloadText(page, '#download-metrics')).trim().split('\n').map((l) => JSON.parse(l));
    for (const explanation of ['none', 'medium']) {
      const own = metrics.filter((m) => m.cell === `listops-${explanation}-tiny-n48-seed1`);
      expect(own.filter((m) => m.loss !== undefined)).toHaveLength(6);
      expect(own.filter((m) => m.valAccuracy !== undefined).map((m) => m.step)).toEqual([3, 6]);
    }
    const results = JSON.parse(await downloadText(page, '#download-results'));
    expect(results).toMatchObject({ preset: 'tiny', complete: true });
    expect(results.rows.map((r: { explanation: string }) => r.explanation)).toEqual(['none', 'medium']);
  });

  it('pretrains a tiny model in its worker as the command line does, then compares from it: the pretrained runs beside the scratch ones, set against them', async () => {
    // The comparison above (runs 1 and 2, from scratch) stays on the page.
    await page.fill('#pretrain-steps', String(PRETRAIN_STEPS_HERE));
    await page.click('#pretrain');
    await page.waitForFunction(() => /Run 3 · pretraining (done|failed)/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 120_000 });
    expect(await page.textContent('#status')).toMatch(new RegExp(`^Run 3 · pretraining done: ${PRETRAIN_STEPS_HERE} steps in \\d+ s, spans restored \\d+\\.\\d% of held-out texts\\.`));
    const row = await page.$$eval('#runs tr:nth-child(4) td', (tds) => tds.map((td) => td.textContent ?? ''));
    expect([row[0], row[2], row[3], row[7]]).toEqual(['3', 'pretraining', 'tiny', 'done (pretraining)']);
    expect(await page.textContent('#loss-chart')).toContain('pretraining');
    expect(await page.textContent('#accuracy-chart')).not.toContain('pretraining');

    // Its model folder: the settings `npm run pretrain` gives the same grid, preset, model, steps
    // and seed, the same tokenizer and weights' names, and the same losses.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#runs tr:nth-child(4) button')]);
    const files = unpackTar(new Uint8Array(readFileSync(await download.path())));
    expect(Object.keys(files).sort()).toEqual(['config.json', 'model.safetensors', 'pretraining.json', 'tokenizer.json']);
    const info = JSON.parse(new TextDecoder().decode(files['pretraining.json']));
    const tinyPreset = presetOf(loadGrid('explanations'), 'tiny');
    expect(info.settings).toEqual(pretrainSettings({ grid: 'explanations', presetName: 'tiny', preset: tinyPreset, model: 'tiny' }, { steps: PRETRAIN_STEPS_HERE, seed: 1 }));
    expect(info).toMatchObject({ complete: true, result: { steps: PRETRAIN_STEPS_HERE } });
    const out = mkdtempSync(path.join(tmpdir(), 'page-pretrain-'));
    const cli = spawnSync(process.execPath, ['--import', 'tsx', 'experiments/pretrain/cli.ts', '--model', 'tiny', '--grid', 'explanations', '--preset', 'tiny', '--steps', String(PRETRAIN_STEPS_HERE), '--seed', '1', '--out', out], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(cli.status, cli.stderr).toBe(0);
    expect(new TextDecoder().decode(files['tokenizer.json'])).toBe(readFileSync(path.join(out, 'tokenizer.json'), 'utf8'));
    expect(JSON.parse(new TextDecoder().decode(files['config.json']))).toEqual(JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')));
    expect(readSafetensors(files['model.safetensors'], 'page').names().sort()).toEqual(readSafetensors(readFileSync(path.join(out, 'model.safetensors')), 'cli').names().sort());
    // The same losses step by step, up to float rounding: Chromium's adapter is not Node's.
    const losses = (lines: { loss?: number }[]) => lines.filter((l) => l.loss !== undefined).map((l) => l.loss!);
    const cliLosses = losses(readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)));
    const pageLosses = losses((await downloadText(page, '#download-metrics')).trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.explanation === 'pretraining'));
    expect(pageLosses).toHaveLength(PRETRAIN_STEPS_HERE);
    pageLosses.forEach((l, i) => expect(Math.abs(l - cliLosses[i]) / cliLosses[i]).toBeLessThan(1e-3));

    await page.click('#compare-pretrained');
    await page.waitForFunction(() => /Comparison done|failed/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 240_000 });
    expect(await page.textContent('#status')).toMatch(/^Comparison done, test accuracy: none \d+\.\d% after 6 steps; medium \d+\.\d% after 6 steps\.$/);
    await page.screenshot({ path: screenshotPath('web-pretrained.png'), fullPage: true });
    const label = `pretrained tiny, ${PRETRAIN_STEPS_HERE} steps, seed 1`;
    const rows = await page.$$eval('#runs tr', (trs) => trs.slice(1).map((tr) => [...tr.children].map((td) => td.textContent ?? '')));
    expect(rows.map((r) => [r[0], r[2], r[3], r[7]])).toEqual([
      ['1', 'none', 'tiny', 'done'],
      ['2', 'medium', 'tiny', 'done'],
      ['3', 'pretraining', 'tiny', 'done (pretraining)'],
      ['4', 'none', `tiny, ${label}`, 'done'],
      ['5', 'medium', `tiny, ${label}`, 'done'],
    ]);
    // The results table gets a line per starting point; the statistics set pretrained against scratch.
    expect(await page.$$eval('#comparison tr', (trs) => trs.length)).toBe(3);
    expect(await page.textContent('#statistics')).toContain('Pretrained against scratch');
    for (const chart of ['#loss-chart', '#accuracy-chart']) expect(await page.textContent(chart)).toContain('medium (pretrained)');
    const results = JSON.parse(await downloadText(page, '#download-results'));
    expect(results.rows.map((r: { init: string; explanation: string }) => [r.init, r.explanation])).toEqual([
      ['scratch', 'none'],
      ['scratch', 'medium'],
      [label, 'none'],
      [label, 'medium'],
    ]);
  });

  it('trains a tiny ListOps run with medium explanations: the loss falls, a result row and samples appear', async () => {
    await page.goto(`${site.url}/index.html?${SETTINGS}`);
    await page.waitForFunction(() => !(document.getElementById('start') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
    await page.click('#start');
    await waitForRun(page, 1);
    await page.screenshot({ path: screenshotPath('web-trained.png'), fullPage: true });

    const metrics = (await downloadText(page, '#download-metrics')).trim().split('\n').map((l) => JSON.parse(l));
    const losses = metrics.filter((m) => m.loss !== undefined).map((m) => m.loss as number);
    expect(losses.length).toBe(6);
    expect(losses.at(-1)!).toBeLessThan(losses[0]);
    expect(metrics.filter((m) => m.valAccuracy !== undefined).map((m) => m.step)).toEqual([3, 6]);
    expect(metrics[0]).toMatchObject({ cell: 'listops-medium-tiny-n48-seed1', explanation: 'medium', model: 'tiny', trainSize: 48, seed: 1, step: 1 });

    const results = JSON.parse(await downloadText(page, '#download-results'));
    expect(results).toMatchObject({ grid: 'browser', preset: 'tiny', complete: true });
    expect(results.adapter).toMatch(/via browser/);
    expect(results.rows).toHaveLength(1);
    expect(Object.keys(results.rows[0]).sort()).toEqual(['accuracy', 'baselines', 'breakdown', 'correct', 'explanation', 'init', 'model', 'outcomes', 'params', 'seconds', 'seed', 'steps', 'task', 'test', 'testSet', 'total', 'trainSize']);
    expect(results.rows[0]).toMatchObject({ task: 'listops', explanation: 'medium', model: 'tiny', trainSize: 48, seed: 1, test: 'test', steps: 6 });

    // The comparison table: a line for the task, model and data, a column for medium explanations.
    expect(await page.textContent('#comparison')).toMatch(/listops.*tiny.*48.*\d+\.\d n=1/s);
    expect(await page.textContent('#comparison tr:first-child')).toContain('medium');
    // Samples: the model's generation next to a medium explanation ending in the answer.
    const samples = await page.$$eval('#samples tr', (trs) => trs.slice(1).map((tr) => [...tr.children].map((td) => td.textContent ?? '')));
    expect(samples.length).toBeGreaterThan(0);
    for (const [source, reference] of samples) {
      expect(source).toMatch(/^\[/);
      expect(reference).toMatch(/Final answer: \d/);
    }
    expect(await page.textContent('#loss-chart')).toContain('Training loss');
    expect(await page.textContent('#accuracy-chart')).toContain('Validation accuracy');
  });

  it('loads the downloaded checkpoint and evaluates it to the same generations', async () => {
    const before = await page.textContent('#samples');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#runs button')]);
    const file = await download.path();
    const files = unpackTar(new Uint8Array(readFileSync(file)));
    expect(Object.keys(files).sort()).toEqual(['best.safetensors', 'config.json', 'model.safetensors', 'optimizer.safetensors', 'run.json', 'tokenizer.json', 'trainer.json']);
    expect(JSON.parse(new TextDecoder().decode(files['run.json']))).toMatchObject({ task: 'listops', explanation: 'medium', trainSize: 48 });

    await page.fill('input[name=trainSize]', '16'); // the checkpoint's run.json puts 48 back
    await page.setInputFiles('#checkpoint-file', { name: 'run1.tar', mimeType: 'application/x-tar', buffer: readFileSync(file) });
    await page.waitForFunction(() => /Loaded run1\.tar: a training checkpoint/.test(document.getElementById('status')!.textContent ?? ''));
    expect(await page.inputValue('input[name=trainSize]')).toBe('48');
    await page.click('#evaluate');
    await waitForRun(page, 2);
    expect(await page.textContent('#runs tr:nth-child(3)')).toContain('done (evaluated)');
    expect(await page.textContent('#samples')).toBe(before);
  });

  it('pauses, resumes and stops a longer run, which is still tested', async () => {
    // 800 examples: 100 steps, and no evaluation before the end to slow them.
    await page.goto(`${site.url}/index.html?task=listops&explanation=medium&model=tiny&scale=tiny&trainSize=800&seed=1`);
    await page.waitForFunction(() => !(document.getElementById('start') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
    await page.click('#start');
    await page.waitForFunction(() => /step [2-9]\d*\//.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 60_000 });
    await page.click('#pause');
    await page.waitForTimeout(1000); // the step under way when Pause was pressed may still report
    const paused = await currentStep(page);
    await page.waitForTimeout(1500);
    expect(await currentStep(page)).toBe(paused);
    expect(await page.textContent('#pause')).toBe('Resume');
    await page.screenshot({ path: screenshotPath('web-paused.png'), fullPage: true });
    await page.click('#pause');
    await page.waitForFunction((n) => Number(/step (\d+)\//.exec(document.getElementById('status')!.textContent ?? '')?.[1] ?? 0) > n, paused, { timeout: 60_000 });
    await page.click('#stop');
    const status = await waitForRun(page, 1);
    const steps = Number(/after (\d+) steps/.exec(status)?.[1]);
    expect(steps).toBeGreaterThan(paused);
    expect(steps).toBeLessThan(100);
    expect(await page.textContent('#runs')).toMatch(/done/);
  });

  it('stops a comparison: the run under way is tested, the other never starts', async () => {
    await page.goto(`${site.url}/index.html?model=tiny&scale=tiny&trainSize=800`);
    await page.waitForFunction(() => !(document.getElementById('compare') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
    await page.click('#compare');
    await page.waitForFunction(() => /arm 1 of 2: step [2-9]\d*\//.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 60_000 });
    await page.click('#stop');
    expect(await page.textContent('#status')).toMatch(/stopping after this step, then testing; medium will not run/);
    await page.waitForFunction(() => / done: | failed: /.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 120_000 });
    expect(await page.textContent('#status')).toMatch(/^Run 1 · none, arm 1 of 2 done: test \d+\.\d% after \d+ steps\.$/);
    expect(await page.$$eval('#runs tr', (trs) => trs.length)).toBe(2);
    expect(await page.isEnabled('#compare')).toBe(true);
    expect(errors).toEqual([]);
  });
});

describe('without a WebGPU adapter', () => {
  it('says why, specifically, and starts nothing', async () => {
    // Without --enable-unsafe-webgpu this Chromium has navigator.gpu but blocklists the only
    // (software) adapter: requestAdapter() gives null.
    const browser = await launch({ webgpu: false });
    try {
      const page = await browser.context.newPage();
      await page.goto(`${site.url}/index.html`);
      await page.waitForSelector('#gpu-error:not([hidden])', { timeout: 60_000 });
      const message = await page.textContent('#gpu-error');
      expect(message).toContain('GPUUnavailableError: No WebGPU adapter was found (browser)');
      expect(message).toContain('--enable-unsafe-webgpu');
      expect(await page.isDisabled('#compare')).toBe(true);
      expect(await page.isDisabled('#start')).toBe(true);
      await page.screenshot({ path: screenshotPath('web-no-adapter.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
