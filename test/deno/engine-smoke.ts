// Runs under Deno, on Dawn (the default) or Deno's built-in WebGPU (WEBGPU_IMPL=builtin): a few ops
// forward and backward, printed as JSON for test/engine/deno.test.ts to compare with a CPU
// reference.
import * as E from '../../engine/index.ts';

const engine = await E.initEngine({ poison: true });
const x = E.param(E.tensor([[0.5, -1, 2], [1.5, 0.25, -0.75]]));
const w = E.param(E.tensor([0.3, -0.2, 0.1]));
const loss = E.tidy(() => {
  const y = E.tanh(E.mul(x, w)); // [2,3], w broadcast over rows
  const l = E.mean(E.mul(y, y));
  E.backward(l);
  return l;
});
console.log(
  JSON.stringify({
    runtime: engine.adapter.runtime,
    implementation: engine.adapter.implementation,
    adapter: E.describeAdapter(engine.adapter),
    loss: await loss.item(),
    gradX: Array.from(await x.grad!.toArray()),
    gradW: Array.from(await w.grad!.toArray()),
    sumAxis0: Array.from(await E.tidy(() => E.sum(x, 0)).toArray()),
    // x [2,3] · xᵀ: on the built-in WebGPU (no subgroups) the direct kernel, on Dawn the shared-rows one
    gram: Array.from(await E.tidy(() => E.matmul(x, x, { transB: true })).toArray()),
  }),
);
// Dawn's threads keep Deno alive otherwise.
(globalThis as any).Deno.exit(0);
