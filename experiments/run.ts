// npm run experiment -- <grid> [--preset quick|full|tiny] [--seeds N] [--out DIR]
// deno task experiment <grid> [...]   (the same code under Deno)
import process from 'node:process';
import { GRID_NAMES, loadGrid, presetOf } from './grid.ts';
import { runGrid } from './runner.ts';

const OPTIONS = ['preset', 'seeds', 'out'];
const USAGE = `usage: npm run experiment -- <grid> [--preset NAME] [--seeds N] [--out DIR]
grids: ${GRID_NAMES.join(', ')}`;

function parse(argv: string[]): { grid: string } & Partial<Record<'preset' | 'seeds' | 'out', string>> {
  const [grid, ...rest] = argv;
  if (!grid || grid.startsWith('--')) throw new Error(`no grid given\n${USAGE}`);
  const o: Record<string, string> = {};
  for (let i = 0; i < rest.length; i += 2) {
    const flag = rest[i];
    const name = flag.replace(/^--/, '');
    if (!flag.startsWith('--') || !OPTIONS.includes(name)) throw new Error(`unknown option ${flag}; valid options: ${OPTIONS.map((x) => `--${x}`).join(', ')}`);
    if (rest[i + 1] === undefined) throw new Error(`${flag} needs a value`);
    o[name] = rest[i + 1];
  }
  return { grid, ...o };
}

try {
  const args = parse(process.argv.slice(2));
  const grid = loadGrid(args.grid);
  const preset = args.preset ?? 'quick';
  presetOf(grid, preset);
  const seeds = args.seeds === undefined ? undefined : Number(args.seeds);
  if (seeds !== undefined && !(Number.isInteger(seeds) && seeds > 0)) throw new Error(`--seeds must be a positive integer, got ${args.seeds}`);
  await runGrid({ grid, preset, seeds, out: args.out ?? 'results' });
  process.exit(0);
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
}
