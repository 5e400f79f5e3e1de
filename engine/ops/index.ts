// The registry of ops: every module whose functions engine/index.ts exports as ops, guarded.
// The op-failure test (every registered op exported and guarded, nothing else of these modules
// exported) and the browser kernel check (which registered ops it has no check for) read it.
//
// To add an op: write kernels/<op>.wgsl, engine/ops/<op>.ts, reference/<op>.ts and
// test/engine/<op>.test.ts, add the module here once, and name its ops in engine/index.ts's
// export of them (TypeScript rejects a name not registered here; the op-failure test a
// registered op not exported).

import * as tensor from '../tensor.ts';
import * as elementwise from './elementwise.ts';
import * as reduce from './reduce.ts';
import * as shape from './shape.ts';
import * as softmax from './softmax.ts';
import * as norm from './norm.ts';
import * as embedding from './embedding.ts';
import * as crossEntropy from './cross_entropy.ts';
import * as dropout from './dropout.ts';
import * as feedForward from './feed_forward.ts';
import * as matmul from './matmul.ts';
import * as attention from './attention/index.ts';
import * as adamw from './adamw.ts';
import * as clip from './clip.ts';

/** Only the named functions of a module whose other exports are helpers (the tests import those
 *  from the op's file; they are not public). */
function only<M, K extends keyof M>(module: M, ...names: K[]): Pick<M, K> {
  return Object.fromEntries(names.map((name) => [name, module[name]])) as Pick<M, K>;
}

/** Each module's ops: every function it exports, unless only some are named. */
export const OP_MODULES = {
  tensor: only(tensor, 'full', 'zeros', 'ones'),
  elementwise,
  reduce,
  shape,
  softmax,
  norm,
  embedding,
  crossEntropy,
  dropout,
  feedForward,
  matmul: only(matmul, 'matmul'),
  attention: only(attention, 'attention', 'packedAttention'),
  adamw,
  clip,
} as const;

/** The names of every registered op. */
export const OP_NAMES: readonly string[] = Object.values(OP_MODULES).flatMap((ops) =>
  Object.entries(ops)
    .filter(([, value]) => typeof value === 'function')
    .map(([name]) => name),
);
