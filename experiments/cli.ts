// Command-line entry for experiment tooling: `npx tsx experiments/cli.ts <command> [--option value]`.
// Commands live in one table so that new ones only add an entry.

import { readFileSync } from 'node:fs';
import { appendFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as E from '../engine/index.ts';
import { countParameters, withVocab, PRESET_NAMES, type PresetName } from '../model/config.ts';
import { modelFiles } from '../model/checkpoint.ts';
import { replaceDir, writeCheckpointDir } from '../model/checkpoint-dir.ts';
import { T5 } from '../model/t5.ts';
import { WordTokenizer } from '../model/tokenizer.ts';
import { coverage, describeCoverage } from '../model/tokenizer-coverage.ts';
import { encodeExamples, type TextExample } from '../training/data.ts';
import { Trainer } from '../training/trainer.ts';
import { loadPretrained } from './pretrained.ts';
import { parseAnswer } from './tasks/answer.ts';
import { EXPLANATION_FORMATS, explainSource, isExplanationFormat } from './tasks/explain.ts';
import { LISTOPS_PRESETS } from './tasks/listops.ts';
import { readTsv, writeTsv } from './tasks/tsv.ts';
import { optionHelp, parseOptions, UsageError, type OptionSpecs, type Values } from '../util/args.ts';
import { endOutputQuietlyOnEpipe } from '../util/stdio.ts';
import { fsReason, onFile } from '../util/fs-errors.ts';
import { clearLeftovers } from './run-folder.ts';

interface Command<S extends OptionSpecs = OptionSpecs> {
  summary: string;
  options: S;
  run(options: Values<S>): void | Promise<void>;
}

const command = <S extends OptionSpecs>(c: Command<S>): Command => c as unknown as Command;

const TASK_OPTION = {
  type: 'string',
  choices: Object.keys(LISTOPS_PRESETS),
  help: `whose values ListOps sources may hold: ${Object.entries(LISTOPS_PRESETS).map(([k, v]) => `${k} 0-${v.options.maxValue}`).join(', ')} (default listops)`,
} as const;
const maxValueOf = (task: string | undefined) => LISTOPS_PRESETS[(task ?? 'listops') as keyof typeof LISTOPS_PRESETS].options.maxValue;

const TRAIN_OPTIONS = {
  train: { type: 'string', required: true, help: 'training TSV' },
  validation: { type: 'string', required: true, help: 'validation TSV (picks the best weights)' },
  test: { type: 'string', help: 'test TSV (optional)' },
  out: { type: 'string', required: true, help: 'output folder, new or empty' },
  overwrite: { type: 'flag', help: 'replace what --out holds (otherwise a folder that holds files is refused)' },
  model: { type: 'string', choices: PRESET_NAMES, help: `model size: ${PRESET_NAMES.join(' | ')} (default xs)` },
  init: { type: 'string', help: 'fine-tune a pretrained model instead: a model folder or hf:OWNER/NAME[@REVISION]; its tokenizer encodes the data' },
  epochs: { type: 'int', min: 1, help: 'passes over the training data (default 5)' },
  'batch-size': { type: 'int', min: 1, help: 'examples per step (default 16)' },
  lr: { type: 'number', min: Number.MIN_VALUE, help: 'peak learning rate, decayed linearly (default 0.001)' },
  seed: { type: 'int', min: 0, help: 'seed of initialization, data order and dropout (default 1)' },
  task: TASK_OPTION,
} as const satisfies OptionSpecs;

const commands: Record<string, Command> = {
  render: command({
    summary: 'rewrite a TSV (authors or LRA format, auto-detected) with every target regenerated from its source; writes to stdout',
    options: {
      format: { type: 'string', required: true, choices: EXPLANATION_FORMATS, help: `explanation format: ${EXPLANATION_FORMATS.join(' | ')}` },
      input: { type: 'string', required: true, help: 'TSV file to read' },
      task: TASK_OPTION,
    },
    run({ format, input, task }) {
      if (!isExplanationFormat(format)) throw new UsageError(`unknown --format "${format}"; valid formats: ${EXPLANATION_FORMATS.join(', ')}`);
      const file = readTsv(readText(input, 'input'), input);
      if (file.format === 'lra' && format !== 'none') {
        throw new UsageError(`${input} is an LRA TSV, whose targets are bare answers; only --format none can be written to it`);
      }
      const rows = file.rows.map((row, i) => {
        try {
          return { source: row.source, target: explainSource(row.source, format, 10, maxValueOf(task)) };
        } catch (err) {
          throw new Error(`${input}: ${exampleAt(file, i)}: ${(err as Error).message}`);
        }
      });
      process.stdout.write(writeTsv({ ...file, rows }));
    },
  }),
  train: command({
    summary: "train a model on data files (the authors' TSV or LRA's), keep the best validation weights, report test accuracy; writes model/, metrics.jsonl and results.json to --out",
    options: TRAIN_OPTIONS,
    run: trainOnFiles,
  }),
};

/** A data file's text; the message names the option and the path. */
function readText(file: string, option: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EISDIR' ? 'is a folder, expected a TSV file' : code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw new Error(`--${option} ${file}: ${why}`);
  }
}

