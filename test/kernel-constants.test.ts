// Constants that TypeScript and WGSL must agree on, read from both sides' sources: a mismatch
// would compile and run, computing the wrong op or reading the wrong flag.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BINARY, UNARY } from '../engine/ops/elementwise_opcodes.ts';

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

/** Integer constants declared `const NAME = N;` (TypeScript) or `const NAME: u32 = Nu;` (WGSL). */
function constants(source: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of source.matchAll(/^const (\w+)(?:: u32)? = (\d+)u?;/gm)) out[m[1]] = Number(m[2]);
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
  const ts = constants(read('engine/ops/attention.ts'));
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
