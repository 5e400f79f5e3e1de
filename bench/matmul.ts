// Matrix multiply throughput, this engine against @tensorflow/tfjs-backend-webgpu on the same
// adapter in the same process: square products and the shapes a small transformer layer makes
// (8 sequences of 128 tokens, d_model 512, d_ff 2048), including the transposed forms its linear
// layers and their backward use. Both engines are timed the same way: warm-up calls (pipelines
// compile on first use), then a batch of products with every result but the last disposed, and
// the last one read back, so the time covers all the work end to end. Each figure is the median
// of --repeat timed batches, the engines taking turns so both see the same background load.
//
//   npm run bench -- matmul [--json] [--repeat N] [--only this|tfjs-webgpu] [--variants]
//                           [--sizes 1024,2048,4096] [--tiles WG_M,WG_N,TM,TN,BK[,split]/...]
//                           [--seconds S] [--check]
//
// --variants adds this engine's kernel variants forced one by one ("this:tiled", ...), to see
// what the adapter's choice gains. --sizes replaces the shape list with square products of those
// sizes. --tiles adds the tiled kernel with each of the given tile shapes ("this:16,16,8,8,16"),
// at every size, to tune it on a new GPU. Both force their kernel through the adapter profile
// (withAdapterProfile; engine/profile.ts). --seconds sets the length of a timed batch (0.5). --check compares 64
// sampled entries of each engine's result with a float64 dot product of the same inputs (so a
// fast but wrong tile shape shows). --json prints one object per line:
//   {"op":"matmul","m":..,"n":..,"k":..,"transA":..,"transB":..,"engine":"this"|"tfjs-webgpu","gflops":..,"adapter":".."}

import * as E from '../engine/index.ts';
import { formatTiles, matmulTiling, parseTiles } from '../engine/ops/matmul.ts';
import { parseNumber, parseOptions, type OptionSpecs } from '../util/args.ts';

interface Shape {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  what: string;
}

const sq = (s: number): Shape => ({ m: s, n: s, k: s, transA: false, transB: false, what: `square ${s}` });
const SHAPES: Shape[] = [
  sq(256),
  sq(512),
  sq(1024),
  sq(2048),
  { m: 1024, n: 2048, k: 512, transA: false, transB: false, what: 'ffn in: x·W' },
  { m: 1024, n: 2048, k: 512, transA: false, transB: true, what: 'ffn in: x·Wᵀ (linear)' },
  { m: 1024, n: 512, k: 2048, transA: false, transB: false, what: 'ffn out: h·W' },
  { m: 512, n: 2048, k: 1024, transA: true, transB: false, what: 'weight grad: xᵀ·dy' },
  { m: 1024, n: 512, k: 512, transA: false, transB: false, what: 'attn proj: x·W' },
  { m: 1024, n: 512, k: 512, transA: false, transB: true, what: 'attn proj: x·Wᵀ' },
];


interface Runner {
  /** Runs `count` products and waits for the last result's values. */
  batch(count: number): Promise<void>;
  /** One product's values, and the stored inputs it was made from. */
  values(): Promise<{ c: ArrayLike<number>; a: ArrayLike<number>; b: ArrayLike<number> }>;
  dispose(): void;
}

/** A Runner over either engine: `product` makes a result, `read` waits for its values. */
function runner<T extends { dispose(): void }>(product: () => T, read: (t: T) => Promise<ArrayLike<number>>, inputs: [T, T], dispose: () => void): Runner {
  return {
    async batch(count) {
      for (let i = 0; i < count - 1; i++) product().dispose();
      const last = product();
      await read(last);
      last.dispose();
    },
    async values() {
      const last = product();
      const c = await read(last);
      last.dispose();
      return { c, a: await read(inputs[0]), b: await read(inputs[1]) };
    },
    dispose,
  };
}

