// npm run experiment -- <grid | path/to/grid.json> [--preset quick|full|tiny] [--seeds N] [--first-seed N] [--jobs N] [--out DIR] [--shard I/N]
// npm run experiment -- <grid> --merge RUN_DIR
// deno task experiment <grid> [...]   (the same code under Deno)
import { spawn, type ChildProcess } from 'node:child_process';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { optionHelp, parseNumber, parseOptions, UsageError } from '../util/args.ts';
import { endOutputQuietlyOnEpipe } from '../util/stdio.ts';
import { GRID_NAMES, presetOf } from './grid.ts';
import { resolveGrid } from './grid-file.ts';
import { mergeRun } from './publish.ts';
import { runGrid } from './runner.ts';
import type { WorkerSpec } from './schedulers/workers.ts';
import { parseShard } from './shard.ts';

const OPTIONS = {
  preset: { type: 'string', help: 'the grid preset (default quick)' },
  seeds: { type: 'int', min: 1, help: 'seeds per cell (default: the preset says)' },
  'first-seed': { type: 'int', min: 1, help: 'seeds N .. N+seeds-1 (default 1): confirm on seeds that took no part in choosing the settings' },
  jobs: { type: 'int', min: 1, help: 'cells trained at once, each in its own process (on a 2-core CPU, 2 finish a grid sooner)' },
  out: { type: 'string', help: 'results root (default results)' },
  'restart-damaged': { type: 'flag', help: 'restart a cell whose checkpoint is damaged instead of stopping' },
  shard: { type: 'string', help: 'I/N: train shard I of N independent processes sharing --out (scheduler array tasks, I = 1..N)' },
  merge: { type: 'string', help: "RUN_DIR: rewrite a run's results, table and charts from its finished cells, and stop" },
  // How the parent of a --jobs run starts its workers; not for people.
  worker: { type: 'string', hidden: true },
  'run-dir': { type: 'string', hidden: true },
} as const;
const USAGE = [
  'usage: npm run experiment -- <grid | path/to/grid.json> [options]',
  `grids: ${GRID_NAMES.join(', ')}`,
  ...optionHelp(OPTIONS),
].join('\n');

// Workers of a --jobs run, so that a signal to this process reaches them too.
const children = new Set<ChildProcess>();

/** Starts this script again, on the same runtime, as worker `w` of the run. */
function launcher(argv: string[]): (w: WorkerSpec) => Promise<void> {
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  const [command, runtimeArgs] = deno ? [deno.execPath(), ['run', '-A']] : [process.execPath, process.execArgv];
  return (w) =>
    new Promise((resolve, reject) => {
      const child = spawn(command, [...runtimeArgs, fileURLToPath(import.meta.url), ...argv, `--worker=${w.index}/${w.count}`, `--run-dir=${w.dir}`], {
        stdio: 'inherit',
      });
      children.add(child);
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        children.delete(child);
        if (code === 0) resolve();
        else reject(new Error(`exited with ${signal ?? `code ${code}`}`));
      });
    });
}

let stopping = false;

/** Ends the workers, then this process: a kill, `timeout` or a closed pipe must not leave orphans training. */
async function shutDown(status: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<never> {
  // The run notices its workers ending and fails; this exit, not that one, says what happened.
  stopping = true;
  for (const c of children) c.kill(signal);
  const deadline = Date.now() + 10_000;
  while (children.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const c of children) c.kill('SIGKILL');
  process.exit(status);
}

/** A worker whose parent died (SIGKILL reaches no one else) stops too: the next run restarts its cell. */
function exitWithParent(): void {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(1);
  }, 500).unref();
}

async function main(argv: string[]): Promise<number> {
  const { values: o, positionals } = parseOptions(argv, OPTIONS, 'experiment', 1);
  if (positionals.length === 0) throw new UsageError('no grid given');
  const grid = await resolveGrid(positionals[0]);
  if (o.merge !== undefined) {
    // A merge rewrites what a run folder holds; the folder says which preset and seeds it ran.
    const beside = Object.keys(o).filter((k) => k !== 'merge');
    if (beside.length > 0) throw new UsageError(`--merge takes only the grid and the run folder; ${beside.map((k) => `--${k}`).join(', ')} would do nothing beside it`);
    await mergeRun(o.merge, grid.name);
    return 0;
  }
  const preset = o.preset ?? 'quick';
  presetOf(grid, preset);
  let worker: WorkerSpec | undefined;
  if (o.worker !== undefined) {
    const [index, count] = o.worker.split('/').map((x, i) => parseNumber(i === 0 ? '--worker index' : '--worker count', x, { type: 'int', min: 0 }));
    worker = { index, count, dir: o['run-dir'] ?? '' };
    exitWithParent();
  } else {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void shutDown(signal === 'SIGINT' ? 130 : 143, signal));
  }
  await runGrid({
    grid,
    preset,
    seeds: o.seeds,
    firstSeed: o['first-seed'],
    out: o.out ?? 'results',
    jobs: o.jobs,
    launch: launcher(argv),
    worker,
    restartDamaged: o['restart-damaged'],
    shard: o.shard === undefined ? undefined : parseShard(o.shard),
  });
  return 0;
}

endOutputQuietlyOnEpipe(() => void shutDown(0));
try {
  const status = await main(process.argv.slice(2));
  if (!stopping) process.exit(status);
} catch (e) {
  if (!stopping) {
    console.error(`error: ${(e as Error).message}`);
    if (e instanceof UsageError) console.error(USAGE);
    process.exit(e instanceof UsageError ? 2 : 1);
  }
}
