// npm run pool -- RUN_DIR RUN_DIR... --out DIR
//
// One report over several finished runs of the same preset on different seeds: a run on seeds
// that took no part in choosing the settings, and its confirmation on more fresh seeds, pooled
// into one table with the intervals of all their seeds. The runs must have run the very same
// settings (everything but the description and the seeds) on seeds no two of them share; the
// pooled folder holds their rows and metrics as they are and a report made by the same code as a
// run's, so every number in it can be traced to the runs' own files.

import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import { optionHelp, parseOptions, UsageError } from '../util/args.ts';
import { buildReport, statistics, type ResultRow } from './report/index.ts';
import type { GridPreset } from './grid.ts';
import { readMetrics, writeAtomic } from './run-folder.ts';

const OPTIONS = {
  out: { type: 'string', required: true, help: 'the folder of the pooled report (results.json, table.md, charts, metrics.jsonl)' },
} as const;

interface RunResults {
  grid: string;
  preset: string;
  adapter: string;
  complete: boolean;
  wallSeconds?: number;
  config: { grid: string; preset: string; seeds: number; firstSeed: number; settings: GridPreset };
  rows: ResultRow[];
}

/** What makes runs poolable: the grid, the preset and its settings, the description aside. */
const settingsOf = (r: RunResults) => {
  const { description: _, seeds: __, ...settings } = r.config.settings;
  return JSON.stringify({ grid: r.grid, preset: r.preset, settings });
};

/** The runs in `dirs` as one results object and its metrics; refuses runs that do not pool. */
async function poolRuns(dirs: readonly string[], warn: (l: string) => void = () => {}) {
  if (dirs.length < 2) throw new UsageError('pool needs two run folders or more');
  const runs: RunResults[] = [];
  for (const dir of dirs) {
    const file = path.join(dir, 'results.json');
    const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new Error(`${file}: ${e.code === 'ENOENT' ? 'no such file; is this a run folder?' : e.message}`);
    });
    const r = JSON.parse(text) as RunResults;
    if (!r.complete) throw new Error(`${dir}: the run is not complete; finish it first`);
    if (!r.config?.settings) throw new Error(`${dir}: results.json does not say what ran (a run from before it did)`);
    runs.push(r);
  }
  const first = runs[0];
  runs.forEach((r, i) => {
    if (settingsOf(r) !== settingsOf(first)) throw new Error(`${dirs[i]} ran other settings than ${dirs[0]} (grid ${r.grid}, preset ${r.preset}); only runs of the same settings pool`);
  });
  const seedsOf = (r: RunResults) => Array.from({ length: r.config.seeds }, (_, k) => r.config.firstSeed + k);
  const owner = new Map<number, string>();
  runs.forEach((r, i) => {
    for (const s of seedsOf(r)) {
      if (owner.has(s)) throw new Error(`seed ${s} is in both ${owner.get(s)} and ${dirs[i]}; pooled runs must not share seeds`);
      owner.set(s, dirs[i]);
    }
  });
  const rows = runs.flatMap((r) => r.rows);
  const metrics = (await Promise.all(dirs.map((d) => readMetrics(path.join(d, 'metrics.jsonl'), warn)))).flat();
  const seeds = [...owner.keys()].sort((a, b) => a - b);
  const from = runs.map((r, i) => `${path.basename(dirs[i])} (seeds ${seedRanges(seedsOf(r))})`).join(', ');
  const description = `${first.config.settings.description} Pooled: the runs ${from}, the same settings on seeds ${seedRanges(seeds)}.`;
  // firstSeed and seeds name a range; seeds with gaps between them are listed.
  const gaps = seeds.at(-1)! - seeds[0] + 1 !== seeds.length;
  const results = {
    grid: first.grid,
    preset: first.preset,
    adapter: [...new Set(runs.map((r) => r.adapter))].join('; '),
    complete: true,
    // The runs' wall times added up: the compute the pooled table rests on, not one run's time.
    wallSeconds: runs.reduce((s, r) => s + (r.wallSeconds ?? 0), 0),
    pooled: runs.map((r, i) => ({ dir: path.basename(dirs[i]), firstSeed: r.config.firstSeed, seeds: r.config.seeds, wallSeconds: r.wallSeconds })),
    config: { ...first.config, seeds: seeds.length, firstSeed: seeds[0], ...(gaps && { seedList: seeds }), settings: { ...first.config.settings, description } },
    rows,
    statistics: statistics(rows),
  };
  return { results, metrics, description };
}

/** Sorted seeds as ranges: `11-18, 31-36`. */
function seedRanges(seeds: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < seeds.length; ) {
    let j = i;
    while (j + 1 < seeds.length && seeds[j + 1] === seeds[j] + 1) j++;
    parts.push(i === j ? String(seeds[i]) : `${seeds[i]}-${seeds[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
}

async function main(argv: string[]): Promise<void> {
  const { values: o, positionals } = parseOptions(argv, OPTIONS, 'pool', Infinity);
  const { results, metrics, description } = await poolRuns(positionals, (l) => console.error(l));
  const p = results.config.settings;
  const report = buildReport(results, metrics, { ...p.table, chance: p.chance, description });
  await mkdir(o.out, { recursive: true });
  await writeAtomic(path.join(o.out, 'metrics.jsonl'), metrics.map((m) => JSON.stringify(m) + '\n').join(''));
  for (const [name, content] of Object.entries(report)) await writeAtomic(path.join(o.out, name), content);
  await writeAtomic(path.join(o.out, 'results.json'), JSON.stringify(results, null, 2));
  const seeds = [...new Set(results.rows.map((r) => r.seed))].sort((a, b) => a - b);
  console.log(`pooled ${results.rows.length} rows of ${positionals.length} runs (seeds ${seedRanges(seeds)}): ${path.join(o.out, 'table.md')}`);
}

try {
  await main(process.argv.slice(2));
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  if (e instanceof UsageError) console.error(['usage: npm run pool -- RUN_DIR RUN_DIR... --out DIR', ...optionHelp(OPTIONS)].join('\n'));
  process.exitCode = e instanceof UsageError ? 2 : 1;
}
