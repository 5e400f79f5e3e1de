import { initEngine, randu, tidy } from './engine/index.ts';
import { matmul } from './engine/ops/matmul.ts';
const e = await initEngine();
const [M, N, K] = (process.env.SIZE ?? '1024,1024,1024').split(',').map(Number);
const ta = !!process.env.TA, tb = !!process.env.TB;
const A = randu(ta ? [K, M] : [M, K], { seed: 1 }), B = randu(tb ? [N, K] : [K, N], { seed: 2 });
const cfgs = JSON.parse(process.env.CONFIGS!);
const runs = cfgs.map((c: any) => ({ c, best: Infinity, cpu: Infinity }));
for (let round = 0; round < Number(process.env.ROUNDS ?? 4); round++) for (const r of runs) {
  (globalThis as any).__mm = r.c.k ? r.c : null;
  const run = () => tidy(() => matmul(A, B, { transA: ta, transB: tb, variant: r.c.variant }));
  const reps = Number(process.env.REPS ?? 3);
  run().dispose(); await e.sync();
  const t0 = performance.now(); const u0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) run().dispose();
  await e.sync();
  const u = process.cpuUsage(u0);
  r.best = Math.min(r.best, (performance.now() - t0) / reps);
  r.cpu = Math.min(r.cpu, (u.user + u.system) / 1000 / reps);
}
for (const r of runs) console.log(JSON.stringify(r.c), 'ms', r.best.toFixed(1), 'GFLOP/s', (2 * M * N * K / r.best / 1e6).toFixed(2), 'GFLOP/cpu-s', (2 * M * N * K / r.cpu / 1e6).toFixed(2));
process.exit(0);
