// The adapter profile (engine/profile.ts): the choices it makes for each kind of adapter, the
// overrides it takes and refuses, withAdapterProfile's scope, what doctor prints, and that the
// ops follow it.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import * as E from '../../engine/index.ts';
import type { AdapterReport } from '../../engine/device.ts';
import { Kernel } from '../../engine/kernel.ts';
import { computeProfile, describeProfile, type AdapterProfile } from '../../engine/profile.ts';
import { overrideProfile, parseOverrides } from '../../engine/profile_overrides.ts';
import { setupEngine } from '../helpers.ts';

beforeAll(setupEngine);

const LIMITS = { maxStorageBufferBindingSize: 2 ** 30, maxStorageBuffersPerShaderStage: 16, maxComputeInvocationsPerWorkgroup: 256 };
const adapter = (description: string, features: string[], limits: Record<string, number> = LIMITS): AdapterReport => ({
  runtime: 'node',
  implementation: 'dawn',
  vendor: '',
  architecture: '',
  device: '',
  description,
  isFallbackAdapter: false,
  features,
  limits,
});
const GPU = computeProfile(adapter('NVIDIA H100', ['subgroups']), { subgroupMinSize: 32, subgroupMaxSize: 32 });
const LAVAPIPE = computeProfile(adapter('llvmpipe (LLVM 15)', ['subgroups']), { subgroupMinSize: 8, subgroupMaxSize: 8 }, '4');
const NO_SUBGROUPS = computeProfile(adapter('llvmpipe (LLVM 15)', []), {}, '4');

describe('the choices for each kind of adapter', () => {
  it('a GPU: staged tiles, cooperative rows, the scores materialized where they fit', () => {
    expect(GPU.software).toBe(false);
    expect(GPU.subgroups).toEqual({ min: 32, max: 32 });
    expect(GPU.driverThreads).toBeNull();
    expect(GPU.matmul.variant).toBe('tiled');
    expect(GPU.rows).toMatchObject({ threadsPerRow: 'by-length', workgroupSize: 128 });
    expect(GPU.norm).toEqual({ minGroupRows: 1, backwardWorkgroupSize: 128 });
    expect(GPU.attention).toMatchObject({ path: 'auto', subgroupsForSmallHeads: false, materializedMaxBytes: 256 * 2 ** 20 });
  });

  it('a software adapter with subgroups: the subgroup kernels, one lane per row', () => {
    expect(LAVAPIPE.software).toBe(true);
    expect(LAVAPIPE.driverThreads).toBe(4);
    expect(LAVAPIPE.supports).toEqual({ sharedRowsMatmul: true, subgroupsAttention: true });
    expect(LAVAPIPE.matmul.variant).toBe('shared-rows');
    expect(LAVAPIPE.rows).toMatchObject({ threadsPerRow: 1, workgroupSize: 64 });
    expect(LAVAPIPE.norm).toEqual({ minGroupRows: 8, backwardWorkgroupSize: 16 });
    expect(LAVAPIPE.attention).toMatchObject({ subgroupsForSmallHeads: true, materializedMaxBytes: 64 * 2 ** 20 });
  });

  it('a software adapter without subgroups: direct register blocks, no subgroups path', () => {
    expect(NO_SUBGROUPS.subgroups).toEqual({ min: 0, max: 0 });
    expect(NO_SUBGROUPS.supports).toEqual({ sharedRowsMatmul: false, subgroupsAttention: false });
    expect(NO_SUBGROUPS.matmul.variant).toBe('direct');
    expect(NO_SUBGROUPS.attention.subgroupsForSmallHeads).toBe(false);
  });

  it('knows software adapters by name or by the fallback flag, and what the subgroup kernels need', () => {
    expect(computeProfile(adapter('SwiftShader Device (Subzero)', [])).software).toBe(true);
    expect(computeProfile({ ...adapter('', []), isFallbackAdapter: true }).software).toBe(true);
    // subgroups narrower than the kernels' 8 lanes, or too few storage buffers for backward_q
    const narrow = computeProfile(adapter('llvmpipe', ['subgroups']), { subgroupMinSize: 4, subgroupMaxSize: 8 });
    expect(narrow.supports).toEqual({ sharedRowsMatmul: false, subgroupsAttention: false });
    const fewBuffers = computeProfile(adapter('llvmpipe', ['subgroups'], { ...LIMITS, maxStorageBuffersPerShaderStage: 8 }), { subgroupMinSize: 8, subgroupMaxSize: 8 });
    expect(fewBuffers.supports).toEqual({ sharedRowsMatmul: true, subgroupsAttention: false });
    expect(fewBuffers.attention.subgroupsForSmallHeads).toBe(false);
  });

  it('the engine started with its own adapter\'s profile', () => {
    const e = E.engine();
    if (process.env.WEBGPU_ADAPTER_PROFILE) return;
    expect(e.adapterProfile).toEqual(computeProfile(e.adapter, e.device.adapterInfo, process.env.LP_NUM_THREADS));
  });
});

