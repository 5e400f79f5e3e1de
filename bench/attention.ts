// Micro-benchmark: the attention op (engine/ops/attention/) on each of its paths against the
// unfused composition of the same math (attentionUnfused: matmul, softmax, matmul, which materializes
// the scores), forward and forward + backward, set up as T5's encoder uses it: a
// relative-position bias [H, L, L] shared by the batch and trained, and a key padding mask.
// Prints milliseconds per iteration.
//
//   npm run bench -- attention [--iters N] [--sizes B,H,L,Dh/B,H,L,Dh...] [--causal] [--json]
//
// --json also prints one object per row: {"op":"attention","B":..,"H":..,"L":..,"Dh":..,"impl":..,"forwardMs":..,"bothMs":..}

import * as E from '../engine/index.ts';
import { attention, attentionUnfused, type AttentionOptions, type AttentionPath } from '../engine/ops/attention/index.ts';
import { parseNumber, parseOptions, type OptionSpecs } from '../util/args.ts';

type Op = (q: E.Tensor, k: E.Tensor, v: E.Tensor, opts: AttentionOptions) => E.Tensor;

/** Milliseconds per iteration of `step`, after untimed calls that compile the pipelines (lavapipe
 *  finishes compiling on first use, so one call is not always enough). */
async function time(iters: number, step: () => void): Promise<number> {
  for (let i = 0; i < 2; i++) step();
  await E.sync();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) step();
  await E.sync();
  return (performance.now() - t0) / iters;
}

const OPTIONS = {
  iters: { type: 'int', min: 1, help: 'calls timed per size (default 5)' },
  sizes: { type: 'string', help: 'B,H,L,Dh sizes separated by / (default 8,8,128,64/8,4,64,32)' },
  causal: { type: 'flag', help: 'a causal mask' },
  json: { type: 'flag', help: 'one JSON object per line' },
} as const satisfies OptionSpecs;

export async function run(args: string[]): Promise<void> {
  const { values: o } = parseOptions(args, OPTIONS, 'bench attention');
  const iters = o.iters ?? 5;
  const sizes = (o.sizes ?? '8,8,128,64/8,4,64,32').split('/').map((s) => s.split(',').map((x) => parseNumber('--sizes', x, { type: 'int', min: 1 })));
  const causal = o.causal ?? false;
  const json = o.json ?? false;
  const e = await E.initEngine();
  console.log(`attention, ${E.describeAdapter(e.adapter)}, ${iters} iterations${causal ? ', causal' : ''}`);
  console.log('B  H   L    Dh  op                forward ms  fwd+bwd ms');
  for (const [B, H, L, Dh] of sizes) {
    const q = E.param(E.randn([B, H, L, Dh], { seed: 1 }));
    const k = E.param(E.randn([B, H, L, Dh], { seed: 2 }));
    const v = E.param(E.randn([B, H, L, Dh], { seed: 3 }));
    const bias = E.param(E.randn([H, L, L], { seed: 4 }));
    // Every other sequence has its last quarter padded.
    const mask = E.tensor(Float32Array.from({ length: B * L }, (_, n) => (Math.floor(n / L) % 2 === 1 && n % L >= (3 * L) / 4 ? 0 : 1)), [B, L]);
    const dout = E.randn([B, H, L, Dh], { seed: 5 });
    const opts: AttentionOptions = { bias, keyPaddingMask: mask, causal };
    // Each path forced in turn through the adapter profile (the adapter's choice is one of them),
    // then the unfused baseline. The backward runs on the path its forward took.
    const path = (p: AttentionPath): Op => (q, k, v, o) => E.withAdapterProfile({ attention: { path: p } }, () => attention(q, k, v, o));
    const ops: [string, Op][] = [
      ['fused', path('fused')],
      ['subgroups', path('subgroups')],
      ['materialized', path('materialized')],
      ['unfused', attentionUnfused],
    ];
    for (const [name, op] of ops) {
      if (name === 'subgroups' && !e.adapterProfile.supports.subgroupsAttention) {
        console.log(`${name}: not on this adapter (it needs subgroups of 8 or more lanes)`);
        continue;
      }
      const forward = await time(iters, () => E.noGrad(() => E.tidy(() => void op(q, k, v, opts))));
      const both = await time(iters, () => {
        E.tidy(() => E.backward(op(q, k, v, opts), dout));
        for (const t of [q, k, v, bias]) {
          t.grad?.dispose();
          t.grad = null;
        }
      });
      const row = [B, H, L, Dh].map((n, i) => String(n).padEnd([3, 4, 5, 4][i])).join('');
      console.log(`${row}${name.padEnd(14)}${forward.toFixed(1).padStart(10)}${both.toFixed(1).padStart(12)}`);
      if (json) console.log(JSON.stringify({ op: 'attention', B, H, L, Dh, causal, impl: name, forwardMs: Number(forward.toFixed(3)), bothMs: Number(both.toFixed(3)) }));
    }
    E.dispose([q, k, v, bias, mask, dout]);
  }
}
