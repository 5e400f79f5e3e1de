// Command-line options shared by the benchmarks (bench/run.ts lists only bench/*.ts as benchmarks),
// read with the project's one parser (util/args.ts), so `--name value` and `--name=value` both work.

import { parseNumber, type OptionSpec } from '../../util/args.ts';

/** The value of `--name value` or `--name=value` in args, if the option is there. */
export function option(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name) return args[i + 1];
    if (args[i].startsWith(`${name}=`)) return args[i].slice(name.length + 1);
  }
  return undefined;
}

/** A numeric option: its value, or `fallback` when absent; anything but a finite number (an
 *  integer, at least `min`, where `spec` asks) is an error. */
export function numberOption(args: string[], name: string, fallback: number, spec: Pick<OptionSpec, 'type' | 'min'> = { type: 'number' }): number {
  const raw = option(args, name);
  return raw === undefined ? fallback : parseNumber(name, raw, spec);
}
