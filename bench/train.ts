// One training step (forward, backward, fused AdamW) of the T5 model at the given presets, on
// random tokens: batch 8, source and target length 128 by default. Prints tokens/s (source plus
// target tokens) and the step time; `--json` prints one JSON object per line.
//
//   npm run bench -- train [--presets s,t5-small] [--batch 8] [--length 128] [--iters 3] [--json]

import * as E from '../engine/index.ts';
import { Rng } from '../engine/random.ts';
import { countParameters, withVocab, type PresetName } from '../model/config.ts';
import { T5 } from '../model/t5.ts';
import { AdamW } from '../training/adamw.ts';
import { option } from './lib/args.ts';

export async function run(args: string[]): Promise<void> {
  const presets = (option(args, '--presets') ?? 's,t5-small').split(',') as PresetName[];
  const B = Number(option(args, '--batch') ?? '8');
  const L = Number(option(args, '--length') ?? '128');
  const iters = Number(option(args, '--iters') ?? '3');
  const json = args.includes('--json');
  const e = await E.initEngine();
  if (!json) console.log(`training step, ${E.describeAdapter(e.adapter)}, batch ${B}, source and target length ${L}`);
  for (const preset of presets) {
    const config = { ...withVocab(preset, preset === 't5-small' ? undefined : 64), dropoutRate: 0.1 };
    const model = T5.init(config, 1);
    const opt = new AdamW(model.parameters(), { weightDecay: 0.01, maxGradNorm: 1 });
    const rng = new Rng(2);
    const ids = () => Int32Array.from({ length: B * L }, () => rng.nextInt(3, config.vocabSize - 1));
    const step = () => {
      E.tidy(() => {
        const batch = {
          inputIds: E.tensor(ids(), [B, L], 'i32'),
          attentionMask: E.ones([B, L]),
          decoderInputIds: E.tensor(ids(), [B, L], 'i32'),
          labels: E.tensor(ids(), [B, L], 'i32'),
        };
        E.backward(model.loss(batch, { training: true, rng }));
      });
      opt.step(1e-4);
      opt.zeroGrad();
    };
    step(); // compiles the pipelines
    await E.sync();
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) step();
    await E.sync();
    const seconds = (performance.now() - t0) / 1000 / iters;
    const tokensPerSecond = (2 * B * L) / seconds;
    const params = countParameters(config);
    if (json) console.log(JSON.stringify({ op: 'train-step', model: preset, params, batch: B, length: L, engine: 'this', seconds, tokensPerSecond }));
    else console.log(`${preset.padEnd(9)} ${(params / 1e6).toFixed(1).padStart(5)}M params  ${(seconds * 1000).toFixed(0).padStart(7)} ms/step  ${tokensPerSecond.toFixed(0).padStart(7)} tokens/s`);
    opt.dispose();
    model.dispose();
  }
}
