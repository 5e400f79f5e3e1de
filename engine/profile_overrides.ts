// Overrides of the adapter profile's choices (engine/profile.ts): what withAdapterProfile
// (engine/runtime.ts) and the WEBGPU_ADAPTER_PROFILE variable (startingProfile, read when the
// engine starts) put over the profile the engine computed, checked field by field so that a
// misspelt or impossible override fails where it is made.

import { readEnv, type AdapterReport } from './device.ts';
import { CHOICES, computeProfile, type AdapterProfile, type Choice, type ProfileOverrides } from './profile.ts';

/** Overrides the profile refuses (overrideProfile, parseOverrides). */
export class ProfileOverrideError extends Error {
  override name = 'ProfileOverrideError';
}

const ATTENTION_PATHS = ['auto', 'fused', 'subgroups', 'materialized'];
const MATMUL_VARIANTS = ['shared-rows', 'direct', 'tiled'];
const TILE_SIZES = ['WG_M', 'WG_N', 'TM', 'TN', 'BK'];

/** Checks one overridden value beyond its type; returns why it is refused, or null. */
function refuse(group: Choice, field: string, value: unknown, base: AdapterProfile): string | null {
  if (group === 'attention' && field === 'path' && !ATTENTION_PATHS.includes(value as string)) return `one of ${ATTENTION_PATHS.join(', ')}`;
  if (group === 'matmul' && field === 'variant' && !MATMUL_VARIANTS.includes(value as string)) return `one of ${MATMUL_VARIANTS.join(', ')}`;
  if (group === 'rows' && field === 'threadsPerRow' && value !== 'by-length') {
    const n = value as number;
    const max = Math.min(256, base.limits.maxComputeInvocationsPerWorkgroup);
    if (!(Number.isInteger(n) && n >= 1 && n <= max && (n & (n - 1)) === 0)) return `'by-length' or a power of two from 1 to ${max}`;
    return null;
  }
  if (group === 'matmul' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    // The kernel checks a tile shape against itself and the device where it is used (matmul.ts).
    const t = value as Record<string, unknown>;
    const ok = TILE_SIZES.every((k) => Number.isInteger(t[k])) && Object.keys(t).every((k) => TILE_SIZES.includes(k) || k === 'SPLIT_N') && ['boolean', 'undefined'].includes(typeof t.SPLIT_N);
    return ok ? null : `tiles of integers ${TILE_SIZES.join(', ')} (and SPLIT_N true or false)`;
  }
  if (typeof value === 'number' && !(Number.isFinite(value) && value >= 0)) return 'a finite number, 0 or more';
  if (Array.isArray(value) && !(value.length > 0 && value.every((x) => Number.isInteger(x) && x > 0))) return 'a list of positive integers';
  return null;
}

/**
 * `base` with `overrides` put over its choices: a field of a group replaces that field, and the
 * rest stays. Refuses, naming what is wrong, a group or field the profile lacks, a value of
 * another type, and the facts about the adapter (software, subgroups, limits, driverThreads,
 * supports), which are measured, not chosen.
 */
export function overrideProfile(base: AdapterProfile, overrides: ProfileOverrides): AdapterProfile {
  const out = { ...base };
  for (const [group, fields] of Object.entries(overrides ?? {})) {
    if (!CHOICES.includes(group as Choice)) {
      const why = group in base ? 'is a fact about the adapter, not a choice' : `is not in the profile (its choices: ${CHOICES.join(', ')})`;
      throw new ProfileOverrideError(`adapter profile: '${group}' ${why}`);
    }
    const g = group as Choice;
    const merged: Record<string, unknown> = { ...base[g] };
    for (const [field, value] of Object.entries((fields ?? {}) as Record<string, unknown>)) {
      const at = `adapter profile: ${g}.${field}`;
      if (!(field in merged)) throw new ProfileOverrideError(`${at} is not in the profile (${g} has ${Object.keys(merged).join(', ')})`);
      const old = merged[field];
      const sameType = typeof value === typeof old || (g === 'rows' && field === 'threadsPerRow' && (typeof value === 'number' || value === 'by-length'));
      if (!sameType || Array.isArray(value) !== Array.isArray(old)) throw new ProfileOverrideError(`${at}: ${JSON.stringify(value)} is not of the type of ${JSON.stringify(old)}`);
      const why = refuse(g, field, value, base);
      if (why) throw new ProfileOverrideError(`${at} must be ${why}, not ${JSON.stringify(value)}`);
      merged[field] = value;
    }
    (out as Record<Choice, unknown>)[g] = merged;
  }
  return out;
}

/** Overrides written as JSON (the WEBGPU_ADAPTER_PROFILE variable), refused unless an object. */
export function parseOverrides(json: string): ProfileOverrides {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    throw new ProfileOverrideError(`not JSON (${(e as Error).message}); want e.g. {"attention":{"path":"fused"}}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ProfileOverrideError('want a JSON object of groups, e.g. {"attention":{"path":"fused"}}');
  return value as ProfileOverrides;
}

/** The adapter's profile, with the overrides WEBGPU_ADAPTER_PROFILE holds as JSON where it is set
 *  (command-line benchmarks; the same overrides withAdapterProfile takes). */
export function startingProfile(report: AdapterReport, device: GPUDevice): AdapterProfile {
  // adapterInfo is missing from older implementations.
  const profile = computeProfile(report, device.adapterInfo as GPUAdapterInfo | undefined, readEnv(report.runtime, 'LP_NUM_THREADS'));
  const json = readEnv(report.runtime, 'WEBGPU_ADAPTER_PROFILE');
  if (!json) return profile;
  try {
    return overrideProfile(profile, parseOverrides(json));
  } catch (e) {
    throw new ProfileOverrideError(`WEBGPU_ADAPTER_PROFILE=${json}: ${(e as Error).message}`);
  }
}