/** This engine's products, with `profile` over the adapter profile (a forced kernel or tiles). */
function ours(s: Shape, profile: E.ProfileOverrides = {}): Runner {
  const a = E.randu(s.transA ? [s.k, s.m] : [s.m, s.k], { seed: 1, lo: -1, hi: 1 });
  const b = E.randu(s.transB ? [s.n, s.k] : [s.k, s.n], { seed: 2, lo: -1, hi: 1 });
  return runner(
    () => E.withAdapterProfile(profile, () => E.matmul(a, b, { transA: s.transA, transB: s.transB })),
    (t) => t.toArray(),
    [a, b],
    () => E.dispose([a, b]),
  );
}

/** Largest |c - ref| / (1e-5·Σ|a·b| + 1e-6) over 64 sampled entries, ref a float64 dot product:
 *  float32 accumulation errs by about K·2^-24·Σ|a·b| at worst, far under 1. */
function sampledError(s: Shape, c: ArrayLike<number>, a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let t = 0; t < 64; t++) {
    const i = Math.floor(((t * 0.6180339887) % 1) * s.m);
    const j = Math.floor(((t * 0.7548776662 + 0.5) % 1) * s.n);
    let ref = 0;
    let mag = 0;
    for (let q = 0; q < s.k; q++) {
      const x = a[s.transA ? q * s.m + i : i * s.k + q] * b[s.transB ? j * s.k + q : q * s.n + j];
      ref += x;
      mag += Math.abs(x);
    }
    const err = Math.abs(c[i * s.n + j] - ref) / (1e-5 * mag + 1e-6);
    worst = Number.isNaN(err) ? Infinity : Math.max(worst, err);
  }
  return worst;
}

type TF = typeof import('@tensorflow/tfjs-core');

/** tfjs on a second Dawn instance of the same driver, created after the engine's so that it sees
 *  the same environment (LP_NUM_THREADS, see engine/device.ts). */
async function loadTfjs(): Promise<TF> {
  const specifier = 'webgpu';
  const { create } = await import(/* @vite-ignore */ specifier);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true, writable: true });
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not start its webgpu backend');
  await tf.ready();
  return tf;
}

function theirs(tf: TF, s: Shape): Runner {
  const a = tf.randomUniform(s.transA ? [s.k, s.m] : [s.m, s.k], -1, 1, 'float32', 1);
  const b = tf.randomUniform(s.transB ? [s.n, s.k] : [s.k, s.n], -1, 1, 'float32', 2);
  return runner(
    () => tf.matMul(a, b, s.transA, s.transB),
    (t) => t.data() as Promise<Float32Array>,
    [a, b],
    () => tf.dispose([a, b]),
  );
}

async function seconds(r: Runner, count: number): Promise<number> {
  const t0 = performance.now();
  await r.batch(count);
  return (performance.now() - t0) / 1000;
}


const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

const OPTIONS = {
  json: { type: 'flag', help: 'one JSON object per line' },
  repeat: { type: 'int', min: 1, help: 'timed batches per shape and engine (default 3)' },
  only: { type: 'string', choices: ['this', 'tfjs-webgpu'], help: 'one engine only' },
  seconds: { type: 'number', min: 0.01, help: 'length of a timed batch (default 0.5)' },
  check: { type: 'flag', help: 'check each product against a float64 reference' },
  sizes: { type: 'string', help: 'square sizes, comma-separated (default: the built-in shapes)' },
  variants: { type: 'flag', help: 'also time each kernel variant' },
  tiles: { type: 'string', help: 'tile shapes to time, separated by /' },
} as const satisfies OptionSpecs;

