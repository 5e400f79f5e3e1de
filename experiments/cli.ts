// Command-line entry for experiment tooling: `npx tsx experiments/cli.ts <command> [--option value]`.
// Commands live in one table so that new ones only add an entry.

import { readFileSync } from 'node:fs';
import { EXPLANATION_FORMATS, explainSource, isExplanationFormat } from './tasks/explain.ts';
import { readTsv, writeTsv } from './tasks/tsv.ts';

class UsageError extends Error {}

interface Command {
  summary: string;
  /** Option name (without `--`) to its help text; all are `--name value` pairs. */
  options: Record<string, string>;
  required: readonly string[];
  run(options: Record<string, string>): void;
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
};

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

function main(argv: string[]): number {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) throw new UsageError('no command given');
    if (name === 'help' || name === '--help') {
      console.log(usage());
      return 0;
    }
    if (!Object.hasOwn(commands, name)) throw new UsageError(`unknown command "${name}"; valid commands: ${Object.keys(commands).join(', ')}`);
    const command = commands[name];
    command.run(parseOptions(name, command, rest));
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

process.exitCode = main(process.argv.slice(2));
