// Matrix multiply (kernels/matmul.wgsl, kernels/matmul_subgroups.wgsl): batched with NumPy-style
// broadcasting of the leading dims, either operand read transposed in place, and its backward,
// which uses the same transpose flags so no transpose is ever materialized. A product's pass is
// held back one op (holdProduct, engine/ops/held.ts), so that a residual add and an RMS norm
// right after it can ride in it.

import { Kernel, bufferSize, type BufferArg, type DispatchArgs } from '../kernel.ts';
import { Tensor, fmtShape, keep, sizeOf, type Shape } from '../tensor.ts';
import { record } from '../autograd.ts';
import { engine } from '../runtime.ts';
import { SUBGROUP_KERNEL_LANES } from '../profile.ts';
import { broadcastStrides, checkRank, padTo8, sameShape, stridesOf } from '../shape.ts';
import { sumTo } from './reduce.ts';
import type { HeldProduct } from './held.ts';

const tiledKernel = new Kernel('matmul');
const sharedRowsKernel = new Kernel('matmul_subgroups');
const sharedRowsVec4Kernel = new Kernel('matmul_subgroups', 'main_vec4');
const sharedRowsNormKernel = new Kernel('matmul_subgroups', 'main_norm');

/**
 * Which kernel a product runs on (the adapter profile's matmul.variant, engine/profile.ts):
 * - 'shared-rows': software adapters with subgroups of 8+ lanes (lavapipe through Dawn).
 * - 'direct': software adapters without subgroups (lavapipe through Deno's wgpu).
 * - 'tiled': real GPUs.
 */
export type MatmulVariant = 'shared-rows' | 'direct' | 'tiled';

/** The tiled variant's shape (kernels/matmul.wgsl): a WG_M x WG_N workgroup of invocations,
 *  each owning TM x TN outputs, staging BK-deep slices of k; SPLIT_N interleaves each
 *  invocation's column groups. */
export interface TileConfig {
  WG_M: number;
  WG_N: number;
  TM: number;
  TN: number;
  BK: number;
  SPLIT_N?: boolean;
}

/** "WG_M,WG_N,TM,TN,BK[,split]" (split: 1 sets SPLIT_N), as bench/matmul.ts --tiles takes it. */
export function parseTiles(text: string): TileConfig {
  const v = text.split(',').map(Number);
  if (v.length < 5 || v.length > 6 || v.some((x) => !Number.isInteger(x) || x < 0)) {
    throw new Error(`matmul tiles: want WG_M,WG_N,TM,TN,BK[,split], got '${text}'`);
  }
  const [WG_M, WG_N, TM, TN, BK, split = 0] = v;
  return { WG_M, WG_N, TM, TN, BK, SPLIT_N: split === 1 };
}

export function formatTiles(t: TileConfig): string {
  return `${t.WG_M},${t.WG_N},${t.TM},${t.TN},${t.BK}${t.SPLIT_N ? ',1' : ''}`;
}

/** Throws unless the kernel can run this tile shape on this device: TM and TN are its register
 *  blocks of 4 or 8 (MAX_T), BK is read 4 at a time, and the staged slices must fit the
 *  device's workgroup memory and its workgroup size limits. */
