// `npm run bench -- NAME [options]`: runs bench/NAME.ts, which exports `run(args)`.
//
//   npm run bench -- matmul [--json]
//   npm run bench -- attention [--iters N]

import { readdirSync } from 'node:fs';
import { UsageError } from '../util/args.ts';

const [name, ...args] = process.argv.slice(2);
const here = new URL('.', import.meta.url);
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3))
  .sort();
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- NAME [options]; NAME is one of: ${available.join(', ')}`);
  process.exit(2);
}
const bench: { run: (args: string[]) => Promise<void> } = await import(new URL(`./${name}.ts`, here).href);
try {
  await bench.run(args);
} catch (e) {
  // A bad option or a lost device ends in one line that says why, not a stack trace.
  console.error(`error: ${(e as Error).message}`);
  process.exit(e instanceof UsageError ? 2 : 1);
}
// Dawn's device keeps the event loop alive.
process.exit(0);
