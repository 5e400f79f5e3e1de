// The same training step (bench/train.ts) under Node and under Deno, side by side: each round
// runs `bench train` once in each runtime, in alternating order, so that both see the same load,
// and the ratio is Deno's median time over Node's (below 1.25: the bound this project holds Deno to). Deno takes
// Dawn when it loads (engine/device.ts); `--builtin` adds a third column, Deno's own WebGPU.
//
//   npm run bench -- runtimes [--presets tiny,xs] [--rounds 3] [--builtin] [--json]
//                             [any option of `bench train`: --batch, --source-length, ...]
//
// The Deno binary is the npm package's (node_modules/.bin/deno), or DENO; without one, a note.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseOptions, type OptionSpecs } from '../util/args.ts';
import { TRAIN_OPTIONS } from './train.ts';

const root = path.resolve(import.meta.dirname, '..');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Runtime {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
}

const OPTIONS = {
  rounds: { type: 'int', min: 1, help: 'rounds, each runtime in turn (default 3)' },
  builtin: { type: 'flag', help: "add Deno's own WebGPU as a third column" },
  json: { type: 'flag', help: 'one JSON object per line' },
} as const satisfies OptionSpecs;

/** Options passed through to `bench train`: everything but this bench's own. */
function trainArgs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--rounds') i += 1;
    else if (!args[i].startsWith('--rounds=') && args[i] !== '--builtin' && args[i] !== '--json') out.push(args[i]);
  }
  return out;
}

export async function run(args: string[]): Promise<void> {
  // This bench's options and those it passes on to `bench train`, checked here before any round.
  const { rounds: _, json: __, ...passed } = TRAIN_OPTIONS;
  const { values: o } = parseOptions(args, { ...OPTIONS, ...passed }, 'bench runtimes');
  const rounds = o.rounds ?? 3;
  const json = o.json ?? false;
  const say = (line: string) => json || console.log(line);
  if (!existsSync(path.join(root, 'bench/run.ts'))) {
    say('runtimes: runs bench/run.ts under each runtime, so it needs the project checkout (npm ci), not the bundle');
    return;
  }
  const deno = process.env.DENO ?? path.join(root, 'node_modules/.bin/deno');
  if (!existsSync(deno)) {
    say(`runtimes: no Deno at ${deno} (npm ci installs it; DENO= names another): nothing to compare`);
    return;
  }
  const train = ['bench/run.ts', 'train', '--no-peer', '--json', '--rounds', '1', ...trainArgs(args)];
  const runtimes: Runtime[] = [
    { name: 'node', command: process.execPath, args: ['--import', 'tsx', ...train], env: {} },
    { name: 'deno', command: deno, args: ['run', '-A', ...train], env: { WEBGPU_IMPL: 'dawn' } },
    ...(o.builtin ? [{ name: 'deno-builtin', command: deno, args: ['run', '-A', ...train], env: { WEBGPU_IMPL: 'builtin' } }] : []),
  ];
  // seconds[runtime][model], one per round
  const seconds = new Map<string, Map<string, number[]>>(runtimes.map((r) => [r.name, new Map()]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? runtimes : [...runtimes].reverse();
    for (const rt of order) {
      const r = spawnSync(rt.command, rt.args, { cwd: root, encoding: 'utf8', env: { ...process.env, ...rt.env }, timeout: 600_000 });
      if (r.status !== 0) throw new Error(`runtimes: bench train under ${rt.name} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
      for (const line of r.stdout.split('\n')) {
        if (!line.startsWith('{')) continue;
        const row = JSON.parse(line) as { model: string; seconds: number };
        const byModel = seconds.get(rt.name)!;
        byModel.set(row.model, [...(byModel.get(row.model) ?? []), row.seconds]);
      }
      say(`  round ${round + 1}/${rounds}: ${rt.name} done`);
    }
  }
  say(`training step under each runtime, median of ${rounds} alternated rounds (bench train ${trainArgs(args).join(' ') || 'defaults'}); ratio = time / Node's`);
  for (const model of seconds.get('node')!.keys()) {
    const node = median(seconds.get('node')!.get(model)!);
    for (const rt of runtimes) {
      const s = seconds.get(rt.name)!.get(model)!;
      const ratio = median(s) / node;
      if (json) console.log(JSON.stringify({ op: 'train-step-runtime', model, runtime: rt.name, seconds: median(s), rounds: s, ratio }));
      else say(`${model.padEnd(9)} ${rt.name.padEnd(13)} ${(median(s) * 1000).toFixed(1).padStart(8)} ms/step  ${ratio.toFixed(2)}x Node's`);
    }
  }
}
