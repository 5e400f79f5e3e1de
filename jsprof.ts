import * as E from './engine/index.ts';
import { Rng } from './engine/random.ts';
import { withVocab } from './model/config.ts';
import { T5 } from './model/t5.ts';
import { AdamW } from './training/adamw.ts';
await E.initEngine();
const config = { ...withVocab('tiny', 64), dropoutRate: 0 };
const model = T5.init(config, 1);
const opt = new AdamW(model.parameters(), { weightDecay: 0.01, maxGradNorm: 1 });
const rng = new Rng(2);
const B = 32, L = 60;
const ids = (n: number) => Int32Array.from({ length: n }, () => rng.nextInt(3, config.vocabSize - 1));
const step = () => {
  E.tidy(() => {
    const batch = { inputIds: E.tensor(ids(B * L), [B, L], 'i32'), attentionMask: E.ones([B, L]), decoderInputIds: E.tensor(ids(B * L), [B, L], 'i32'), labels: E.tensor(ids(B * L), [B, L], 'i32') };
    E.backward(model.loss(batch, { training: true, rng }));
  });
  opt.step(1e-4); opt.zeroGrad();
};
for (let i = 0; i < 3; i++) step();
await E.sync();
const e = E.engine();
const c0 = { ...e.counters };
let rec = 0;
const t0 = performance.now();
for (let i = 0; i < 20; i++) { const t = performance.now(); step(); rec += performance.now() - t; if (i % 2) await E.sync(); }
await E.sync();
console.log('ms/step', (performance.now() - t0) / 20, 'record ms/step', rec / 20, 'hits', e.counters.bindGroupHits - c0.bindGroupHits, 'misses', e.counters.bindGroupMisses - c0.bindGroupMisses, 'dispatches/step', (e.counters.dispatches - c0.dispatches) / 20);
process.exit(0);
