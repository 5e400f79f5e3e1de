// Prints, one per line, the node_modules folders (relative to the given root) that the named
// packages need at run time: their dependencies and those optional dependencies that are
// installed (the platform binaries npm picked for this machine), resolved as Node resolves them.
// Peer dependencies are left out: the device kit names every package it wants explicitly.
//
//   node scripts/gpu/closure.mjs ROOT PKG...

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const [root, ...wanted] = process.argv.slice(2);
const seen = new Set();

function resolve(name, from) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return null;
  }
}

function walk(name, from, optional) {
  const dir = resolve(name, from);
  if (!dir) {
    if (optional) return;
    throw new Error(`${name} (needed from ${from}) is not installed`);
  }
  if (seen.has(dir)) return;
  seen.add(dir);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys(pkg.dependencies ?? {})) walk(dep, dir, false);
  for (const dep of Object.keys(pkg.optionalDependencies ?? {})) walk(dep, dir, true);
}

for (const name of wanted) walk(name, root, false);
for (const dir of [...seen].sort()) console.log(relative(root, dir));