function checkTiles(t: TileConfig): void {
  const lim = engine().device.limits;
  const bytes = 4 * t.BK * (t.WG_M * t.TM + t.WG_N * t.TN);
  const problems = [
    ![4, 8].includes(t.TM) && 'TM must be 4 or 8',
    ![4, 8].includes(t.TN) && 'TN must be 4 or 8',
    (t.BK < 4 || t.BK % 4 !== 0) && 'BK must be a positive multiple of 4',
    (t.WG_M < 1 || t.WG_N < 1) && 'WG_M and WG_N must be positive',
    t.WG_M * t.WG_N > lim.maxComputeInvocationsPerWorkgroup && `${t.WG_M * t.WG_N} invocations exceed the device's ${lim.maxComputeInvocationsPerWorkgroup}`,
    t.WG_N > lim.maxComputeWorkgroupSizeX && `WG_N exceeds maxComputeWorkgroupSizeX ${lim.maxComputeWorkgroupSizeX}`,
    t.WG_M > lim.maxComputeWorkgroupSizeY && `WG_M exceeds maxComputeWorkgroupSizeY ${lim.maxComputeWorkgroupSizeY}`,
    bytes > lim.maxComputeWorkgroupStorageSize && `${bytes} bytes of workgroup memory exceed the device's ${lim.maxComputeWorkgroupStorageSize}`,
  ].filter(Boolean);
  if (problems.length) throw new Error(`matmul tiles ${formatTiles(t)}: ${problems.join('; ')}`);
}

interface Tiling {
  kernel: Kernel;
  /** Override constants of the kernel, less the per-call TRANS_* and VEC_*. */
  constants: Record<string, number>;
  /** Rows and columns of C one workgroup produces. */
  tileM: number;
  tileN: number;
}

/**
 * The kernel and tile sizes for an M x N product: the variant and its tiles come from the adapter
 * profile (engine/profile.ts). On lavapipe shared-rows measured fastest, then direct register
 * blocks, then staged workgroup tiles, whose copies and barriers a CPU driver only pays for
 * (BENCHMARKS.md). Small M or N get smaller shared-rows tiles so that few lanes compute rows or
 * columns that are thrown away. On GPUs the tiled variant takes the profile's large tiles from
 * its largeTilesFrom outputs on.
 */
export function matmulTiling(m: number, n: number): Tiling {
  const p = engine().adapterProfile.matmul;
  switch (p.variant) {
    case 'shared-rows':
      return sharedRowsTiling(m, n);
    case 'direct': {
      // Register blocks loaded straight from memory: no staging, so no SPLIT_N either.
      const { WG_M, WG_N, TM, TN, BK } = p.directTiles;
      return { kernel: tiledKernel, constants: { STAGE: 0, WG_M, WG_N, TM, TN, BK }, tileM: WG_M * TM, tileN: WG_N * TN };
    }
    case 'tiled': {
      const tiles = m * n >= p.largeTilesFrom ? p.largeTiles : p.tiles;
      checkTiles(tiles);
      const { SPLIT_N = false, ...sizes } = tiles;
      return { kernel: tiledKernel, constants: { STAGE: 1, ...sizes, SPLIT_N: Number(SPLIT_N) }, tileM: tiles.WG_M * tiles.TM, tileN: tiles.WG_N * tiles.TN };
    }
  }
}

function sharedRowsTiling(m: number, n: number): Tiling {
  const p = engine().adapterProfile;
  if (!p.supports.sharedRowsMatmul) throw new Error(`matmul: the shared-rows variant needs subgroups of at least ${SUBGROUP_KERNEL_LANES} lanes, which this device lacks`);
  // Per step of k a workgroup loads 4 vec4s of B and rows / 8 of A: the fewest loads over all
  // workgroups wins, the first candidate (the tallest) on ties. M = 32 (a weight gradient of
  // tiny's width) takes two tiles of 16 rather than two of 24, one a third empty.
  const loads = (rows: number) => Math.ceil(m / rows) * (4 + rows / 8);
  const rows = p.matmul.sharedRowsRows.reduce((best, r) => (loads(r) < loads(best) ? r : best));
  // The fewest columns computed and thrown away, then the first candidate (the most lanes):
  // N = 192 (xs's q, k and v in one product) takes 16 lanes, 3 blocks of 64 columns, which
  // measured faster than 32 lanes' 2 blocks of 128 on lavapipe (BENCHMARKS.md); N = 96 (tiny's)
  // takes 8.
  const waste = (lanes: number) => Math.ceil(n / (4 * lanes)) * 4 * lanes - n;
  const lanes = p.matmul.sharedRowsLanes.reduce((best, l) => (waste(l) < waste(best) ? l : best));
  return { kernel: sharedRowsKernel, constants: { WG: lanes, TM: rows }, tileM: rows, tileN: 4 * lanes };
}

