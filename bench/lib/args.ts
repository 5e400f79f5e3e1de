// Command-line options shared by the benchmarks (bench/run.ts lists only bench/*.ts as benchmarks).

/** The value after `--name` in args, if the flag is there. */
export function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** A numeric option: its value, or `fallback` when absent; anything but a finite number is an error. */
export function numberOption(args: string[], name: string, fallback: number): number {
  const raw = option(args, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) throw new Error(`${name}: expected a number, got ${JSON.stringify(raw)}`);
  return n;
}
