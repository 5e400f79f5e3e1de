// Finds WebGPU in whatever runtime we are in and opens a device with the adapter's real limits.
//
// Node has no built-in WebGPU: there we load Dawn through the npm package `webgpu`. The import
// specifier is kept in a variable so that bundlers building the browser page never try to
// resolve it. Browsers expose `navigator.gpu`. Deno has both: its built-in `navigator.gpu` (wgpu)
// and, through its Node compatibility, the same Dawn package. Deno takes Dawn when it loads
// (`-A`, or `--allow-ffi`, and node_modules installed): wgpu in Deno 2.9 exposes no subgroups,
// and without them the products and attention on a software adapter run markedly slower
// (BENCHMARKS.md). WEBGPU_IMPL=builtin picks Deno's own; WEBGPU_IMPL=dawn insists on Dawn.

export type Runtime = 'node' | 'deno' | 'browser';
/** Which WebGPU implementation the engine talks to. */
export type Implementation = 'dawn' | 'deno-builtin' | 'browser';

export interface AdapterReport {
  runtime: Runtime;
  implementation: Implementation;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
  limits: Record<string, number>;
}

/** Raised when no WebGPU adapter can be had; the message says what to install. */
export class GPUUnavailableError extends Error {
  override name = 'GPUUnavailableError';
}

export function currentRuntime(): Runtime {
  const g = globalThis as any;
  if (typeof g.Deno !== 'undefined') return 'deno';
  if (typeof g.process !== 'undefined' && g.process.versions?.node) return 'node';
  return 'browser';
}

const HOW_TO_INSTALL =
  'Without a GPU, WebGPU needs a software Vulkan driver: Mesa lavapipe 23 or newer ' +
  '(Debian 12: apt-get install -y libvulkan1 && apt-get install -y -t bookworm-backports mesa-vulkan-drivers; ' +
  'or run scripts/setup-webgpu.sh as root). With a GPU, install its vendor Vulkan driver. ' +
  'Check with: npm run doctor';

// A browser that has navigator.gpu but no adapter is refusing, not missing a driver install.
const BROWSER_NO_ADAPTER =
  'The browser has WebGPU but offered no adapter: WebGPU may be switched off, or this GPU, its driver or a ' +
  'software adapter blocklisted (chrome://gpu says which). Chrome and Chromium on Linux: start them with ' +
  '--enable-unsafe-webgpu (and --enable-features=Vulkan where there is a GPU).';

/**
 * Environment for Mesa's software driver, set before the driver loads (in Node before Dawn is
 * imported, in Deno before its first adapter request; a browser loads its own). Only lavapipe
 * reads these, so they are set whatever the adapter turns out to be; a value the user set wins.
 * - XDG_RUNTIME_DIR: Mesa warns on every start when it is unset; any writable directory will do.
 * - LP_NUM_THREADS: the size of lavapipe's thread pool, whose threads are all woken for every
 *   dispatch. On 2 cores the default, one thread per core, measured slower on large products
 *   than 4 or 8, and a short experiment cell measured faster with 4 than with 8 (fewer wake-ups
 *   per dispatch; BENCHMARKS.md). Processes that share the cores with others like them may take
 *   theirs from withDriverThreads.
 */
function prepareSoftwareDriver(runtime: Runtime): void {
  const g = globalThis as any;
  const env: { get(k: string): string | undefined; set(k: string, v: string): void } | null =
    runtime === 'node'
      ? { get: (k) => g.process.env[k], set: (k, v) => (g.process.env[k] = v) }
      : runtime === 'deno'
        ? { get: (k) => g.Deno.env.get(k), set: (k, v) => g.Deno.env.set(k, v) }
        : null;
  if (!env) return;
  for (const [k, v] of [['XDG_RUNTIME_DIR', '/tmp'], ['LP_NUM_THREADS', String(DRIVER_THREADS)]]) {
    try {
      if (env.get(k) === undefined) env.set(k, v);
    } catch {
      // Deno without --allow-env: the driver keeps its defaults.
    }
  }
}

/** lavapipe's thread pool for a process that has the CPU to itself (prepareSoftwareDriver). */
const DRIVER_THREADS = 4;

/**
 * `env` for one of `processes` engine processes that share `cores` CPU cores (the test files
 * vitest runs side by side): with a core or less per process, LP_NUM_THREADS=0, unless `env`
 * sets it. lavapipe then runs each dispatch on its own queue thread, with no pool to wake, and
 * the other processes keep the cores busy while one waits: the test suite and short cells in two
 * processes measured faster that way than with pools of 4. The main job's workers gained nothing
 * (BENCHMARKS.md), so --jobs leaves them their pool;
 * a single process keeps its pool too: alone, a queue thread would leave a core idle.
 */
