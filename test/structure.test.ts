// The project's import rules, checked over every .ts file's imports (a regex, not a compiler):
//   - nothing outside test/ imports test/;
//   - outside engine/, the engine is used through engine/index.ts only (tests, which check
//     internals, and bench/, which times single kernels, may reach inside);
//   - imports flow one way, web -> experiments -> training -> model -> reference -> engine ->
//     kernels, and util/ imports nothing of the project while anyone may import it;
//   - no file imports itself back through a chain of imports that run (`import type` is erased
//     before anything runs, so a type-only import does not count toward a cycle).

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const SKIP = new Set(['node_modules', 'dist', '.git']);

function tsFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory()) return SKIP.has(e.name) || e.name.startsWith('.') ? [] : tsFiles(rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

// import and export statements with `from '...'` (group 1: `type` when type-only), side-effect
// imports (import '...') and dynamic ones (import('...')); relative paths only
const IMPORT = /(?:\b(?:import|export)\s+(type\s)?[^;'"]*?\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

interface Imports {
  all: string[];
  /** Those that are still there when the code runs (not `import type`). */
  runtime: string[];
}

/** Every file's relative imports, as paths from the repository root. */
function importGraph(): Map<string, Imports> {
  const graph = new Map<string, Imports>();
  for (const file of tsFiles('')) {
    const source = readFileSync(path.join(root, file), 'utf8');
    const found = [...source.matchAll(IMPORT)].map((m) => ({ type: m[1] !== undefined, to: path.posix.normalize(path.posix.join(path.posix.dirname(file), m[2])) }));
    graph.set(file, { all: [...new Set(found.map((i) => i.to))], runtime: [...new Set(found.filter((i) => !i.type).map((i) => i.to))] });
  }
  return graph;
}

const top = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '');
// Lower layers never import higher ones; folders not listed (test, bench, scripts) sit above all.
const LAYERS = ['kernels', 'engine', 'reference', 'model', 'training', 'experiments', 'web'];
const rank = (folder: string) => (LAYERS.includes(folder) ? LAYERS.indexOf(folder) : LAYERS.length);

const graph = importGraph();
const edges = [...graph].flatMap(([from, imports]) => imports.all.map((to) => [from, to] as const));

describe('import structure', () => {
  it('finds the imports it checks', () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get('engine/index.ts')!.runtime).toContain('engine/runtime.ts');
    expect(graph.get('engine/tensor.ts')!.all).toContain('engine/autograd.ts');
    expect(graph.get('engine/tensor.ts')!.runtime).not.toContain('engine/autograd.ts');
  });

  it('nothing outside test/ imports test/', () => {
    expect(edges.filter(([from, to]) => top(from) !== 'test' && top(to) === 'test')).toEqual([]);
  });

  it('outside engine/, only engine/index.ts is imported from the engine', () => {
    const allowed = new Set(['engine', 'test', 'bench']);
    const past = edges.filter(([from, to]) => !allowed.has(top(from)) && top(to) === 'engine' && to !== 'engine/index.ts');
    expect(past).toEqual([]);
  });

  it('imports flow one way: web, experiments, training, model, reference, engine, kernels', () => {
    const upward = edges.filter(([from, to]) => top(to) !== 'util' && rank(top(to)) > rank(top(from)));
    expect(upward).toEqual([]);
  });

  it('util/ imports nothing of the project', () => {
    expect(edges.filter(([from, to]) => top(from) === 'util' && top(to) !== 'util')).toEqual([]);
  });

  it('has no import cycles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'open');
      stack.push(file);
      for (const next of graph.get(file)?.runtime ?? []) {
        if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next].join(' -> '));
        else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });
});
