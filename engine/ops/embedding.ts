// Embedding lookup (kernels/embedding.wgsl): rows of a [V, D] table picked by integer ids, and
// the backward that sums the gradient rows of repeated ids deterministically.

import { Kernel, grid } from '../kernel.ts';
import { Tensor, fmtShape } from '../tensor.ts';
import { isGradEnabled, record } from '../autograd.ts';

const WG = 64;
const PER_THREAD = 4;
const forwardKernel = new Kernel('embedding', 'forward');
const backwardKernel = new Kernel('embedding', 'backward');

/**
 * The positions of `ids` grouped by id, ascending within each id (CSR over all `vocab` ids):
 * id v occupies positions[offsets[v] .. offsets[v + 1]].
 */
function positionsById(ids: ArrayLike<number>, vocab: number): { offsets: Uint32Array; positions: Uint32Array } {
  const offsets = new Uint32Array(vocab + 1);
  for (let p = 0; p < ids.length; p++) offsets[ids[p] + 1] += 1;
  for (let v = 0; v < vocab; v++) offsets[v + 1] += offsets[v];
  const next = offsets.slice(0, vocab);
  const positions = new Uint32Array(ids.length);
  for (let p = 0; p < ids.length; p++) positions[next[ids[p]]++] = p;
  return { offsets, positions };
}

/** table [V, D] f32, ids i32 of any shape -> [...ids.shape, D]. */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  const label = `embedding ${fmtShape(table.shape)} ids ${fmtShape(ids.shape)}`;
  if (table.dtype !== 'f32' || table.rank !== 2) {
    throw new Error(`${label}: the table must be a 2-D f32 tensor [V, D], got ${table.dtype} ${fmtShape(table.shape)}`);
  }
  if (ids.dtype !== 'i32') throw new Error(`${label}: ids must be i32, got ${ids.dtype}`);
  const [vocab, dim] = table.shape;
  if (ids.host) {
    const bad = ids.host.findIndex((id) => !(id >= 0 && id < vocab));
    if (bad >= 0) {
      throw new Error(`${label}: id ${ids.host[bad]} at position ${bad} is out of range for a table of V = ${vocab} rows (valid ids are 0..${vocab - 1})`);
    }
  } else if (vocab === 0 && ids.size > 0) {
    throw new Error(`${label}: the table has no rows to look ids up in`);
  }
  const needGrad = isGradEnabled() && table.requiresGrad;
  if (needGrad && !ids.host) {
    throw new Error(
      `${label}: the embedding backward needs ids created from host data (tensor(..., 'i32'), which keeps a CPU copy in .host) ` +
        'to group positions by id on the CPU; these ids were computed on the GPU',
    );
  }

  const out = Tensor.empty([...ids.shape, dim]);
  forwardKernel.dispatch({
    label,
    buffers: { table: table.arg(label), ids: ids.arg(label), out: out.arg(label) },
    params: { n: ids.size, dim, vocab },
    constants: { WG, PER_THREAD },
    workgroups: grid(out.size, WG * PER_THREAD),
  });

  return record(
    'embedding',
    [table],
    out,
    (g, [sids], [dtableIn]) => {
      const blabel = `${label} backward`;
      const csr = positionsById(sids.host!, vocab);
      const offsets = Tensor.fromData(csr.offsets, [vocab + 1], 'u32');
      const positions = Tensor.fromData(csr.positions, [csr.positions.length], 'u32');
      const dtable = Tensor.empty([vocab, dim]);
      backwardKernel.dispatch({
        label: blabel,
        buffers: {
          g: g.arg(blabel),
          offsets: offsets.arg(blabel),
          positions: positions.arg(blabel),
          out: dtable.arg(blabel),
          // Bound but not read without ACCUMULATE.
          dtable_in: (dtableIn ?? g).arg(blabel),
        },
        params: { n: vocab, dim, vocab },
        constants: { WG, PER_THREAD, ACCUMULATE: dtableIn ? 1 : 0 },
        workgroups: grid(dtable.size, WG * PER_THREAD),
      });
      return [dtable];
    },
    [ids],
    [0],
  );
}
