import { initEngine, tensor, tidy } from './engine/index.ts';
import { matmul } from './engine/ops/matmul.ts';
await initEngine({ poison: true });
function ref(a: Float32Array, b: Float32Array, M: number, N: number, K: number, ta: boolean, tb: boolean) {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) { let s = 0; for (let k = 0; k < K; k++) s += a[ta ? k * M + i : i * K + k] * b[tb ? j * K + k : k * N + j]; c[i * N + j] = s; }
  return c;
}
for (const variant of ['shared-rows', 'direct', 'tiled'] as const)
for (const [M, N, K] of [[1, 1, 1], [7, 13, 29], [65, 33, 17], [16, 16, 16], [33, 257, 5], [64, 64, 64]])
for (const ta of [false, true]) for (const tb of [false, true]) {
  const a = Float32Array.from({ length: M * K }, () => Math.random() - 0.5);
  const b = Float32Array.from({ length: K * N }, () => Math.random() - 0.5);
  const c = await tidy(() => matmul(tensor(a, ta ? [K, M] : [M, K]), tensor(b, tb ? [N, K] : [K, N]), { transA: ta, transB: tb, variant })).toArray();
  const r = ref(a, b, M, N, K, ta, tb);
  let err = 0; for (let i = 0; i < r.length; i++) err = Math.max(err, Math.abs(r[i] - c[i]));
  if (!(err < 1e-4)) console.log('BAD', variant, M, N, K, ta, tb, err);
}
console.log('done');
process.exit(0);
