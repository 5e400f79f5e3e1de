// What the browser tests share: a fresh static build of web/ (into a temporary folder, so test
// files running side by side never race on web/dist), a plain static file server over it on a
// loopback port, and Debian's Chromium with WebGPU, driven by playwright-core.
//
// WebGPU in headless Chromium here: --enable-unsafe-webgpu is what makes requestAdapter() return
// an adapter; without it CPU adapters are blocklisted and navigator.gpu gives none. Without a GPU
// the adapter is Chromium's own SwiftShader (Vulkan on the CPU, reported as a fallback adapter).
// Lavapipe is not taken even with Vulkan enabled (--enable-features=Vulkan, Playwright's
// --use-angle=swiftshader-webgl dropped: chrome://gpu then lists it, but requestAdapter() still
// gives SwiftShader). Chromium accepts a Vulkan adapter other than SwiftShader only if it can
// share images with the compositor, which on Linux takes VK_KHR_external_semaphore_fd, and
// Mesa 25.0's lavapipe does not have it (vulkaninfo).

import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll } from 'vitest';

export const CHROMIUM = '/usr/bin/chromium';
const root = path.resolve(import.meta.dirname, '../..');
export const SCREENSHOTS = path.join(root, 'test-results');

export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--headless=new',
];

/** Fails (never skips) where Chromium is missing, saying how to get it. */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's chromium package. Run scripts/install-chromium.sh (as root), or apt-get install -y chromium.`);
  }
}

/** Builds web/ as `npm run build:web` does, into a fresh folder; returns it. */
export async function buildPage(): Promise<string> {
  const outDir = mkdtempSync(path.join(tmpdir(), 'web-dist-'));
  await build({ configFile: path.join(root, 'web/vite.config.ts'), logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  return outDir;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wgsl': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** A static file server over `dir` on 127.0.0.1 (a secure context, as WebGPU needs). */
export async function serve(dir: string): Promise<{ url: string; server: Server }> {
  const server = createServer(async (req, res) => {
    const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(dir, name.endsWith('/') ? `${name}index.html` : name);
    if (!file.startsWith(dir)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}`, server };
}

/** Chromium with a fresh profile; `webgpu: false` leaves out --enable-unsafe-webgpu. */
export async function launch(options: { webgpu?: boolean } = {}): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  requireChromium();
  const profile = mkdtempSync(path.join(tmpdir(), 'chromium-profile-'));
  const args = [...CHROMIUM_FLAGS, ...(options.webgpu === false ? [] : ['--enable-unsafe-webgpu'])];
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    viewport: { width: 1400, height: 1000 },
    acceptDownloads: true,
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function screenshotPath(name: string): string {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return path.join(SCREENSHOTS, name);
}

/** For a test file: builds the page, serves it on loopback before its tests and cleans up after.
 *  The returned object's `url` is filled in once the server listens. */
export function useBuiltSite(): { url: string } {
  const site = { url: '' };
  let dist = '';
  let server: Server | null = null;
  beforeAll(async () => {
    requireChromium();
    dist = await buildPage();
    ({ url: site.url, server } = await serve(dist));
  });
  afterAll(() => {
    server?.close();
    if (dist) rmSync(dist, { recursive: true, force: true });
  });
  return site;
}
