// Seeded PRNG: xoshiro128** seeded through splitmix32. Everything is 32-bit integer
// arithmetic (Math.imul, >>>), so a seed gives the same stream in Node, Deno and browsers,
// unlike Math.random or float-based generators.

const TWO_POW_32 = 4294967296;

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// One splitmix32 step; used to spread a (possibly tiny or similar) seed over the whole state.
function splitmix32(state: number): [next: number, output: number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [next, z >>> 0];
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) throw new Error(`seed must be a safe integer, got ${seed}`);
}

// Folds both 32-bit halves in, so seeds that differ only above bit 31 still give different streams.
function seedWords(seed: number, count: number): number[] {
  checkSeed(seed);
  let state = (seed >>> 0) ^ Math.imul(Math.floor(seed / TWO_POW_32) >>> 0, 0x27d4eb2d);
  const words: number[] = [];
  for (let i = 0; i < count; i++) {
    const [next, out] = splitmix32(state);
    state = next;
    words.push(out);
  }
  return words;
}

/** Seed of an independent sub-stream (e.g. one per data split) derived from a base seed. */
export function deriveSeed(seed: number, stream: number): number {
  checkSeed(stream);
  const [a] = seedWords(seed, 1);
  const [b] = seedWords(stream, 1);
  return seedWords(a ^ Math.imul(b, 0x9e3779b1), 1)[0];
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    const [a, b, c, d] = seedWords(seed, 4);
    this.s0 = a | 0;
    this.s1 = b | 0;
    this.s2 = c | 0;
    this.s3 = d | 0;
    // xoshiro's all-zero state is a fixed point.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Starts from an explicit xoshiro128** state (e.g. to check against the reference vectors). */
  static fromState(state: readonly [number, number, number, number]): Rng {
    if (state.every((w) => (w | 0) === 0)) throw new Error('xoshiro128** state must not be all zero');
    const rng = new Rng(0);
    [rng.s0, rng.s1, rng.s2, rng.s3] = state.map((w) => w | 0);
    return rng;
  }

  /** Uniform integer in [0, 2^32). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** Uniform integer in [lo, hi], both inclusive. */
  nextInt(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo > hi) {
      throw new Error(`nextInt needs integers lo <= hi, got ${lo}, ${hi}`);
    }
    const range = hi - lo + 1;
    if (range > TWO_POW_32) throw new Error(`nextInt range ${range} exceeds 2^32`);
    // Rejection keeps the draw unbiased when 2^32 is not a multiple of the range.
    const limit = TWO_POW_32 - (TWO_POW_32 % range);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return lo + (x % range);
  }

  /** Standard normal draw (Box–Muller). */
  nextNormal(): number {
    const u = 1 - this.nextFloat(); // in (0, 1], so the log is finite
    const v = this.nextFloat();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.nextInt(0, items.length - 1)];
  }

  /** Fisher–Yates shuffle in place; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(0, i);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }
}