/** The kernels read A and B as vec4 arrays: bind whole vec4s (pool buffers are multiples of 16 bytes). */
function vec4Arg(t: Tensor, op: string): BufferArg {
  const { buffer, size } = t.arg(op);
  return { buffer, size: Math.min(bufferSize(buffer), Math.max(16, Math.ceil(size / 16) * 16)) };
}

/** One operand of a gemm: a tensor's buffer read as a batch of row-major matrices. */
export interface GemmOperand {
  tensor: Tensor;
  /** Elements between stored rows. */
  ld: number;
  /** Element stride of each batch dim (0 where the operand is broadcast). */
  batchStrides: readonly number[];
  /** Elements of the buffer before the first matrix (a column block of a wider tensor). Default 0. */
  offset?: number;
}

export interface Gemm {
  label: string;
  m: number;
  n: number;
  k: number;
  batchShape: readonly number[];
  a: GemmOperand;
  b: GemmOperand;
  c: GemmOperand;
  transA?: boolean;
  transB?: boolean;
  /** C = alpha · op(A) · op(B), then the epilogue. Default 1. */
  alpha?: number;
  /** What happens to each element on its way out; `tensor` is laid out exactly like C. */
  epilogue?: Epilogue;
  /**
   * Where op(A) is known to be zero, so a kernel may skip those k (kernels/matmul_subgroups.wgsl,
   * k_range): 'lower', op(A)[i][k] = 0 for k > i + offset; 'upper', for k < i - offset.
   */
  band?: { zero: 'lower' | 'upper'; offset: number };
}

/** 'add': + tensor (a residual); 'relu': max(·, 0); 'relu-mask': kept where tensor > 0, else 0. */
export type Epilogue = { op: 'add'; tensor: Tensor } | { op: 'relu' } | { op: 'relu-mask'; tensor: Tensor };
const EPILOGUES = { add: 1, relu: 2, 'relu-mask': 3 } as const;

/**
 * Whether a product's pass can write the RMS norm of an M x N product's rows: on the shared-rows
 * kernel with one subgroup of 8 lanes across (N <= 32, a multiple of 4), where a subgroupAdd sums
 * a row (kernels/matmul_subgroups.wgsl, main_norm). C must be contiguous and unbatched.
 */
export function foldsRmsNorm(m: number, n: number): boolean {
  if (n % 4 !== 0 || n > 32 || engine().adapterProfile.matmul.variant !== 'shared-rows') return false;
  return sharedRowsTiling(m, n).constants.WG === 8;
}

/** A gemm's dispatch, planned: the kernel and its arguments, and whether C is stored as vec4s. */
export interface GemmPlan {
  kernel: Kernel;
  args: DispatchArgs & { constants: Record<string, number> };
  vecC: boolean;
}

/**
 * Records C = alpha · op(A) · op(B) (+ R) over strided matrices, with no autograd: the building
 * block of matmul and of ops that multiply views of their tensors in place (attention's heads).
 */
export function gemm(g: Gemm): void {
  const plan = planGemm(g);
  if (plan) plan.kernel.dispatch(plan.args);
}

