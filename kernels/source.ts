// Reads the text of a kernel file (kernels/NAME.wgsl) in any runtime.
//
// Node and Deno read it from disk next to this module; browsers fetch it, and Vite rewrites the
// `new URL(..., import.meta.url)` pattern so the files are shipped with the page.

export async function loadKernelSource(name: string): Promise<string> {
  const url = new URL(`./${name}.wgsl`, import.meta.url);
  const g = globalThis as any;
  const onDisk = url.protocol === 'file:' && (g.Deno !== undefined || g.process?.versions?.node);
  if (onDisk) {
    const fsSpecifier = 'node:fs/promises';
    const fs = await import(/* @vite-ignore */ fsSpecifier);
    return fs.readFile(url, 'utf8');
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`could not load kernel ${name}.wgsl from ${url}: HTTP ${res.status}`);
  return res.text();
}
