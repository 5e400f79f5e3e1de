// How the row-wise kernels (softmax, layer/RMS norm, cross-entropy) spread rows over invocations.
//
// Each of them runs TPR ("threads per row") invocations on a row and WG / TPR rows per workgroup;
// the lanes of a row combine their partial results through workgroup memory (see the header of
// kernels/softmax.wgsl for why the two adapters want opposite choices):
// - a software adapter (lavapipe, SwiftShader) gets TPR = 1: no barriers at all;
// - a real GPU gets a power of two between 32 and 256 lanes per row, about one lane per four
//   values, so long rows (a vocabulary) are spread over a whole workgroup and loads coalesce.

import { grid } from '../kernel.ts';
import { isSoftwareAdapter } from '../policy.ts';

let forcedTPR: number | null = null;

/** Forces the lanes per row (a power of two up to 256, or null for the adapter's choice), so
 *  that tests can run the cooperative kernels on a software adapter too. */
export function setRowThreads(tpr: number | null): void {
  if (tpr !== null && !(Number.isInteger(Math.log2(tpr)) && tpr >= 1 && tpr <= 256)) {
    throw new Error(`setRowThreads: ${tpr} is not a power of two between 1 and 256`);
  }
  forcedTPR = tpr;
}

export interface RowPlan {
  constants: { WG: number; TPR: number };
  workgroups: [number, number];
}

/** Override constants and workgroup counts for `rows` rows of `len` values each (or groups of
 *  rows, taken together by the lanes of one row: `softwareWG` then keeps the workgroups many
 *  enough for a software adapter's cores). */
export function rowPlan(rows: number, len: number, softwareWG = 64): RowPlan {
  const software = isSoftwareAdapter();
  const tpr = forcedTPR ?? (software ? 1 : Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(Math.max(1, len) / 4)))));
  const wg = Math.max(software ? softwareWG : 128, tpr);
  return { constants: { WG: wg, TPR: tpr }, workgroups: grid(rows, wg / tpr) };
}