describe('overrides', () => {
  it('replace the fields they name and keep the rest', () => {
    const p = overrideProfile(LAVAPIPE, { attention: { path: 'fused' }, rows: { threadsPerRow: 8 } });
    expect(p.attention).toEqual({ ...LAVAPIPE.attention, path: 'fused' });
    expect(p.rows).toEqual({ ...LAVAPIPE.rows, threadsPerRow: 8 });
    expect(p.matmul).toBe(LAVAPIPE.matmul);
    expect(LAVAPIPE.attention.path).toBe('auto');
  });

  it('refuse what is not a choice, names the profile lacks, and values of the wrong kind', () => {
    const refused = (o: unknown) => () => overrideProfile(LAVAPIPE, o as E.ProfileOverrides);
    expect(refused({ software: false })).toThrow("adapter profile: 'software' is a fact about the adapter, not a choice");
    expect(refused({ supports: { sharedRowsMatmul: true } })).toThrow('is a fact about the adapter');
    expect(refused({ softmax: {} })).toThrow("'softmax' is not in the profile (its choices: matmul, rows, norm, attention)");
    expect(refused({ attention: { pth: 'fused' } })).toThrow('adapter profile: attention.pth is not in the profile (attention has path,');
    expect(refused({ attention: { path: 'flash' } })).toThrow('attention.path must be one of auto, fused, subgroups, materialized, not "flash"');
    expect(refused({ matmul: { variant: 'fast' } })).toThrow('matmul.variant must be one of shared-rows, direct, tiled');
    expect(refused({ matmul: { tiles: { TM: 8 } } })).toThrow('matmul.tiles must be tiles of integers WG_M, WG_N, TM, TN, BK');
    expect(refused({ matmul: { sharedRowsRows: [] } })).toThrow('must be a list of positive integers');
    expect(refused({ attention: { splitKeys: '32' } })).toThrow('attention.splitKeys: "32" is not of the type of 32');
    expect(refused({ attention: { materializedMaxBytes: -1 } })).toThrow('must be a finite number, 0 or more');
    expect(refused({ rows: { threadsPerRow: 3 } })).toThrow("rows.threadsPerRow must be 'by-length' or a power of two from 1 to 256, not 3");
  });

  it('come as JSON from WEBGPU_ADAPTER_PROFILE', () => {
    expect(parseOverrides('{"attention":{"path":"fused"}}')).toEqual({ attention: { path: 'fused' } });
    expect(() => parseOverrides('{attention')).toThrow(/^not JSON/);
    expect(() => parseOverrides('[1]')).toThrow('want a JSON object of groups');
  });
});

describe('withAdapterProfile', () => {
  const path = () => E.engine().adapterProfile.attention.path;

  it('holds for fn, nested ones over it, and is put back after a return, a throw or a promise', async () => {
    const result = E.withAdapterProfile({ attention: { path: 'fused' } }, () => {
      expect(path()).toBe('fused');
      E.withAdapterProfile({ rows: { threadsPerRow: 4 } }, () => {
        expect(path()).toBe('fused');
        expect(E.engine().adapterProfile.rows.threadsPerRow).toBe(4);
      });
      return 7;
    });
    expect(result).toBe(7);
    expect(path()).toBe('auto');
    expect(() => E.withAdapterProfile({ attention: { path: 'fused' } }, () => {
      throw new Error('inside');
    })).toThrow('inside');
    expect(path()).toBe('auto');
    const pending = E.withAdapterProfile({ attention: { path: 'materialized' } }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      return path();
    });
    expect(await pending).toBe('materialized');
    expect(path()).toBe('auto');
    await expect(E.withAdapterProfile({ attention: { path: 'fused' } }, async () => Promise.reject(new Error('later')))).rejects.toThrow('later');
    expect(path()).toBe('auto');
  });

  it('the ops read it: attention routes by its thresholds, the row kernels take its workgroups', () => {
    const spy = vi.spyOn(Kernel.prototype, 'dispatch');
    const x = E.randn([2, 2, 9, 8], { seed: 1 });
    const routed = (o: E.ProfileOverrides) => {
      spy.mockClear();
      E.tidy(() => E.withAdapterProfile(o, () => E.attention(x, x, x)));
      return spy.mock.calls.map(([a]) => a.label).find((l) => l.startsWith('attention'))!;
    };
    expect(routed({ attention: { path: 'materialized' } })).toMatch(/^attention \(materialized\)/);
    expect(routed({ attention: { path: 'fused' } })).toMatch(/^attention q/);
    if (E.engine().adapterProfile.supports.subgroupsAttention) expect(routed({ attention: { path: 'subgroups' } })).toMatch(/^attention \(subgroups\)/);
    expect(routed({ attention: { subgroupsForSmallHeads: false } })).toMatch(/^attention \(materialized\)/);
    expect(routed({ attention: { subgroupsForSmallHeads: false, materializedMaxBytes: 0 } })).toMatch(/^attention q/);
    // nine query rows are a decode step when splitBelowRows is above them: the split path
    expect(routed({ attention: { subgroupsForSmallHeads: false, splitBelowRows: 16, splitKeys: 4 } })).toMatch(/^attention q.*\(3 key chunks\)/);
    spy.mockClear();
    E.tidy(() => E.withAdapterProfile({ rows: { threadsPerRow: 2, workgroupSize: 32 } }, () => E.softmax(x)));
    expect(spy.mock.calls[spy.mock.calls.length - 1][0].constants).toEqual({ WG: 32, TPR: 2, LOG: 0 });
    spy.mockRestore();
    x.dispose();
  });
});

it('doctor prints every field of the profile', () => {
  const leaves = (p: AdapterProfile) =>
    Object.entries(p).flatMap(([k, v]) => (typeof v === 'object' && v !== null && k !== 'subgroups' ? Object.keys(v).map((f) => `${k}.${f}`) : [k]));
  const lines = describeProfile(LAVAPIPE);
  expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(leaves(LAVAPIPE));
  expect(lines).toContain(`${'matmul.largeTiles'.padEnd(40)} WG_M 8, WG_N 16, TM 8, TN 8, BK 16, SPLIT_N yes`);
  expect(lines).toContain(`${'attention.materializedMaxBytes'.padEnd(40)} 67108864 (64 MiB)`);
  expect(lines).toContain(`${'subgroups'.padEnd(40)} min 8, max 8`);
});
