import { initEngine, Tensor, randu, describeAdapter } from './engine/index.ts';
import { Kernel } from './engine/kernel.ts';
import { padTo8 } from './engine/shape.ts';

for (const n of ['sg2']) new Kernel('mmexp', n);
const e = await initEngine();
console.log(describeAdapter(e.adapter), 'LP_NUM_THREADS', process.env.LP_NUM_THREADS);
const kernels = new Map<string, Kernel>();
const arg = (t: Tensor) => ({ buffer: t.arg().buffer, size: Math.ceil(t.size / 4) * 16 });
const [M, N, K] = (process.env.SIZE ?? '1024,1024,1024').split(',').map(Number);
const configs = JSON.parse(process.env.CONFIGS ?? '[{}]');
const A = randu([M, K], { seed: 1 });
const B = randu([K, N], { seed: 2 });
const AT = randu([K, M], { seed: 1 });
const BT = randu([N, K], { seed: 2 });
const C = Tensor.empty([M, N]);
const a = await A.toArray(), b = await B.toArray();
const runs = configs.map((c0: any) => {
  const c = { ...c0 };
  const entry = c.entry ?? 'sg2'; delete c.entry;
  const ta = !!c.ta, tb = !!c.tb; delete c.ta; delete c.tb;
  const gx = c.GX ?? 1, gy = c.GY ?? 1; delete c.GX; delete c.GY;
  if (!kernels.has(entry)) kernels.set(entry, new Kernel('mmexp', entry));
  const k = kernels.get(entry)!;
  const d = () => k.dispatch({ label: 'mm', buffers: { a: arg(ta ? AT : A), b: arg(tb ? BT : B), c: C.arg() },
    params: { m: M, n: N, k: K, batch_rank: 0, batch_shape: padTo8([]), batch_stride_a: padTo8([]), batch_stride_b: padTo8([]) },
    constants: { ...c }, workgroups: [Math.ceil(N / gx), Math.ceil(M / gy), 1] });
  return { c0, d, best: Infinity, cpu: Infinity };
});
await e.sync();
for (const r of runs) {
  r.d(); const cc = await C.toArray();
  let err = 0;
  if (!r.c0.ta && !r.c0.tb) for (const [i, j] of [[0, 0], [M - 1, N - 1], [7, 5]]) {
    let s = 0; for (let q = 0; q < K; q++) s += a[i * K + q] * b[q * N + j];
    err = Math.max(err, Math.abs(s - cc[i * N + j]) / Math.sqrt(K));
  }
  if (err > 1e-5) console.log('WRONG', JSON.stringify(r.c0), err);
}
const reps = Number(process.env.REPS ?? 3);
for (let round = 0; round < Number(process.env.ROUNDS ?? 4); round++) {
  for (const r of runs) {
    const t0 = performance.now(); const u0 = process.cpuUsage();
    for (let i = 0; i < reps; i++) r.d();
    await e.sync();
    const u = process.cpuUsage(u0);
    r.best = Math.min(r.best, (performance.now() - t0) / reps);
    r.cpu = Math.min(r.cpu, (u.user + u.system) / 1000 / reps);
  }
}
for (const r of runs) console.log(JSON.stringify(r.c0), 'ms', r.best.toFixed(1), 'GFLOP/s', (2 * M * N * K / r.best / 1e6).toFixed(2), 'cpu-ms', r.cpu.toFixed(1), 'GFLOP/cpu-s', (2 * M * N * K / r.cpu / 1e6).toFixed(2));
process.exit(0);
