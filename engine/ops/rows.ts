// How the row-wise kernels (softmax, layer/RMS norm, cross-entropy) spread rows over invocations.
//
// Each of them runs TPR ("threads per row") invocations on a row and WG / TPR rows per workgroup;
// the lanes of a row combine their partial results through workgroup memory (see the header of
// kernels/softmax.wgsl for why the two adapters want opposite choices). The adapter profile's
// `rows` (engine/profile.ts) says how many: on a software adapter one lane per row, no barriers
// at all; on a real GPU a power of two that grows with the row, so long rows (a vocabulary) are
// spread over a whole workgroup and loads coalesce.

import { grid } from '../kernel.ts';
import { engine } from '../runtime.ts';

export interface RowPlan {
  constants: { WG: number; TPR: number };
  workgroups: [number, number];
}

/** Override constants and workgroup counts for `rows` rows of `len` values each (or groups of
 *  rows, taken together by the lanes of one row: `workgroupSize` then says how many share a
 *  workgroup, as the norm's backward sets it). */
export function rowPlan(rows: number, len: number, workgroupSize = engine().adapterProfile.rows.workgroupSize): RowPlan {
  const p = engine().adapterProfile.rows;
  const byLength = () => Math.min(p.maxThreadsPerRow, Math.max(p.minThreadsPerRow, 2 ** Math.ceil(Math.log2(Math.max(1, len) / p.valuesPerThread))));
  const tpr = p.threadsPerRow === 'by-length' ? byLength() : p.threadsPerRow;
  const wg = Math.max(workgroupSize, tpr);
  return { constants: { WG: wg, TPR: tpr }, workgroups: grid(rows, wg / tpr) };
}