/** "line N" of an example: the authors' quoted fields may span lines, so count them. */
function exampleAt(file: { format: string; rows: { source: string; target: string }[] }, i: number): string {
  const header = file.format === 'lra' ? 1 : 0;
  const newlines = file.rows.slice(0, i).reduce((n, r) => n + 1 + (r.source + r.target).split('\n').length - 1, 0);
  return `line ${header + newlines + 1} (example ${i + 1})`;
}

/** Examples of a data file (either TSV format), checked as the task's sources; the answer is read from each target. */
function readExamples(path: string, option: string, maxValue: number): (TextExample & { at: string })[] {
  const file = readTsv(readText(path, option), path);
  if (file.rows.length === 0) throw new Error(`--${option} ${path}: the file holds no examples`);
  return file.rows.map((row, i) => {
    const at = `${path}: ${exampleAt(file, i)}`;
    try {
      explainSource(row.source, 'none', 10, maxValue);
    } catch (err) {
      throw new Error(`${at}: ${(err as Error).message}`);
    }
    const answer = parseAnswer(row.target);
    if (answer === null) throw new Error(`${at}: its target has no final answer to score against`);
    return { source: row.source, target: row.target, answer, at };
  });
}

/**
 * The longest sequence a batch of `batchSize` can hold: attention keeps batch x heads x length²
 * float scores in one GPU buffer, and a buffer binding has a size limit on every adapter.
 */
function longestSequence(batchSize: number, heads: number): number {
  const bytes = E.engine().device.limits.maxStorageBufferBindingSize;
  return Math.floor(Math.sqrt(bytes / (4 * batchSize * heads)));
}

