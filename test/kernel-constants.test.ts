// Constants that TypeScript and WGSL must agree on, read from both sides' sources: a mismatch
// would compile and run, computing the wrong op or reading the wrong flag. The elementwise op
// codes are switch cases, checked only here; the attention constants are also checked whenever
// their kernels load (a Kernel's `consts`), which the last test shows catches a mismatch.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BINARY, UNARY } from '../engine/ops/elementwise_opcodes.ts';
import { Kernel } from '../engine/kernel.ts';
import { engine } from '../engine/runtime.ts';
import { setupEngine } from './helpers.ts';

const read = (file: string) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');

/** `case N: { ... } // name` of the `switch OP` in WGSL function `fn`: name -> N. */
function switchCases(source: string, fn: string): Record<string, number> {
  const start = source.indexOf(`fn ${fn}(`);
  if (start < 0) throw new Error(`no fn ${fn}`);
  const body = source.slice(start, source.indexOf('\n}\n', start));
  const cases: Record<string, number> = {};
  for (const m of body.matchAll(/case (\d+)u:.*\/\/ (\w+)/g)) cases[m[2]] = Number(m[1]);
  return cases;
}

/** Integer constants declared `const NAME = N;` (TypeScript, `export` allowed) or
 *  `const NAME: u32 = Nu;` (WGSL). */
function constants(source: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of source.matchAll(/^(?:export )?const (\w+)(?:: u32)? = (\d+)u?;/gm)) out[m[1]] = Number(m[2]);
  return out;
}

describe('elementwise op codes', () => {
  const wgsl = read('kernels/elementwise.wgsl');
  it('unary: every case of the kernel is the op of that name', () => {
    expect(switchCases(wgsl, 'unary')).toEqual(UNARY);
  });
  it('binary: every case of the kernel is the op of that name', () => {
    expect(switchCases(wgsl, 'binary')).toEqual(BINARY);
  });
});

describe('attention constants', () => {
  const ts = constants(read('engine/ops/attention/shared.ts'));
  const fused = constants(read('kernels/attention.wgsl'));
  const rows = constants(read('kernels/attention_rows.wgsl'));
  it('flag bits and the workgroup size are the same in the op and both kernels', () => {
    for (const name of ['BIAS', 'MASK', 'CAUSAL', 'WG']) {
      expect(fused[name], `attention.wgsl ${name}`).toBe(ts[name]);
      expect(rows[name], `attention_rows.wgsl ${name}`).toBe(ts[name]);
    }
    expect(fused.DBIAS, 'attention.wgsl DBIAS').toBe(ts.DBIAS);
    const bits = ['BIAS', 'MASK', 'CAUSAL', 'DBIAS'].map((n) => ts[n]);
    expect(bits.reduce((a, b) => a | b)).toBe(bits.reduce((a, b) => a + b)); // no two flags share a bit
  });
  it('the head size the op accepts fits the kernel rows of MAX_DH4 vec4s', () => {
    expect(ts.MAX_HEAD_SIZE).toBe(4 * fused.MAX_DH4);
  });
});

describe('constants an op declares for its kernel', () => {
  it('are compared with the WGSL when the kernel loads, and a mismatch names the file, the constant and both values', async () => {
    await setupEngine();
    await engine().loadSources(['attention']);
    // The comparison comes before anything else a dispatch does, so no buffers are needed.
    const dispatch = (consts: Record<string, number>) => () =>
      new Kernel('attention', 'forward', { consts }).dispatch({ label: 'test', buffers: {}, workgroups: [1] });
    expect(dispatch({ WG: 64, CAUSAL: 3 })).toThrow('kernels/attention.wgsl: const CAUSAL is 4, but the op that runs it has 3; change both together');
    expect(dispatch({ MAX_DH4: 15 })).toThrow('kernels/attention.wgsl: const MAX_DH4 is 16, but the op that runs it has 15');
    expect(dispatch({ NO_SUCH: 1 })).toThrow('kernels/attention.wgsl declares no numeric const NO_SUCH (the op expects 1)');
  });
});
