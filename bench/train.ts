// One training step (forward, backward, clipping and the fused AdamW step) of the T5 model on
// random tokens, next to the same step in PyTorch on the CPU (bench/pytorch_t5.py) when Debian's
// python3-torch is installed. The two take turns, round by round, so both see the same load;
// the ratio is PyTorch's time over ours (above 1: this engine is faster). tokens/s counts source
// plus target tokens. Dropout is off on both sides (the experiments' quick presets train without it).
//
//   npm run bench -- train [--presets tiny,xs] [--batch 32] [--source-length 60]
//                          [--target-length 60] [--iters 5] [--rounds 3] [--no-peer]
//                          [--peer-device cpu|cuda] [--json]
//
// `--length L` sets both lengths. The peer uses as many threads as the machine has cores
// (PYTORCH_PYTHON picks its interpreter; default /usr/bin/python3, where Debian installs torch);
// `--peer-device cuda` runs it on the GPU instead (float32), next to this engine on a real GPU.

import * as E from '../engine/index.ts';
import { countParameters, PRESET_NAMES, type PresetName } from '../model/config.ts';
import { parseOptions, type OptionSpecs } from '../util/args.ts';
import { startPytorchPeer, type Peer } from './lib/pytorch.ts';
import { benchStep } from './lib/step.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export const TRAIN_OPTIONS = {
  presets: { type: 'string', help: 'model presets, comma-separated (default tiny,xs)' },
  batch: { type: 'int', min: 1, help: 'examples per step (default 32)' },
  length: { type: 'int', min: 2, help: 'source and target tokens (default 60)' },
  'source-length': { type: 'int', min: 2, help: 'source tokens (default --length)' },
  'target-length': { type: 'int', min: 2, help: 'target tokens (default --length)' },
  iters: { type: 'int', min: 1, help: 'steps per round (default 5)' },
  rounds: { type: 'int', min: 1, help: 'rounds, each side in turn (default 3)' },
  'no-peer': { type: 'flag', help: 'this engine only' },
  'peer-device': { type: 'string', choices: ['cpu', 'cuda'], help: "PyTorch's device (default cpu)" },
  json: { type: 'flag', help: 'one JSON object per line' },
} as const satisfies OptionSpecs;

export async function run(args: string[]): Promise<void> {
  const { values: o } = parseOptions(args, TRAIN_OPTIONS, 'bench train');
  const presets = (o.presets ?? 'tiny,xs').split(',') as PresetName[];
  const unknown = presets.find((p) => !PRESET_NAMES.includes(p));
  if (unknown !== undefined) throw new Error(`--presets: unknown model preset "${unknown}"; valid presets: ${PRESET_NAMES.join(', ')}`);
  const B = o.batch ?? 32;
  const length = o.length ?? 60;
  const Ls = o['source-length'] ?? length;
  const Lt = o['target-length'] ?? length;
  const iters = o.iters ?? 5;
  const rounds = o.rounds ?? 3;
  const json = o.json ?? false;
  const peerDevice = o['peer-device'] ?? 'cpu';
  const peerName = `pytorch-${peerDevice}`;
  const e = await E.initEngine();
  const say = (line: string) => json || console.log(line);
  say(`training step, ${E.describeAdapter(e.adapter)}, batch ${B}, source ${Ls} and target ${Lt} tokens, median of ${rounds} rounds of ${iters} steps`);
  for (const preset of presets) {
    const bench = benchStep(preset, B, Ls, Lt);
    const { config, step } = bench;
    let peer: Peer | string = o['no-peer']
      ? 'no peer (--no-peer)'
      : await startPytorchPeer({ model: preset, batch: B, sourceLength: Ls, targetLength: Lt, device: peerDevice }).catch((err: Error) => `failed to start: ${err.message}`);
    if (typeof peer === 'string') say(`  ${peerName}: ${peer}`);
    else say(`  ${peerName}: torch ${peer.info.torch} on ${peer.info.device}, ${peer.info.threads} threads, BLAS ${peer.info.blas}`);
    // Two untimed steps compile the pipelines (lavapipe compiles some on first use).
    for (let i = 0; i < 2; i++) step();
    await E.sync();
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) step();
      await E.sync();
      ours.push((performance.now() - t0) / 1000 / iters);
      if (typeof peer !== 'string') {
        // A peer that fails mid-run costs its figures, not ours.
        const p: Peer = peer;
        theirs.push(await p.steps(iters).catch((err: Error) => ((peer = `failed: ${err.message}`), NaN)));
      }
    }
    if (typeof peer !== 'string') peer.close();
    else if (theirs.length) say(`  ${peerName}: ${peer}`);
    const peerOk = theirs.length > 0 && theirs.every(Number.isFinite);
    const params = countParameters(config);
    const tokens = B * (Ls + Lt);
    const rows = [{ engine: 'this', seconds: median(ours) }, ...(peerOk ? [{ engine: peerName, seconds: median(theirs) }] : [])];
    const ratio = peerOk ? median(theirs) / median(ours) : null;
    for (const r of rows) {
      if (json) {
        console.log(JSON.stringify({ op: 'train-step', model: preset, params, batch: B, sourceLength: Ls, targetLength: Lt, engine: r.engine, seconds: r.seconds, tokensPerSecond: tokens / r.seconds, rounds: r.engine === 'this' ? ours : theirs, ...(r.engine === 'this' && ratio !== null ? { ratio } : {}) }));
      } else {
        say(`${preset.padEnd(9)} ${(params / 1e6).toFixed(2).padStart(6)}M params  ${r.engine.padEnd(12)} ${(r.seconds * 1000).toFixed(1).padStart(8)} ms/step  ${(tokens / r.seconds).toFixed(0).padStart(7)} tokens/s`);
      }
    }
    if (ratio !== null) say(`${preset.padEnd(9)} ratio (${peerName} time / this engine's): ${ratio.toFixed(2)}x`);
    bench.dispose();
  }
}
