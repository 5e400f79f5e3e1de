// npm run pretrain -- --model tiny|xs|s|m [--task listops|modsum] [--grid NAME|FILE.json] [--preset P]
//                     [--steps N] [--seed S] [--out DIR] [--lr X] [--batch-size N] [...]
// T5-style span-corruption pretraining on the sources of a fine-tuning grid preset (run.ts, data.ts).
// Ctrl-C (SIGINT) or SIGTERM stops at the next step with a checkpoint; the same command resumes.

import process from 'node:process';
import { optionHelp, parseOptions, UsageError } from '../../util/args.ts';
import { endOutputQuietlyOnEpipe } from '../../util/stdio.ts';
import { presetOf } from '../grid.ts';
import { resolveGrid } from '../grid-file.ts';
import { pretrain } from './run.ts';
import { GRID_OF_TASK, PRETRAIN_DEFAULTS, pretrainSettings, type PretrainSettings } from './settings.ts';

const MODELS = ['tiny', 'xs', 's', 'm'] as const;
const TASKS = ['listops', 'modsum'] as const;

const OPTIONS = {
  model: { type: 'string', required: true, choices: MODELS, help: `model size: ${MODELS.join(' | ')}` },
  task: { type: 'string', choices: TASKS, help: `whose sources: ${TASKS.join(' | ')} (default listops); picks the grid (${Object.entries(GRID_OF_TASK).map(([t, g]) => `${t}: ${g}`).join(', ')})` },
  grid: { type: 'string', help: 'the fine-tuning grid whose task options the sources follow: a name or a grid file (default: the task\'s)' },
  preset: { type: 'string', help: 'its preset (default quick)' },
  steps: { type: 'int', min: 1, help: `optimizer steps (default ${PRETRAIN_DEFAULTS.steps})` },
  seed: { type: 'int', min: 0, help: `seed of the sources, the corruption, the initialization and the batch order (default ${PRETRAIN_DEFAULTS.seed})` },
  out: { type: 'string', help: 'output folder (default results/pretrain/<grid>-<preset>-<model>-seed<seed>)' },
  lr: { type: 'number', min: Number.MIN_VALUE, help: "peak learning rate, warmed up, then decayed linearly to 0 (default: the preset's)" },
  'batch-size': { type: 'int', min: 1, help: "texts per step (default: the preset's)" },
  'warmup-steps': { type: 'int', min: 0, help: 'steps of linear warmup (default 100, at most a tenth of the steps)' },
  sources: { type: 'int', min: 1, help: `sources in the pool, corrupted anew on every pass (default ${PRETRAIN_DEFAULTS.sources})` },
  'validation-size': { type: 'int', min: 1, help: `held-out sources whose span restoration is validated (default the preset's validation size, at most ${PRETRAIN_DEFAULTS.validationSize})` },
  'held-out-seeds': { type: 'int', min: 0, help: `never draw the validation and test sources of fine-tuning seeds 1..N (default ${PRETRAIN_DEFAULTS.heldOutSeeds})` },
  'eval-every': { type: 'int', min: 0, help: 'steps between validations (default a fifth of the run; 0: at the end only)' },
  'checkpoint-every': { type: 'int', min: 1, help: `steps between checkpoints (default ${PRETRAIN_DEFAULTS.checkpointEvery})` },
  overwrite: { type: 'flag', help: 'start over, replacing what --out holds' },
} as const;

const USAGE = ['usage: npm run pretrain -- --model tiny|xs|s|m [options]', ...optionHelp(OPTIONS)].join('\n');

let stopRequested = 0;

async function main(argv: string[]): Promise<number> {
  const { values: o } = parseOptions(argv, OPTIONS, 'pretrain');
  const task = o.task ?? 'listops';
  const gridName = o.grid ?? GRID_OF_TASK[task as keyof typeof GRID_OF_TASK];
  const grid = await resolveGrid(gridName);
  const presetName = o.preset ?? 'quick';
  const preset = presetOf(grid, presetName);
  const wanted = task === 'listops' ? ['listops', 'listops30'] : ['modsum'];
  if (o.task !== undefined && !wanted.includes(preset.task)) throw new UsageError(`--task ${o.task}, but grid ${grid.name} preset ${presetName} is a ${preset.task} grid`);
  const settings = pretrainSettings(
    { grid: grid.name, presetName, preset, model: o.model as PretrainSettings['model'] },
    {
      steps: o.steps,
      seed: o.seed,
      lr: o.lr,
      warmupSteps: o['warmup-steps'],
      batchSize: o['batch-size'],
      sources: o.sources,
      validationSize: o['validation-size'],
      heldOutSeeds: o['held-out-seeds'],
      evalEvery: o['eval-every'],
      checkpointEvery: o['checkpoint-every'],
    },
  );
  const { steps, seed } = settings;
  if (settings.warmupSteps >= steps) throw new UsageError(`--warmup-steps ${settings.warmupSteps} must be below --steps ${steps}`);
  const out = o.out ?? `results/pretrain/${grid.name}-${presetName}-${o.model}-seed${seed}`;
  // The first signal stops at the next step with a checkpoint; a terminal's Ctrl-C reaches this
  // process twice (directly and through scripts/quiet.mjs), so only one a second later ends it at once.
  let firstAt = 0;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      const now = Date.now();
      if (stopRequested === 0) {
        firstAt = now;
        console.error(`${signal}: stopping at the next step with a checkpoint (again to quit at once)`);
      } else if (now - firstAt > 1000) process.exit(signal === 'SIGINT' ? 130 : 143);
      stopRequested++;
    });
  }
  const r = await pretrain({ settings, preset, out, overwrite: o.overwrite, shouldStop: () => stopRequested > 0 });
  return r.complete ? 0 : 130;
}

endOutputQuietlyOnEpipe();
try {
  process.exit(await main(process.argv.slice(2)));
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  if (e instanceof UsageError) console.error(USAGE);
  process.exit(e instanceof UsageError ? 2 : 1);
}