async function trainOnFiles(o: Values<typeof TRAIN_OPTIONS>): Promise<void> {
  const model = (o.model ?? 'xs') as PresetName;
  const [epochs, batchSize, seed, lr] = [o.epochs ?? 5, o['batch-size'] ?? 16, o.seed ?? 1, o.lr ?? 1e-3];
  const maxValue = maxValueOf(o.task);
  const train = readExamples(o.train, 'train', maxValue);
  const validation = readExamples(o.validation, 'validation', maxValue);
  const test = o.test ? readExamples(o.test, 'test', maxValue) : [];
  const texts = [...train, ...validation, ...test].flatMap((e) => [e.source, e.target]);
  if (o.init && o.model) throw new UsageError('--init and --model exclude each other: the pretrained model has its own size');
  const init = o.init ? await loadPretrained(o.init, (l) => console.error(l)) : null;
  if (init) console.log(`tokenizer of ${o.init}: ${describeCoverage(coverage(init.tokenizer, texts))}`);
  const tokenizer = init?.tokenizer ?? WordTokenizer.fromTexts(texts);
  await E.initEngine();
  const config = init?.model.config ?? withVocab(model, tokenizer.vocabSize);
  for (const examples of [train, validation, test]) {
    const batch = Math.min(batchSize, examples.length);
    const limit = longestSequence(batch, config.numHeads);
    for (const e of examples) {
      const length = Math.max(tokenizer.encode(e.source, { addEos: true }).length, tokenizer.encode(e.target, { addEos: true }).length);
      if (length > limit) {
        throw new Error(
          `${e.at}: the example is ${length} tokens long; in batches of ${batch}, model ${model} on this adapter takes at most ${limit} (attention scores, batch x ${config.numHeads} heads x length², must fit in one ${E.engine().device.limits.maxStorageBufferBindingSize}-byte GPU buffer): shorten it or lower --batch-size`,
        );
      }
    }
  }
  const staging = await stagingFor(o.out, o.overwrite ?? false);
  const t5 = init?.model ?? T5.init(config, seed);
  const longest = Math.max(...train.map((e) => tokenizer.encode(e.target).length));
  const trainer = new Trainer(t5, tokenizer, encodeExamples(train, tokenizer), encodeExamples(validation, tokenizer), parseAnswer, {
    batchSize,
    maxEpochs: epochs,
    schedule: { type: 'linear', lr, warmupSteps: 0, totalSteps: 0 },
    weightDecay: 0.01,
    maxGradNorm: 1,
    evalEvery: 0,
    maxNewTokens: Math.ceil(longest * 1.25) + 8,
    seed,
  });
  const metrics = path.join(staging, 'metrics.jsonl');
  console.log(`model ${o.init ?? model}: ${countParameters(config).toLocaleString('en-US')} parameters; ${train.length} training examples`);
  const result = await trainer.run({
    onProgress: async (p) => {
      await appendFile(metrics, JSON.stringify({ step: p.step, loss: p.loss, lr: p.lr, tokensPerSecond: p.tokensPerSecond }) + '\n');
      if (p.step % 20 === 0 || p.step === p.totalSteps) {
        console.log(`step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(3)} ${Math.round(p.tokensPerSecond)} tok/s | left ~${Math.round(p.etaSeconds)}s`);
      }
    },
    onEval: async (r) => {
      await appendFile(metrics, JSON.stringify({ step: r.step, valAccuracy: r.valAccuracy }) + '\n');
      console.log(`step ${r.step}: validation accuracy ${(r.valAccuracy * 100).toFixed(1)}%`);
    },
  });
  await trainer.restoreBest();
  const scored = test.length ? await trainer.evaluate(encodeExamples(test, tokenizer)) : null;
  if (scored) console.log(`test accuracy ${(scored.accuracy * 100).toFixed(1)}% (${scored.correct}/${scored.total})`);
  await writeCheckpointDir(path.join(staging, 'model'), await modelFiles(t5, tokenizer));
  const summary = {
    files: { train: o.train, validation: o.validation, test: o.test ?? null },
    model: o.init ?? model,
    params: countParameters(config),
    seed,
    steps: result.steps,
    seconds: result.seconds,
    validationAccuracy: result.bestValAccuracy,
    testAccuracy: scored?.accuracy ?? null,
    adapter: E.describeAdapter(E.engine().adapter),
  };
  await writeFile(path.join(staging, 'results.json'), JSON.stringify(summary, null, 2));
  await onFile(o.out, 'replace the folder', () => replaceDir(staging, path.resolve(o.out)));
  console.log(`wrote ${o.out}: model/, metrics.jsonl, results.json`);
}

/**
 * The folder a training run writes into until it ends, beside --out: --out itself changes only
 * at the end, as a whole (its model, metrics and results always belong to one run), and a run
 * killed half-way leaves it as it was. A folder that holds files is replaced only when told to.
 */
async function stagingFor(out: string, overwrite: boolean): Promise<string> {
  const held = await readdir(out).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    if (e.code === 'ENOTDIR') throw new Error(`--out ${out}: it is a file, not a folder`);
    throw new Error(`--out ${out}: cannot read the folder (${fsReason(e)})`);
  });
  if (held.length > 0 && !overwrite) {
    throw new Error(`--out ${out} already holds ${held.slice(0, 3).join(', ')}${held.length > 3 ? ', ...' : ''}; choose a new or empty folder, or pass --overwrite to replace what it holds`);
  }
  const base = path.resolve(out);
  // What runs killed before they ended left beside it.
  await clearLeftovers(path.dirname(base), path.basename(base));
  const staging = `${base}.tmp-${process.pid}`;
  await onFile(staging, 'create the folder that training writes into', () => mkdir(staging, { recursive: true }));
  return staging;
}


function usage(): string {
  const lines = ['usage: npx tsx experiments/cli.ts <command> [--option value ...]', '', 'commands:'];
  for (const [name, cmd] of Object.entries(commands)) lines.push(`  ${name}: ${cmd.summary}`, ...optionHelp(cmd.options, '      '));
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) throw new UsageError('no command given');
    if (name === 'help' || name === '--help') {
      console.log(usage());
      return 0;
    }
    if (!Object.hasOwn(commands, name)) throw new UsageError(`unknown command "${name}"; valid commands: ${Object.keys(commands).join(', ')}`);
    const command = commands[name];
    await command.run(parseOptions(rest, command.options, name).values);
    return 0;
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    if (err instanceof UsageError) {
      console.error(usage());
      return 2;
    }
    return 1;
  }
}

endOutputQuietlyOnEpipe();
// An open WebGPU device keeps the event loop alive, so leave explicitly.
process.exit(await main(process.argv.slice(2)));