/** The dispatch gemm records; null when C is empty. */
export function planGemm(g: Gemm): GemmPlan | null {
  const { m, n, k, transA = false, transB = false, label } = g;
  if (m === 0 || n === 0) return null;
  const tiling = matmulTiling(m, n);
  const aligned = (o: GemmOperand) => o.ld % 4 === 0 && (o.offset ?? 0) % 4 === 0 && o.batchStrides.every((s) => s % 4 === 0);
  const other = g.epilogue && 'tensor' in g.epilogue ? g.epilogue.tensor : null;
  // Whole vec4 stores where C's rows and batches start on multiples of 4 (and the residual, laid
  // out like C, with them).
  const vecC = tiling.kernel === sharedRowsKernel && n % 4 === 0 && aligned(g.c);
  const args = {
    label,
    buffers: {
      a: vec4Arg(g.a.tensor, label),
      b: vec4Arg(g.b.tensor, label),
      // Bound but never read by epilogues without a second input.
      ...(vecC ? { c4: vec4Arg(g.c.tensor, label), other4: vec4Arg(other ?? g.a.tensor, label) } : { c: g.c.tensor.arg(label), other: (other ?? g.a.tensor).arg(label) }),
    },
    params: {
      m,
      n,
      k,
      batch_rank: g.batchShape.length,
      lda: g.a.ld,
      ldb: g.b.ld,
      ldc: g.c.ld,
      alpha: g.alpha ?? 1,
      band: g.band ? (g.band.zero === 'lower' ? 1 : 2) : 0,
      band_offset: g.band?.offset ?? 0,
      offset_a: g.a.offset ?? 0,
      offset_b: g.b.offset ?? 0,
      offset_c: g.c.offset ?? 0,
      batch_shape: padTo8(g.batchShape),
      batch_stride_a: padTo8(g.a.batchStrides),
      batch_stride_b: padTo8(g.b.batchStrides),
      batch_stride_c: padTo8(g.c.batchStrides),
    },
    constants: {
      ...tiling.constants,
      TRANS_A: Number(transA),
      TRANS_B: Number(transB),
      VEC_A: Number(aligned(g.a)),
      VEC_B: Number(aligned(g.b)),
      EPILOGUE: g.epilogue ? EPILOGUES[g.epilogue.op] : 0,
    },
    workgroups: [Math.ceil(n / tiling.tileN), Math.ceil(m / tiling.tileM), sizeOf(g.batchShape)] as const,
  };
  return { kernel: vecC ? sharedRowsVec4Kernel : tiling.kernel, args, vecC };
}

// ---- the held product -------------------------------------------------------------------------

/**
 * Holds back the pass `plan` records (engine/ops/held.ts), whose result is `out`: the next op may
 * add a residual in it, then an RMS norm where `foldsNorm` (foldsRmsNorm of its `rows`, C
 * contiguous and unbatched). `inputs` are the tensors the pass reads. Throws now what recording
 * it would throw.
 */
export function holdProduct(plan: GemmPlan | null, out: Tensor, inputs: Tensor[], rows: number, foldsNorm: boolean): void {
  if (!plan) return;
  plan.kernel.check(plan.args);
  engine().hold(new HeldGemm(plan, out, inputs, rows, foldsNorm && plan.vecC));
}

class HeldGemm implements HeldProduct {
  /** Views of the tensors the pass reads: disposing theirs must not hand a buffer it reads to a
   *  tensor made in the meantime. */
  private reads: Tensor[];

  constructor(
    private readonly plan: GemmPlan,
    public out: Tensor,
    inputs: Tensor[],
    private readonly rows: number,
    private readonly foldsNorm: boolean,
  ) {
    this.reads = inputs.map((t) => keep(t.view(t.shape)));
  }

  addResidual(residual: Tensor): Tensor | null {
    const { args, vecC } = this.plan;
    if (args.constants.EPILOGUE !== 0 || this.out.isDisposed || residual.isDisposed || residual === this.out) return null;
    if (residual.dtype !== 'f32' || !sameShape(residual.shape, this.out.shape)) return null;
    const why = `it was added to the residual after it in its own pass (${args.label}), which stored only the sum; E.copy it before the add to keep it`;
    const sum = this.out.handOver(why);
    if (!sum) return null;
    args.label += ' + residual';
    if (vecC) args.buffers.other4 = vec4Arg(residual, args.label);
    else args.buffers.other = residual.arg(args.label);
    args.constants.EPILOGUE = EPILOGUES.add;
    this.reads.push(keep(residual.view(residual.shape)));
    this.out = sum;
    return sum;
  }

