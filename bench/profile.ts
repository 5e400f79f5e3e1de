// Where a training step and a greedy-decoding batch spend their time: dispatches, GPU time per
// kernel entry point (timestamp queries where the adapter has them, otherwise the wall time of
// dispatches submitted one by one), and, over steps run back to back, the CPU time of the
// JavaScript thread (recording) and of the others (on a software adapter, the driver's threads,
// which run the kernels; Linux only).
//
//   npm run bench -- profile [--model tiny] [--batch 32] [--source-length 60] [--target-length 60]
//                            [--decode-tokens 40] [--top 12] [--by-label] [--steady-steps 30] [--json]
//
// Profiling puts each dispatch in its own pass (or submit), so the profiled step is slower than
// a real one; the unprofiled step time is printed beside it.

import { availableParallelism } from 'node:os';
import * as E from '../engine/index.ts';
import { PRESET_NAMES, type PresetName } from '../model/config.ts';
import { greedyDecode } from '../model/decode.ts';
import { benchStep } from './lib/step.ts';
import { parseOptions, type OptionSpecs } from '../util/args.ts';
import { cpuByThread, splitCpu } from './lib/threads.ts';

interface Row {
  kernel: string;
  dispatches: number;
  ms: number;
}

function summarize(records: { kernel: string; label: string; ms: number }[], byLabel = false): Row[] {
  const by = new Map<string, Row>();
  for (const rec of records) {
    const r = { ms: rec.ms, kernel: byLabel ? `${rec.kernel} ${rec.label}` : rec.kernel };
    const row = by.get(r.kernel) ?? { kernel: r.kernel, dispatches: 0, ms: 0 };
    row.dispatches += 1;
    row.ms += r.ms;
    by.set(r.kernel, row);
  }
  return [...by.values()].sort((a, b) => b.ms - a.ms);
}

interface SteadyState {
  steps: number;
  stepMs: number;
  /** CPU per step of the JavaScript thread and of all other threads; null without /proc. */
  jsCpuMs: number | null;
  otherCpuMs: number | null;
}

/** `steps` steps recorded back to back and waited for once, as `bench -- train` times them, and
 *  their CPU split by thread. */
async function steadyState(step: () => void, steps: number): Promise<SteadyState> {
  const before = cpuByThread();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  await E.sync();
  const stepMs = (performance.now() - t0) / steps;
  const after = cpuByThread();
  if (!before || !after) return { steps, stepMs, jsCpuMs: null, otherCpuMs: null };
  const { mainMs, otherMs } = splitCpu(before, after, process.pid);
  return { steps, stepMs, jsCpuMs: mainMs / steps, otherCpuMs: otherMs / steps };
}

const OPTIONS = {
  model: { type: 'string', choices: PRESET_NAMES, help: 'model preset (default tiny)' },
  batch: { type: 'int', min: 1, help: 'examples per step (default 32)' },
  'source-length': { type: 'int', min: 2, help: 'source tokens (default 60)' },
  'target-length': { type: 'int', min: 2, help: 'target tokens (default 60)' },
  'decode-tokens': { type: 'int', min: 1, help: 'tokens of the profiled decoding (default 40)' },
  top: { type: 'int', min: 1, help: 'rows of the kernel table (default 12)' },
  'steady-steps': { type: 'int', min: 1, help: 'steps timed back to back (default 30)' },
  json: { type: 'flag', help: 'one JSON object per line' },
  'by-label': { type: 'flag', help: 'one row per kernel and op label (shapes), not per kernel' },
} as const satisfies OptionSpecs;