export function withDriverThreads(env: Record<string, string | undefined>, processes: number, cores: number): Record<string, string | undefined> {
  if (env.LP_NUM_THREADS !== undefined) return env;
  return { ...env, LP_NUM_THREADS: String(processes >= cores ? 0 : DRIVER_THREADS) };
}

async function loadDawn(): Promise<GPU> {
  const specifier = 'webgpu';
  const mod: any = await import(/* @vite-ignore */ specifier);
  Object.assign(globalThis, mod.globals);
  return mod.create([]) as GPU;
}

/** An environment variable of the process, undefined in a browser or where Deno may not read it. */
export function readEnv(runtime: Runtime, key: string): string | undefined {
  const g = globalThis as any;
  try {
    return runtime === 'deno' ? g.Deno.env.get(key) : g.process?.env?.[key];
  } catch {
    return undefined; // Deno without --allow-env
  }
}

async function findGPU(runtime: Runtime): Promise<{ gpu: GPU; implementation: Implementation }> {
  prepareSoftwareDriver(runtime);
  const nav = (globalThis as any).navigator;
  if (runtime === 'deno') {
    const wanted = readEnv(runtime, 'WEBGPU_IMPL');
    if (wanted !== undefined && wanted !== 'dawn' && wanted !== 'builtin') {
      throw new GPUUnavailableError(`WEBGPU_IMPL must be 'dawn' or 'builtin', not '${wanted}'.`);
    }
    if (wanted !== 'builtin') {
      try {
        return { gpu: await loadDawn(), implementation: 'dawn' };
      } catch (e) {
        if (wanted === 'dawn') {
          throw new GPUUnavailableError(
            `WEBGPU_IMPL=dawn, but the npm package 'webgpu' (Dawn) could not be loaded under Deno: ${(e as Error).message}. ` +
              "Run 'npm ci' and give Deno -A (or --allow-ffi --allow-read --allow-env).",
          );
        }
      }
    }
    if (nav?.gpu) return { gpu: nav.gpu as GPU, implementation: 'deno-builtin' };
    throw new GPUUnavailableError(`Deno did not expose navigator.gpu and Dawn could not be loaded. ${HOW_TO_INSTALL}`);
  }
  if (nav?.gpu) return { gpu: nav.gpu as GPU, implementation: 'browser' };
  if (runtime === 'node') {
    try {
      return { gpu: await loadDawn(), implementation: 'dawn' };
    } catch (e) {
      throw new GPUUnavailableError(
        `Node has no built-in WebGPU and the npm package 'webgpu' (Dawn) could not be loaded: ${(e as Error).message}. Run 'npm ci'.`,
      );
    }
  }
  throw new GPUUnavailableError(
    'This browser has no WebGPU (navigator.gpu is missing). Use a recent Chrome, Edge or Safari, ' +
      'or Firefox with WebGPU enabled; on Linux Chrome may need --enable-unsafe-webgpu.',
  );
}

// Limits worth raising to what the adapter really has: the defaults (128 MiB bindings,
// 16 KiB workgroup storage, 256 invocations) are lower than most adapters offer.
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
] as const;

const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

export interface OpenedDevice {
  device: GPUDevice;
  report: AdapterReport;
  /** Held for the device's lifetime: in Dawn for Node, letting the GPU object be garbage
   *  collected destroys the instance under a live device and crashes the process. */
  keepAlive: unknown[];
}

export interface DeviceOptions {
  powerPreference?: GPUPowerPreference;
}

export async function openDevice(options: DeviceOptions = {}): Promise<OpenedDevice> {
  const runtime = currentRuntime();
  const { gpu, implementation } = await findGPU(runtime);
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) throw new GPUUnavailableError(`No WebGPU adapter was found (${runtime}). ${runtime === 'browser' ? BROWSER_NO_ADAPTER : HOW_TO_INSTALL}`);

  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const v = (adapter.limits as any)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });

  const info: any = adapter.info ?? {};
  const limits: Record<string, number> = {};
  for (const k in device.limits) limits[k] = (device.limits as any)[k];
  const report: AdapterReport = {
    runtime,
    implementation,
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    isFallbackAdapter: Boolean(info.isFallbackAdapter ?? (adapter as any).isFallbackAdapter),
    features: [...device.features].sort(),
    limits,
  };
  return { device, report, keepAlive: [gpu, adapter] };
}

/** One line naming the adapter, for logs and result files. */
export function describeAdapter(r: AdapterReport): string {
  const name = r.description || r.device || r.architecture || 'unknown adapter';
  const via = r.runtime === 'deno' ? `deno (${r.implementation === 'dawn' ? 'Dawn' : 'built-in WebGPU'})` : r.runtime;
  return `${r.vendor || '?'} ${name}${r.isFallbackAdapter ? ' (software/fallback)' : ''} via ${via}`;
}
