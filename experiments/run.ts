// npm run experiment -- <grid> [--preset quick|full|tiny] [--seeds N] [--jobs N] [--out DIR] [--shard I/N]
// npm run experiment -- <grid> --merge RUN_DIR
// deno task experiment <grid> [...]   (the same code under Deno)
import { spawn } from 'node:child_process';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { GRID_NAMES, loadGrid, presetOf } from './grid.ts';
import { mergeRun, runGrid, type WorkerSpec } from './runner.ts';
import { parseShard } from './shard.ts';

const OPTIONS = ['preset', 'seeds', 'jobs', 'out', 'shard', 'merge'];
// How the parent of a --jobs run starts its workers; not for people.
const WORKER_OPTIONS = ['worker', 'run-dir'];
const USAGE = `usage: npm run experiment -- <grid> [--preset NAME] [--seeds N] [--jobs N] [--out DIR] [--shard I/N]
       npm run experiment -- <grid> --merge RUN_DIR
grids: ${GRID_NAMES.join(', ')}
--jobs N trains N cells at once, each in its own process (on a 2-core CPU, 2 finish a grid sooner)
--shard I/N trains shard I of N independent processes sharing --out (scheduler array tasks, I = 1..N)
--merge RUN_DIR rewrites a run's results, table and charts from its finished cells`;

type Args = { grid: string } & Partial<Record<'preset' | 'seeds' | 'jobs' | 'out' | 'shard' | 'merge' | 'worker' | 'run-dir', string>>;

function parse(argv: string[]): Args {
  const [grid, ...rest] = argv;
  if (!grid || grid.startsWith('--')) throw new Error(`no grid given\n${USAGE}`);
  const o: Record<string, string> = {};
  for (let i = 0; i < rest.length; i += 2) {
    const flag = rest[i];
    const name = flag.replace(/^--/, '');
    if (!flag.startsWith('--') || ![...OPTIONS, ...WORKER_OPTIONS].includes(name)) {
      throw new Error(`unknown option ${flag}; valid options: ${OPTIONS.map((x) => `--${x}`).join(', ')}`);
    }
    if (rest[i + 1] === undefined) throw new Error(`${flag} needs a value`);
    o[name] = rest[i + 1];
  }
  return { grid, ...o };
}

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(Number.isInteger(n) && n > 0)) throw new Error(`${flag} must be a positive integer, got ${value}`);
  return n;
}

/** Starts this script again, on the same runtime, as worker `w` of the run. */
function launcher(args: Args): (w: WorkerSpec) => Promise<void> {
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  const [command, runtimeArgs] = deno ? [deno.execPath(), ['run', '-A']] : [process.execPath, process.execArgv];
  const common = [args.grid, '--preset', args.preset ?? 'quick', ...(args.seeds ? ['--seeds', args.seeds] : []), ...(args.shard ? ['--shard', args.shard] : []), '--out', args.out ?? 'results'];
  return (w) =>
    new Promise((resolve, reject) => {
      const child = spawn(command, [...runtimeArgs, fileURLToPath(import.meta.url), ...common, '--worker', `${w.index}/${w.count}`, '--run-dir', w.dir], {
        stdio: 'inherit',
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`exited with ${signal ?? `code ${code}`}`))));
    });
}

try {
  const args = parse(process.argv.slice(2));
  if (args.merge !== undefined) {
    await mergeRun(args.merge, args.grid);
    process.exit(0);
  }
  const grid = loadGrid(args.grid);
  const preset = args.preset ?? 'quick';
  presetOf(grid, preset);
  const seeds = positiveInt('--seeds', args.seeds);
  const jobs = positiveInt('--jobs', args.jobs);
  let worker: WorkerSpec | undefined;
  if (args.worker !== undefined) {
    const [index, count] = args.worker.split('/').map(Number);
    worker = { index, count, dir: args['run-dir'] ?? '' };
  }
  const shard = args.shard === undefined ? undefined : parseShard(args.shard);
  await runGrid({ grid, preset, seeds, out: args.out ?? 'results', jobs, launch: launcher(args), worker, shard });
  process.exit(0);
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
}