export async function run(args: string[]): Promise<void> {
  const { values: o } = parseOptions(args, OPTIONS, 'bench profile');
  const preset = (o.model ?? 'tiny') as PresetName;
  const B = o.batch ?? 32;
  const Ls = o['source-length'] ?? 60;
  const Lt = o['target-length'] ?? 60;
  const decodeTokens = o['decode-tokens'] ?? 40;
  const top = o.top ?? 12;
  const steadySteps = o['steady-steps'] ?? 30;
  const json = o.json ?? false;
  const byLabel = o['by-label'] ?? false;
  const e = await E.initEngine();
  const { model, config, step, ids } = benchStep(preset, B, Ls, Lt);
  const sources = Array.from({ length: B }, () => [...ids(Ls - 1), config.eosTokenId]);
  const decode = () => greedyDecode(model, sources, { maxNewTokens: decodeTokens });

  // Warm-up compiles every pipeline, then the unprofiled runs.
  for (let i = 0; i < 2; i++) step();
  await E.sync();
  await decode();
  const steady = await steadyState(step, steadySteps);
  const t1 = performance.now();
  await decode();
  const decodeMs = performance.now() - t1;

  const profiled: Record<string, { method: string; records: E.ProfileRecord[]; wallMs: number }> = {};
  for (const [what, fn] of [['train step', async () => step()], ['greedy decode', decode]] as const) {
    const dispatches = e.counters.dispatches;
    e.startProfile();
    const t = performance.now();
    await fn();
    const result = await e.stopProfile();
    profiled[what] = { method: result.method, records: result.records, wallMs: performance.now() - t };
    if (result.records.length !== e.counters.dispatches - dispatches) throw new Error('profile: dispatch count mismatch');
  }

  const shapes = { model: preset, batch: B, sourceLength: Ls, targetLength: Lt, decodeTokens };
  if (json) {
    for (const [what, p] of Object.entries(profiled)) {
      for (const row of summarize(p.records)) console.log(JSON.stringify({ op: 'profile', what, ...shapes, method: p.method, ...row }));
    }
    console.log(JSON.stringify({ op: 'profile-summary', ...shapes, stepMs: steady.stepMs, steadySteps: steady.steps, jsCpuMs: steady.jsCpuMs, otherCpuMs: steady.otherCpuMs, decodeMs, stepDispatches: profiled['train step'].records.length, decodeDispatches: profiled['greedy decode'].records.length }));
    return;
  }
  console.log(`profile: ${E.describeAdapter(e.adapter)}`);
  console.log(`model ${preset}, batch ${B}, source ${Ls}, target ${Lt}; greedy decoding of ${decodeTokens} tokens`);
  console.log(`train step: ${steady.stepMs.toFixed(1)} ms unprofiled (${steady.steps} steps back to back)`);
  if (steady.jsCpuMs !== null && steady.otherCpuMs !== null) {
    const cores = (steady.jsCpuMs + steady.otherCpuMs) / steady.stepMs;
    console.log(
      `  CPU a step: ${steady.jsCpuMs.toFixed(1)} ms on the JavaScript thread (recording), ${steady.otherCpuMs.toFixed(1)} ms on the others ` +
        `(a software adapter's kernels, V8's helpers); ${cores.toFixed(2)} of ${availableParallelism()} cores busy`,
    );
  }
  console.log(`greedy decode: ${decodeMs.toFixed(1)} ms unprofiled`);
  for (const [what, p] of Object.entries(profiled)) {
    const rows = summarize(p.records, byLabel);
    const gpu = rows.reduce((s, r) => s + r.ms, 0);
    console.log(`\n${what}: ${p.records.length} dispatches, ${gpu.toFixed(1)} ms GPU (${p.method}), ${p.wallMs.toFixed(1)} ms profiled wall`);
    console.log(`  ${'kernel'.padEnd(byLabel ? 90 : 34)} ${'dispatches'.padStart(10)} ${'ms'.padStart(8)} ${'share'.padStart(6)} ${'us each'.padStart(8)}`);
    for (const r of rows.slice(0, top)) {
      const share = ((100 * r.ms) / gpu).toFixed(1) + '%';
      console.log(`  ${r.kernel.padEnd(byLabel ? 90 : 34)} ${String(r.dispatches).padStart(10)} ${r.ms.toFixed(2).padStart(8)} ${share.padStart(6)} ${((1000 * r.ms) / r.dispatches).toFixed(0).padStart(8)}`);
    }
  }
}
