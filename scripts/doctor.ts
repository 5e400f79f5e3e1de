// `npm run doctor`: which runtime, which adapter, what it can do, and what the engine chose for
// it (the adapter profile: engine/profile.ts).
import { describeAdapter, describeProfile, initEngine, GPUUnavailableError, ProfileOverrideError } from '../engine/index.ts';

try {
  const e = await initEngine();
  const a = e.adapter;
  console.log(`runtime:  ${a.runtime} ${(globalThis as any).process?.version ?? ''} (WebGPU: ${a.implementation})`);
  console.log(`adapter:  ${describeAdapter(a)}`);
  console.log(`vendor:   ${a.vendor || '?'}  architecture: ${a.architecture || '?'}  device: ${a.device || '?'}`);
  console.log(`fallback: ${a.isFallbackAdapter ? 'yes (software rendering: expect CPU speeds)' : 'no'}`);
  console.log(`features: ${a.features.join(', ') || '(none)'}`);
  console.log('limits:');
  for (const [k, v] of Object.entries(a.limits).sort()) console.log(`  ${k.padEnd(42)} ${v}`);
  const overridden = process.env.WEBGPU_ADAPTER_PROFILE ? ` (with WEBGPU_ADAPTER_PROFILE=${process.env.WEBGPU_ADAPTER_PROFILE})` : '';
  console.log(`adapter profile, what the ops choose here${overridden} (docs/design.md: how to override it):`);
  for (const line of describeProfile(e.adapterProfile)) console.log(`  ${line}`);
  process.exit(0);
} catch (err) {
  if (err instanceof GPUUnavailableError) {
    console.error(`no WebGPU: ${err.message}`);
    process.exit(1);
  }
  if (err instanceof ProfileOverrideError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
