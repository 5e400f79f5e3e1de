// The bundle's `bin/bench`, taking the arguments of `npm run bench --`. bench/run.ts finds the
// benchmarks by listing its own folder, which a bundle does not have; here the bundler takes in
// every bench/*.ts the import pattern matches and passes their names in BENCH_NAMES.

import process from 'node:process';

declare const BENCH_NAMES: string[];

const [name, ...args] = process.argv.slice(2);
if (!name || !BENCH_NAMES.includes(name)) {
  console.error(`usage: bin/bench NAME [options]; NAME is one of: ${BENCH_NAMES.join(', ')}`);
  process.exit(2);
}
const bench: { run: (args: string[]) => Promise<void> } = await import(`../../bench/${name}.ts`);
await bench.run(args);
// Dawn's device keeps the event loop alive.
process.exit(0);