  foldRmsNorm(weight: Tensor, eps: number): { normed: Tensor; stats: Tensor } | null {
    const { args } = this.plan;
    if (!this.foldsNorm || args.constants.EPILOGUE !== EPILOGUES.add || this.out.isDisposed) return null;
    // Out of the hold first, so that the new tensors' fills (on a poisoning engine) do not record
    // it without the norm; `reads` keeps the buffers it reads from going to them.
    engine().unhold(this);
    const normed = Tensor.empty(this.out.shape);
    const stats = Tensor.empty([this.rows, 2]);
    this.plan.kernel = sharedRowsNormKernel;
    Object.assign(args.buffers, { norm_weight: vec4Arg(weight, args.label), normed: vec4Arg(normed, args.label), norm_stats: stats.arg(args.label) });
    args.constants.NORM_EPS = eps;
    this.dispatch();
    return { normed, stats };
  }

  dispatch(): void {
    try {
      this.plan.kernel.dispatch(this.plan.args);
    } finally {
      for (const t of this.reads) t.dispose();
      this.reads = [];
    }
  }
}

export interface MatmulOptions {
  /** Read `a` as its last two dims swapped ([..., K, M] instead of [..., M, K]). */
  transA?: boolean;
  /** Read `b` as its last two dims swapped ([..., N, K] instead of [..., K, N]). */
  transB?: boolean;
  /** Returns residual + alpha · op(a) · op(b) in one pass (residual has the result's shape). */
  residual?: Tensor;
  /** Scales the product. Default 1. */
  alpha?: number;
}

