// The adapter profile: what the engine knows about its adapter, and every choice of kernel, tile
// or path that depends on it, worked out once when the engine starts (initEngine) and read by the
// ops from `engine().adapterProfile`. docs/design.md, "The adapter profile", says how to read and
// override it (profile_overrides.ts); `npm run doctor` prints it (describeProfile).
//
// The two kinds of adapter want opposite kernels. A software adapter (a CPU driver: Mesa's
// lavapipe, SwiftShader) runs invocations as SIMD lanes on a few cores: loads cost far more than
// arithmetic, workgroup memory is ordinary memory and barriers suspend whole workgroups, so it
// wants barrier-free kernels that load little, and subgroup kernels that share loads across
// lanes where it has subgroups. A real GPU wants the opposite: coalesced loads staged through
// workgroup memory. BENCHMARKS.md has the measurements behind each choice.
//
// Constants a kernel's WGSL fixes (its workgroup size, the bound of a private array) stay beside
// the op that dispatches it; only choices go here.

import type { AdapterReport } from './device.ts';
import type { MatmulVariant, TileConfig } from './ops/matmul.ts';
import type { AttentionPath } from './ops/attention/check.ts';

export interface AdapterProfile {
  /** A CPU driver rather than a GPU (the choices below follow from it). */
  software: boolean;
  /** The subgroup sizes the adapter may run, 0 and 0 without the subgroups feature. */
  subgroups: { min: number; max: number };
  /** The device limits the choices and the kernel checks read. */
  limits: ProfileLimits;
  /** lavapipe's thread pool (LP_NUM_THREADS, set before the driver loads: engine/device.ts), or
   *  null where the driver is not lavapipe or the process environment cannot be read. */
  driverThreads: number | null;
  /** Which kernels that need more than WebGPU's baseline can run here. */
  supports: { sharedRowsMatmul: boolean; subgroupsAttention: boolean };
  matmul: MatmulProfile;
  rows: RowsProfile;
  norm: NormProfile;
  attention: AttentionProfile;
}

export interface ProfileLimits {
  maxStorageBufferBindingSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
  maxComputeWorkgroupsPerDimension: number;
}

/** engine/ops/matmul.ts, matmulTiling(). */
export interface MatmulProfile {
  /** The kernel every product runs on (the MatmulVariant docs say which suits which adapter). */
  variant: MatmulVariant;
  /** The tiled variant's tiles below `largeTilesFrom` outputs (M x N)... */
  tiles: TileConfig;
  /** ...and from there on, where a grid of larger tiles still fills a GPU. */
  largeTiles: TileConfig;
  largeTilesFrom: number;
  /** The direct variant's register blocks (the tiled kernel without staging, so BK is its k step). */
  directTiles: TileConfig;
  /** The shared-rows variant's rows per workgroup and lanes per row of tiles to pick from, the
   *  preferred first on ties: more rows share each loaded element of B; past 24 Mesa stops
   *  unrolling the kernel's loops and its accumulators spill. */
  sharedRowsRows: number[];
  sharedRowsLanes: number[];
}

/** engine/ops/rows.ts, rowPlan(): softmax, the norms' forward, cross-entropy. */
export interface RowsProfile {
  /** Invocations ("lanes") per row: a power of two up to 256, or 'by-length': one lane per
   *  `valuesPerThread` values, rounded up to a power of two in minThreadsPerRow..maxThreadsPerRow.
   *  One lane per row needs no barriers (software adapters); many spread a long row over a
   *  workgroup and coalesce its loads (GPUs). */
  threadsPerRow: number | 'by-length';
  minThreadsPerRow: number;
  maxThreadsPerRow: number;
  valuesPerThread: number;
  /** Invocations per workgroup (raised to threadsPerRow where that is more). */
  workgroupSize: number;
}

/** engine/ops/norm.ts, the backward. */
export interface NormProfile {
  /** The fewest rows the backward takes per group: on a software adapter each group's partial row
   *  costs a store per lane and value, so groups are made larger there. */
  minGroupRows: number;
  /** Invocations per workgroup of the backward, whose rows are groups: few enough on a software
   *  adapter that a small batch still makes several workgroups for the cores. */
  backwardWorkgroupSize: number;
}

/** engine/ops/attention/index.ts, attentionPath(). */
export interface AttentionProfile {
  /** The path every call takes, or 'auto': picked per call by the rules below. */
  path: AttentionPath | 'auto';
  /** Heads up to subgroupsMaxHeadSize take the subgroups path (software adapters that support
   *  it: it shares loads the fused kernels repeat per lane); larger heads spill its registers. */
  subgroupsForSmallHeads: boolean;
  subgroupsMaxHeadSize: number;
  /** A decode step takes the subgroups path only with this many (batch, head) pairs: it runs one
   *  workgroup per pair, which keeps the driver's threads busy only given enough of them. */
  subgroupsMinDecodeWorkgroups: number;
  /** The most bytes one [B, H, Lq, Lk] score tensor of the materialized path may take (also
   *  capped by maxStorageBufferBindingSize); longer sequences stream on the fused path. */
  materializedMaxBytes: number;
  /** Calls with fewer query rows than this are decode steps: the fused path splits each row's
   *  keys into chunks of splitKeys, as one row per invocation would leave most lanes idle. */
  splitBelowRows: number;
  splitKeys: number;
}

/** The profile's groups of choices: the parts withAdapterProfile may change (profile_overrides.ts). */
export const CHOICES = ['matmul', 'rows', 'norm', 'attention'] as const;
export type Choice = (typeof CHOICES)[number];

/** Changes to the profile's choices, group by group and field by field. */
export type ProfileOverrides = { [G in Choice]?: Partial<AdapterProfile[G]> };

