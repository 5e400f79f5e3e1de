// The training step the benchmarks time: a T5 preset without dropout (the experiments' quick
// presets train without it), random tokens, forward, backward, clipping and AdamW, as
// bench/pytorch_t5.py does it on the PyTorch side.

import * as E from '../../engine/index.ts';
import { withVocab, type PresetName } from '../../model/config.ts';
import { T5 } from '../../model/t5.ts';
import { AdamW } from '../../training/adamw.ts';

export interface BenchStep {
  model: T5;
  config: T5['config'];
  /** Records one step (nothing waits for the GPU). */
  step(): void;
  /** Random token ids of the vocabulary (not the special ones). */
  ids(n: number): Int32Array;
  dispose(): void;
}

/** Task vocabularies are about 64 tokens; t5-small keeps its own. */
export function benchStep(preset: PresetName, B: number, Ls: number, Lt: number): BenchStep {
  const config = { ...withVocab(preset, preset === 't5-small' ? undefined : 64), dropoutRate: 0 };
  const model = T5.init(config, 1);
  const opt = new AdamW(model.parameters(), { weightDecay: 0.01, maxGradNorm: 1 });
  const rng = new E.Rng(2);
  const ids = (n: number) => Int32Array.from({ length: n }, () => rng.nextInt(3, config.vocabSize - 1));
  return {
    model,
    config,
    ids,
    step() {
      E.tidy(() => {
        const batch = {
          inputIds: E.tensor(ids(B * Ls), [B, Ls], 'i32'),
          attentionMask: E.ones([B, Ls]),
          decoderInputIds: E.tensor(ids(B * Lt), [B, Lt], 'i32'),
          labels: E.tensor(ids(B * Lt), [B, Lt], 'i32'),
        };
        E.backward(model.loss(batch, { training: true, rng }));
      });
      opt.step(1e-4);
      opt.zeroGrad();
    },
    dispose() {
      opt.dispose();
      model.dispose();
    },
  };
}
