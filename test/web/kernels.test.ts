// The engine's kernels inside Chromium's WebGPU (web/kernel-check.html): every check of the page
// must pass. Its report names each failing check with the mismatch it found.

import { expect, it } from 'vitest';
import type { KernelCheckReport } from '../../web/kernel-check.ts';
import { launch, screenshotPath, useBuiltSite } from './browser.ts';

const site = useBuiltSite();

it('every kernel check passes in Chromium', async () => {
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${site.url}/kernel-check.html`);
    await page.waitForFunction(() => 'kernelCheck' in window, null, { timeout: 240_000 });
    const report = (await page.evaluate(() => (window as unknown as { kernelCheck: KernelCheckReport }).kernelCheck)) as KernelCheckReport;
    await page.screenshot({ path: screenshotPath('kernel-check.png'), fullPage: true });
    expect(report.error).toBeUndefined();
    expect(report.adapter).toMatch(/via browser/);
    expect(report.results.filter((r) => !r.ok)).toEqual([]);
    expect(report.passed).toBeGreaterThanOrEqual(30);
    console.log(`${report.passed} kernel checks passed on ${report.adapter}${report.results.filter((r) => r.skipped).map((r) => `; skipped ${r.name}: ${r.skipped}`).join('')}; no check for ${report.unchecked.join(', ') || 'none'}`);
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
  }
}, 300_000);
