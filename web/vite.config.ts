// `npm run web` serves web/ for development; `npm run build:web` writes web/dist, a static site
// with relative paths so it works from any folder of any static file server.

import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  worker: { format: 'es' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Kernels ship as files next to the scripts (kernels/source.ts fetches them), never inlined.
    assetsInlineLimit: (file) => (file.endsWith('.wgsl') ? false : undefined),
    rollupOptions: { input: { main: 'index.html', kernels: 'kernel-check.html' } },
  },
});