export async function run(args: string[]): Promise<void> {
  const { values: o } = parseOptions(args, OPTIONS, 'bench matmul');
  const json = o.json ?? false;
  const repeat = o.repeat ?? 3;
  const only = o.only;
  const batchSeconds = o.seconds ?? 0.5;
  const checkValues = o.check ?? false;
  const sizes = o.sizes;
  const shapes = sizes ? sizes.split(',').map((x) => sq(parseNumber('--sizes', x, { type: 'int', min: 1 }))) : SHAPES;
  const e = await E.initEngine();
  const adapter = E.describeAdapter(e.adapter);
  const engines: [string, (s: Shape) => Runner][] = [];
  if (only !== 'tfjs-webgpu') engines.push(['this', (s) => ours(s)]);
  if (only !== 'this') {
    const tf = await loadTfjs();
    engines.push(['tfjs-webgpu', (s) => theirs(tf, s)]);
  }
  if (o.variants) {
    for (const variant of ['shared-rows', 'direct', 'tiled'] as const) {
      if (variant !== 'shared-rows' || e.adapterProfile.supports.sharedRowsMatmul) engines.push([`this:${variant}`, (s) => ours(s, { matmul: { variant } })]);
    }
  }
  for (const text of o.tiles?.split('/') ?? []) {
    const tiles = parseTiles(text);
    const profile = { matmul: { variant: 'tiled', tiles, largeTiles: tiles } } as const;
    try {
      E.withAdapterProfile(profile, () => matmulTiling(1, 1));
    } catch (err) {
      console.log(`skipped: ${(err as Error).message}`);
      continue;
    }
    engines.push([`this:${formatTiles(tiles)}`, (s) => ours(s, profile)]);
  }
  if (!json) {
    console.log(`matmul GFLOP/s, ${adapter}, LP_NUM_THREADS=${process.env.LP_NUM_THREADS ?? '(unset)'}, median of ${repeat}`);
    const ratio = engines.length > 1 ? `  ${engines[0][0]}/${engines[1][0]}` : '';
    console.log(`${'M x N x K'.padEnd(18)}${'product'.padEnd(24)}${engines.map(([n]) => n.padStart(17)).join('')}${ratio}`);
  }
  for (const s of shapes) {
    const flop = 2 * s.m * s.n * s.k;
    const runners = engines.map(([, make]) => make(s));
    // Warm up, then size each timed batch to about --seconds (at least one product; a second
    // warm-up batch first, as one product is too short to time on a fast GPU).
    const counts: number[] = [];
    const errors: (number | undefined)[] = [];
    for (const r of runners) {
      await r.batch(1);
      const probe = Math.max(1, Math.round(0.05 / (await seconds(r, 1))));
      counts.push(Math.max(1, Math.round((batchSeconds * probe) / (await seconds(r, probe)))));
      if (checkValues) {
        const { c, a, b } = await r.values();
        errors.push(sampledError(s, c, a, b));
      }
    }
    const rates: number[][] = runners.map(() => []);
    for (let i = 0; i < repeat; i++) {
      for (const [j, r] of runners.entries()) rates[j].push((flop * counts[j]) / (await seconds(r, counts[j])) / 1e9);
    }
    for (const r of runners) r.dispose();
    const gflops = rates.map(median);
    if (json) {
      for (const [j, [engine]] of engines.entries()) {
        const { m, n, k, transA, transB } = s;
        const check = checkValues ? { sampledError: Number(errors[j]!.toPrecision(3)), correct: errors[j]! <= 1 } : {};
        console.log(JSON.stringify({ op: 'matmul', m, n, k, transA, transB, engine, gflops: Number(gflops[j].toFixed(2)), ...check, adapter }));
      }
    } else {
      const dims = `${s.m}x${s.n}x${s.k}`.padEnd(18);
      const ratio = gflops.length > 1 ? `${(gflops[0] / gflops[1]).toFixed(1).padStart(8)}x` : '';
      const flag = (j: number) => (checkValues && !(errors[j]! <= 1) ? '!' : '');
      console.log(`${dims}${s.what.padEnd(24)}${gflops.map((g, j) => (g.toFixed(2) + flag(j)).padStart(17)).join('')}${ratio}`);
      if (checkValues && errors.some((x) => !(x! <= 1))) console.log('  ! sampled entries differ from the float64 reference: that figure is of a wrong result');
    }
  }
}
