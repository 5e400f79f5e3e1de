// Command-line entry for experiment tooling: `npx tsx experiments/cli.ts <command> [--option value]`.
// Commands live in one table so that new ones only add an entry.

import { readFileSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as E from '../engine/index.ts';
import { countParameters, withVocab, PRESET_NAMES, type PresetName } from '../model/config.ts';
import { modelFiles } from '../model/checkpoint.ts';
import { writeCheckpointDir } from '../model/checkpoint-dir.ts';
import { T5 } from '../model/t5.ts';
import { WordTokenizer } from '../model/tokenizer.ts';
import { coverage, describeCoverage } from '../model/tokenizer-coverage.ts';
import { encodeExamples, type TextExample } from '../training/data.ts';
import { Trainer } from '../training/trainer.ts';
import { loadPretrained } from './pretrained.ts';
import { parseAnswer } from './tasks/answer.ts';
import { EXPLANATION_FORMATS, explainSource, isExplanationFormat } from './tasks/explain.ts';
import { readTsv, writeTsv } from './tasks/tsv.ts';

class UsageError extends Error {}

interface Command {
  summary: string;
  /** Option name (without `--`) to its help text; all are `--name value` pairs. */
  options: Record<string, string>;
  required: readonly string[];
  run(options: Record<string, string>): void | Promise<void>;
}

const commands: Record<string, Command> = {
  render: {
    summary: 'rewrite a TSV (authors or LRA format, auto-detected) with every target regenerated from its source; writes to stdout',
    options: {
      format: `explanation format: ${EXPLANATION_FORMATS.join(' | ')}`,
      input: 'TSV file to read',
    },
    required: ['format', 'input'],
    run({ format, input }) {
      if (!isExplanationFormat(format)) throw new UsageError(`unknown --format "${format}"; valid formats: ${EXPLANATION_FORMATS.join(', ')}`);
      const file = readTsv(readFileSync(input, 'utf8'), input);
      if (file.format === 'lra' && format !== 'none') {
        throw new UsageError(`${input} is an LRA TSV, whose targets are bare answers; only --format none can be written to it`);
      }
      const rows = file.rows.map((row, i) => {
        try {
          return { source: row.source, target: explainSource(row.source, format) };
        } catch (err) {
          throw new Error(`${input}: example ${i + 1}: ${(err as Error).message}`);
        }
      });
      process.stdout.write(writeTsv({ ...file, rows }));
    },
  },
  train: {
    summary: "train a model on data files (the authors' TSV or LRA's), keep the best validation weights, report test accuracy; writes model/, metrics.jsonl and results.json to --out",
    options: {
      train: 'training TSV',
      validation: 'validation TSV (picks the best weights)',
      test: 'test TSV (optional)',
      out: 'output folder',
      model: `model size: ${PRESET_NAMES.join(' | ')} (default xs)`,
      init: 'fine-tune a pretrained model instead: a model folder or hf:OWNER/NAME[@REVISION]; its tokenizer encodes the data',
      epochs: 'passes over the training data (default 5)',
      'batch-size': 'examples per step (default 16)',
      lr: 'peak learning rate, decayed linearly (default 0.001)',
      seed: 'seed of initialization, data order and dropout (default 1)',
    },
    required: ['train', 'validation', 'out'],
    run: trainOnFiles,
  },
};

/** Examples of a data file (either TSV format); the answer is read from each target. */
function readExamples(file: string): TextExample[] {
  return readTsv(readFileSync(file, 'utf8'), file).rows.map((row, i) => {
    const answer = parseAnswer(row.target);
    if (answer === null) throw new Error(`${file}: example ${i + 1}: its target has no final answer to score against`);
    return { source: row.source, target: row.target, answer };
  });
}

const numberOption = (o: Record<string, string>, name: string, fallback: number, integer = true): number => {
  const v = o[name] === undefined ? fallback : Number(o[name]);
  if (!(v > 0) || (integer && !Number.isInteger(v))) throw new UsageError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got ${o[name]}`);
  return v;
};

async function trainOnFiles(o: Record<string, string>): Promise<void> {
  const model = (o.model ?? 'xs') as PresetName;
  if (!PRESET_NAMES.includes(model)) throw new UsageError(`unknown --model "${o.model}"; valid models: ${PRESET_NAMES.join(', ')}`);
  const [epochs, batchSize, seed] = [numberOption(o, 'epochs', 5), numberOption(o, 'batch-size', 16), numberOption(o, 'seed', 1)];
  const lr = numberOption(o, 'lr', 1e-3, false);
  const train = readExamples(o.train);
  const validation = readExamples(o.validation);
  const test = o.test ? readExamples(o.test) : [];
  const texts = [...train, ...validation, ...test].flatMap((e) => [e.source, e.target]);
  if (o.init && o.model) throw new UsageError('--init and --model exclude each other: the pretrained model has its own size');
  const init = o.init ? await loadPretrained(o.init, (l) => console.error(l)) : null;
  if (init) console.log(`tokenizer of ${o.init}: ${describeCoverage(coverage(init.tokenizer, texts))}`);
  const tokenizer = init?.tokenizer ?? WordTokenizer.fromTexts(texts);
  await E.initEngine();
  const config = init?.model.config ?? withVocab(model, tokenizer.vocabSize);
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
  await mkdir(o.out, { recursive: true });
  const metrics = path.join(o.out, 'metrics.jsonl');
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
  await writeCheckpointDir(path.join(o.out, 'model'), await modelFiles(t5, tokenizer));
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
  await writeFile(path.join(o.out, 'results.json'), JSON.stringify(summary, null, 2));
}

function usage(): string {
  const lines = ['usage: npx tsx experiments/cli.ts <command> [--option value ...]', '', 'commands:'];
  for (const [name, cmd] of Object.entries(commands)) {
    lines.push(`  ${name}: ${cmd.summary}`);
    for (const [opt, help] of Object.entries(cmd.options)) lines.push(`      --${opt}  ${help}`);
  }
  return lines.join('\n');
}

function parseOptions(name: string, command: Command, args: string[]): Record<string, string> {
  const valid = Object.keys(command.options);
  const validList = valid.map((o) => `--${o}`).join(', ');
  const options: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--')) throw new UsageError(`${name}: unexpected argument "${arg}"; valid options: ${validList}`);
    const eq = arg.indexOf('=');
    const key = arg.slice(2, eq < 0 ? undefined : eq);
    if (!valid.includes(key)) throw new UsageError(`${name}: unknown option "--${key}"; valid options: ${validList}`);
    const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
    if (value === undefined) throw new UsageError(`${name}: option --${key} needs a value`);
    options[key] = value;
  }
  const missing = command.required.filter((o) => !(o in options));
  if (missing.length > 0) throw new UsageError(`${name}: missing ${missing.map((o) => `--${o}`).join(', ')}`);
  return options;
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
    await command.run(parseOptions(name, command, rest));
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

// An open WebGPU device keeps the event loop alive, so leave explicitly.
process.exit(await main(process.argv.slice(2)));
