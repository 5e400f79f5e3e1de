// Command-line options shared by the benchmarks (bench/run.ts lists only bench/*.ts as benchmarks).

/** The value after `--name` in args, if the flag is there. */
export function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