/**
 * op(a) · op(b) over the last two dims, where op transposes when transA / transB is set:
 * a is [..., M, K] (or [..., K, M]), b is [..., K, N] (or [..., N, K]), the leading dims
 * broadcast against each other, and the result is [...batch, M, N]. An add of a residual right
 * after it, and then an RMS norm, may ride in its pass (engine/ops/held.ts).
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const { transA = false, transB = false, residual, alpha = 1 } = options;
  const label = `matmul ${alpha !== 1 ? `${alpha} ` : ''}${fmtShape(a.shape)}${transA ? '^T' : ''} x ${fmtShape(b.shape)}${transB ? '^T' : ''}${residual ? ' + residual' : ''}`;
  const shapes = `${fmtShape(a.shape)} and ${fmtShape(b.shape)}`;
  for (const t of [a, b, ...(residual ? [residual] : [])]) {
    if (t.dtype !== 'f32') throw new Error(`matmul: ${shapes}: expects f32 tensors, got ${t.dtype} ${fmtShape(t.shape)}`);
  }
  if (a.rank < 2 || b.rank < 2) {
    throw new Error(`matmul: ${shapes}: both operands need at least 2 dims (reshape a vector to [1, K] or [K, 1])`);
  }
  const [m, ka] = transA ? [a.shape[a.rank - 1], a.shape[a.rank - 2]] : [a.shape[a.rank - 2], a.shape[a.rank - 1]];
  const [kb, n] = transB ? [b.shape[b.rank - 1], b.shape[b.rank - 2]] : [b.shape[b.rank - 2], b.shape[b.rank - 1]];
  if (ka !== kb) {
    const flags = transA || transB ? ` (transA=${transA}, transB=${transB})` : '';
    throw new Error(`matmul: ${shapes}${flags}: inner dimensions ${ka} and ${kb} differ`);
  }

  // [..., M, K] x [K, N] is one [(...)·M, K] x [K, N] product: fewer, fuller tiles, and the
  // backward's Aᵀ·dC then sums over the batch inside one product instead of a reduction. The
  // node keeps a itself as its input (no reshape node in between), so that a's running gradient
  // can ride in dA's epilogue.
  const flat = b.rank === 2 && a.rank > 2 && !transA;
  const rows = flat ? sizeOf(a.shape.slice(0, -1)) : m;
  const a2 = flat ? [rows, ka] : a.shape;
  const batchA = a2.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batch = broadcastBatch(batchA, batchB, shapes);
  checkRank(label, batch);
  const outShape = flat ? [...a.shape.slice(0, -1), n] : [...batch, m, n];
  checkResidual(residual, outShape, shapes);
  const out = Tensor.empty(outShape);
  const plan = planGemm({
    label,
    m: rows,
    n,
    k: ka,
    batchShape: batch,
    a: { tensor: a, ld: a.shape[a.rank - 1], batchStrides: broadcastStrides(batchA, batch).map((s) => s * rows * ka) },
    b: { tensor: b, ld: b.shape[b.rank - 1], batchStrides: broadcastStrides(batchB, batch).map((s) => s * ka * n) },
    c: { tensor: out, ld: n, batchStrides: stridesOf(batch).map((s) => s * rows * n) },
    transA,
    transB,
    alpha,
    epilogue: residual && { op: 'add', tensor: residual },
  });
  holdProduct(plan, out, [a, b, ...(residual ? [residual] : [])], rows, batch.length === 0 && foldsRmsNorm(rows, n));

  const [needA, needB] = [a.requiresGrad, b.requiresGrad];
  const saved = [...(needA ? [b] : []), ...(needB ? [a] : [])];
  // dA adds a's running gradient in its epilogue, unless dA must first be summed over a
  // broadcast batch.
  const aFull = fmtShape(a2) === fmtShape([...batch, transA ? ka : rows, transA ? rows : ka]);
  return record(
    'matmul',
    residual ? [a, b, residual] : [a, b],
    out,
    (g, kept, [accA]) => {
      const sb = needA ? kept[0] : null;
      const sa = needB ? kept[kept.length - 1].view(a2) : null;
      const g2 = g.view([...batch, rows, n]);
      const o = { alpha };
      const oa = { ...o, residual: accA?.view(a2) };
      // d op(A) = dC · op(B)ᵀ and d op(B) = op(A)ᵀ · dC; a transposed operand's gradient is the
      // transpose of that, which swaps the factors instead of transposing anything.
      const ga = sb && (transA ? matmul(sb, g2, { ...oa, transA: transB, transB: true }) : matmul(g2, sb, { ...oa, transB: !transB }));
      const gb = sa && (transB ? matmul(g2, sa, { ...o, transA: true, transB: transA }) : matmul(sa, g2, { ...o, transA: !transA }));
      return [ga && (accA ? ga.view(a.shape) : sumTo(ga, a2).view(a.shape)), gb && sumTo(gb, b.shape), ...(residual ? [g] : [])];
    },
    saved,
    aFull ? [0] : [],
  );
}

function checkResidual(residual: Tensor | undefined, shape: Shape, shapes: string): void {
  if (residual && fmtShape(residual.shape) !== fmtShape(shape)) {
    throw new Error(`matmul: ${shapes}: residual ${fmtShape(residual.shape)} does not match the product's shape ${fmtShape(shape)}`);
  }
}

/** NumPy broadcasting of the batch dims, with an error that names both full shapes. */
function broadcastBatch(x: Shape, y: Shape, shapes: string): number[] {
  const rank = Math.max(x.length, y.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const dx = x[x.length - rank + i] ?? 1;
    const dy = y[y.length - rank + i] ?? 1;
    if (dx !== dy && dx !== 1 && dy !== 1) {
      throw new Error(`matmul: ${shapes}: batch dims ${fmtShape(x)} and ${fmtShape(y)} cannot be broadcast together`);
    }
    out.push(dx === 1 ? dy : dx);
  }
  return out;
}
