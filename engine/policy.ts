// What kind of adapter this is, asked in one place by every op that picks a kernel for it.
//
// A software adapter (a CPU driver: Mesa's lavapipe, SwiftShader) runs invocations as SIMD lanes
// on a few cores: loads cost far more than arithmetic, workgroup memory is ordinary memory and
// barriers suspend whole workgroups, so it wants barrier-free kernels that load little. A real GPU
// wants the opposite: coalesced loads staged through workgroup memory.

import { engine } from './runtime.ts';

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software/i;

export function isSoftwareAdapter(): boolean {
  const a = engine().adapter;
  return a.isFallbackAdapter || SOFTWARE.test(`${a.architecture} ${a.device} ${a.description}`);
}

/** The smallest subgroup the adapter may run, or 0 without the subgroups feature. */
export function subgroupMinSize(): number {
  const e = engine();
  if (!e.adapter.features.includes('subgroups')) return 0;
  return (e.device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number } }).adapterInfo?.subgroupMinSize ?? 0;
}
