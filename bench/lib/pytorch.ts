// Starts bench/pytorch_t5.py as a peer process that runs training steps on request, so that a
// benchmark can alternate between this engine and PyTorch in one run. Absent PyTorch is a note,
// never a failure.

import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface PeerInfo {
  torch: string;
  threads: number;
  params: number;
  device: string;
  blas: string;
}

export interface Peer {
  info: PeerInfo;
  /** Runs n steps; resolves to seconds per step. */
  steps(n: number): Promise<number>;
  close(): void;
}

export interface PeerOptions {
  model: string;
  batch: number;
  sourceLength: number;
  targetLength: number;
  device?: string;
}

function python(): string | null {
  const env = process.env;
  const candidates = [env.PYTORCH_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => Boolean(p));
  for (const p of candidates) {
    if (p.includes('/') && !existsSync(p)) continue;
    if (spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return p;
  }
  return null;
}

/** The running peer, or a one-line reason why there is none. */
export async function startPytorchPeer(o: PeerOptions): Promise<Peer | string> {
  const py = python();
  if (!py) return 'not measured: PyTorch is not installed (Debian: apt-get install python3-torch; or set PYTORCH_PYTHON)';
  const script = fileURLToPath(new URL('../pytorch_t5.py', import.meta.url));
  const env = { ...process.env };
  // Set on some machines for old OpenBLAS builds; they slow a current OpenBLAS down ~1.8x.
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const child = spawn(
    py,
    [script, '--model', o.model, '--batch', String(o.batch), '--source-length', String(o.sourceLength), '--target-length', String(o.targetLength), '--device', o.device ?? 'cpu'],
    { stdio: ['pipe', 'pipe', 'inherit'], env },
  );
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<any> => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`bench/pytorch_t5.py exited (code ${child.exitCode}) before answering`);
    return JSON.parse(value);
  };
  const info = (await next()) as PeerInfo;
  return {
    info,
    async steps(n) {
      child.stdin!.write(`STEPS ${n}\n`);
      return (await next()).seconds;
    },
    close() {
      child.stdin!.end('QUIT\n');
    },
  };
}
