// The one command-line parser of every entry point (experiments, model CLI, benchmarks), on
// node:util parseArgs, which Node and Deno both have: `--opt value` and `--opt=value` alike,
// numbers checked strictly (no '', no hex, no trailing junk), and every error naming the option
// and what it accepts. Lives outside the layered folders so that any of them may import it.

import { parseArgs } from 'node:util';

/** Bad command-line input: callers print the message and their usage, and exit with status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface OptionSpec {
  type: 'string' | 'int' | 'number' | 'flag';
  help?: string;
  /** For strings: the only accepted values. */
  choices?: readonly string[];
  /** For numbers: the smallest accepted value. */
  min?: number;
  required?: boolean;
  /** Accepted but left out of usage and of the lists of valid options (internal plumbing). */
  hidden?: boolean;
}

export type OptionSpecs = Record<string, OptionSpec>;

type ValueOf<O extends OptionSpec> = O['type'] extends 'int' | 'number' ? number : O['type'] extends 'flag' ? boolean : string;
export type Values<S extends OptionSpecs> = { [K in keyof S]: S[K]['required'] extends true ? ValueOf<S[K]> : ValueOf<S[K]> | undefined };

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const INTEGER = /^[+-]?\d+$/;

/** A number option's value; `flag` is how the user spelled the option, for the message. */
export function parseNumber(flag: string, raw: string, spec: Pick<OptionSpec, 'type' | 'min'>): number {
  const integer = spec.type === 'int';
  const kind = `${integer ? 'an integer' : 'a number'}${spec.min === undefined ? '' : ` >= ${spec.min}`}`;
  const n = Number(raw);
  if (!(integer ? INTEGER : DECIMAL).test(raw.trim()) || !Number.isFinite(n) || (spec.min !== undefined && n < spec.min)) {
    throw new UsageError(`${flag} must be ${kind}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** "--a, --b" for messages. */
export const optionList = (specs: OptionSpecs): string =>
  Object.keys(specs)
    .filter((k) => !specs[k].hidden)
    .map((k) => `--${k}`)
    .join(', ');

/**
 * Parses `argv` against `specs`. `where` prefixes every message (the command's name);
 * `positionals` is how many bare arguments are allowed.
 */
export function parseOptions<S extends OptionSpecs>(argv: string[], specs: S, where: string, positionals = 0): { values: Values<S>; positionals: string[] } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, { type: s.type === 'flag' ? 'boolean' : 'string' }])),
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    const message = (e as Error).message.split('\n')[0];
    const unknown = /Unknown option '([^']+)'/.exec(message);
    if (unknown) throw new UsageError(`${where}: unknown option ${unknown[1]}; valid options: ${optionList(specs)}`);
    const flag = /'(--[^' ]+)/.exec(message)?.[1];
    if (flag && /argument missing|ambiguous/.test(message)) {
      throw new UsageError(`${where}: ${flag} needs a value (write ${flag}=VALUE for a value that starts with '-')`);
    }
    if (flag && /does not take an argument/.test(message)) throw new UsageError(`${where}: ${flag} is a switch and takes no value`);
    throw new UsageError(`${where}: ${message}`);
  }
  if (parsed.positionals.length > positionals) {
    const extra = parsed.positionals[positionals];
    throw new UsageError(`${where}: unexpected argument ${JSON.stringify(extra)}; valid options: ${optionList(specs)}`);
  }
  const values: Record<string, string | number | boolean | undefined> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = parsed.values[name];
    const flag = `${where}: --${name}`;
    if (raw === undefined) {
      if (spec.required) throw new UsageError(`${where}: missing --${name}${spec.help ? ` (${spec.help})` : ''}`);
      continue;
    }
    if (typeof raw === 'boolean') values[name] = raw;
    else if (spec.type === 'int' || spec.type === 'number') values[name] = parseNumber(flag, raw as string, spec);
    else if (spec.choices && !spec.choices.includes(raw as string)) {
      throw new UsageError(`${flag} must be one of ${spec.choices.join(', ')}, got ${JSON.stringify(raw)}`);
    } else values[name] = raw as string;
  }
  return { values: values as Values<S>, positionals: parsed.positionals };
}

/** One line per visible option, for usage text. */
export function optionHelp(specs: OptionSpecs, indent = '  '): string[] {
  return Object.entries(specs)
    .filter(([, s]) => !s.hidden)
    .map(([k, s]) => `${indent}--${k}${s.type === 'flag' ? '' : ` ${s.type === 'string' ? 'VALUE' : 'N'}`}  ${s.help ?? ''}${s.required ? ' (required)' : ''}`.trimEnd());
}