// What the subgroup kernels need: both run a workgroup as one subgroup of 8 lanes
// (kernels/matmul_subgroups.wgsl, kernels/attention_subgroups.wgsl), and the attention one's
// backward_q binds 12 storage buffers.
export const SUBGROUP_KERNEL_LANES = 8;
export const SUBGROUPS_ATTENTION_STORAGE_BUFFERS = 12;

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software/i;
const LAVAPIPE = /llvmpipe|lavapipe/i;
const MIB = 2 ** 20;

/** What the profile reads of the device's GPUAdapterInfo. */
export interface SubgroupInfo {
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
}

/**
 * The profile of the adapter `report` describes. `info` is the device's adapter info (its
 * subgroup sizes); `driverThreads` what LP_NUM_THREADS says, where the environment can be read.
 */
export function computeProfile(report: AdapterReport, info: SubgroupInfo = {}, driverThreads?: string): AdapterProfile {
  const name = `${report.architecture} ${report.device} ${report.description}`;
  const software = report.isFallbackAdapter || SOFTWARE.test(name);
  const hasSubgroups = report.features.includes('subgroups');
  const subgroups = { min: hasSubgroups ? (info.subgroupMinSize ?? 0) : 0, max: hasSubgroups ? (info.subgroupMaxSize ?? 0) : 0 };
  const limit = (k: keyof ProfileLimits) => report.limits[k] ?? 0;
  const limits: ProfileLimits = {
    maxStorageBufferBindingSize: limit('maxStorageBufferBindingSize'),
    maxStorageBuffersPerShaderStage: limit('maxStorageBuffersPerShaderStage'),
    maxComputeWorkgroupStorageSize: limit('maxComputeWorkgroupStorageSize'),
    maxComputeInvocationsPerWorkgroup: limit('maxComputeInvocationsPerWorkgroup'),
    maxComputeWorkgroupSizeX: limit('maxComputeWorkgroupSizeX'),
    maxComputeWorkgroupSizeY: limit('maxComputeWorkgroupSizeY'),
    maxComputeWorkgroupsPerDimension: limit('maxComputeWorkgroupsPerDimension'),
  };
  const sharedRowsMatmul = subgroups.min >= SUBGROUP_KERNEL_LANES;
  const subgroupsAttention = sharedRowsMatmul && limits.maxStorageBuffersPerShaderStage >= SUBGROUPS_ATTENTION_STORAGE_BUFFERS;
  const threads = Number(driverThreads);
  return {
    software,
    subgroups,
    limits,
    driverThreads: LAVAPIPE.test(name) && driverThreads !== undefined && Number.isInteger(threads) ? threads : null,
    supports: { sharedRowsMatmul, subgroupsAttention },
    matmul: {
      // Software adapters get barrier-free kernels, the subgroup one where it can run; GPUs tiles
      // staged through workgroup memory.
      variant: !software ? 'tiled' : sharedRowsMatmul ? 'shared-rows' : 'direct',
      // The textbook default: 64 x 64 tiles, 4 x 4 per invocation, 32-deep k slices.
      tiles: { WG_M: 16, WG_N: 16, TM: 4, TN: 4, BK: 32 },
      // 64 x 128 tiles, 8 x 8 per invocation with interleaved column groups, 16-deep slices: more
      // reuse per load, but too few tiles to fill a GPU below about 2048² outputs.
      largeTiles: { WG_M: 8, WG_N: 16, TM: 8, TN: 8, BK: 16, SPLIT_N: true },
      largeTilesFrom: 2048 * 2048,
      directTiles: { WG_M: 4, WG_N: 8, TM: 8, TN: 4, BK: 4 },
      sharedRowsRows: [24, 16, 8],
      sharedRowsLanes: [32, 16, 8],
    },
    rows: {
      threadsPerRow: software ? 1 : 'by-length',
      minThreadsPerRow: 32,
      maxThreadsPerRow: 256,
      valuesPerThread: 4,
      workgroupSize: software ? 64 : 128,
    },
    norm: {
      minGroupRows: software ? 8 : 1,
      backwardWorkgroupSize: software ? 16 : 128,
    },
    attention: {
      path: 'auto',
      subgroupsForSmallHeads: software && subgroupsAttention,
      subgroupsMaxHeadSize: 16,
      subgroupsMinDecodeWorkgroups: 16,
      // A software adapter spends the CPU's memory; a GPU its own, where the path also keeps the
      // probabilities and, in the backward, their gradient (about three times this), and where
      // it beats the fused kernels whenever the scores fit.
      materializedMaxBytes: (software ? 64 : 256) * MIB,
      splitBelowRows: 8,
      splitKeys: 32,
    },
  };
}

/** One line per field, `group.field  value`, for `npm run doctor`. */
export function describeProfile(p: AdapterProfile): string[] {
  const show = (name: string, v: unknown): string => {
    if (typeof v === 'boolean') return v ? 'yes' : 'no';
    if (v === null) return 'none';
    if (Array.isArray(v)) return v.join(', ');
    if (typeof v === 'object') return Object.entries(v as object).map(([k, x]) => `${k} ${show(k, x)}`).join(', ');
    if (typeof v === 'number' && name.endsWith('Bytes') && v >= MIB) return `${v} (${v / MIB} MiB)`;
    return String(v);
  };
  const lines: string[] = [];
  for (const [key, value] of Object.entries(p)) {
    // A group gets a line per field; the subgroup sizes, a pair, one line.
    const grouped = typeof value === 'object' && value !== null && key !== 'subgroups';
    for (const [field, v] of grouped ? Object.entries(value) : [[null, value]]) {
      const name = field ? `${key}.${field}` : key;
      lines.push(`${name.padEnd(40)} ${show(name, v)}`);
    }
  }
  return lines;
}
