// Scaled-dot-product attention: softmax(scale * q k^T + bias) v with key padding and causal
// masks, and gradients for q, k, v and the bias. This module is the op's front door: it checks
// the inputs (check.ts), handles the cases no kernel needs to see (empty inputs, a head size the
// vec4 kernels cannot read, a packed projection the fused kernels cannot read in place), picks an
// implementation (attentionPath, by the adapter profile's attention choices) and runs it
// (implementation.ts):
//
//   fused.ts         kernels/attention.wgsl, streaming over keys; the scores are never stored
//   subgroups.ts     kernels/attention_subgroups.wgsl, the same streaming sharing rows across a
//                    subgroup (software adapters)
//   materialized.ts  the scores stored, the products on the matmul kernels
//   unfused.ts       the same math from unfused ops, differentiated by autograd: the baseline
//
// The thresholds that pick among them are the adapter profile's (engine/profile.ts); BENCHMARKS.md
// has the measurements behind them.

import { Tensor, fmtShape, zeros } from '../../tensor.ts';
import { record } from '../../autograd.ts';
import { concat, reshape, slice } from '../shape.ts';
import { engine } from '../../runtime.ts';
import { check, describe, type AttentionOptions, type AttentionPath, type Checked, type PackedInputs, type TensorLike } from './check.ts';
import { whole, type Part } from './shared.ts';
import { run, type Implementation, type Saved } from './implementation.ts';
import { fused } from './fused.ts';
import { SUBGROUPS_UNAVAILABLE, subgroups } from './subgroups.ts';
import { materialized } from './materialized.ts';

export type { AttentionOptions, AttentionPath, PackedInputs } from './check.ts';
export { attentionUnfused } from './unfused.ts';

const IMPLEMENTATIONS: Record<AttentionPath, Implementation<Saved>> = { fused, subgroups, materialized };

/**
 * Which implementation runs: the adapter profile's attention.path where it names one, else one by
 * its rules. On a software adapter every lane of attention.wgsl loads the same k and v rows, one
 * load per lane, and runs far slower than kernels that share loads across a subgroup: there
 * small heads take attention_subgroups.wgsl where the adapter has subgroups (decode steps too,
 * given enough batches and heads). Otherwise the scores are materialized whenever they fit the
 * profile's budget: the products then run on the matmul kernels, which beat the fused kernels
 * on either kind of adapter (on a GPU the fused kernels' backward is the slow part). Longer
 * sequences take the fused kernels, which never store the scores, and so do decode steps (the
 * split path).
 */
function attentionPath(c: Checked): AttentionPath {
  const p = engine().adapterProfile;
  const a = p.attention;
  if (a.path === 'subgroups' && !p.supports.subgroupsAttention) throw new Error(`attention: ${SUBGROUPS_UNAVAILABLE}`);
  if (a.path !== 'auto') return a.path;
  const scoresFit = 4 * c.batch * c.heads * c.lq * c.lk <= Math.min(a.materializedMaxBytes, engine().device.limits.maxStorageBufferBindingSize);
  const useSubgroups = a.subgroupsForSmallHeads && c.dh <= a.subgroupsMaxHeadSize;
  // A decode step: one workgroup per (batch, head) keeps the cores busy only if there are enough
  // of them; otherwise the split path spreads each row's keys over several.
  if (c.lq < a.splitBelowRows) return useSubgroups && c.batch * c.heads >= a.subgroupsMinDecodeWorkgroups ? 'subgroups' : 'fused';
  if (useSubgroups) return 'subgroups';
  return scoresFit ? 'materialized' : 'fused';
}

/** x [.., Dh] with zero columns appended up to `to`. */
function padLast(x: Tensor, to: number): Tensor {
  const d = x.shape[3];
  return concat([x, zeros([...x.shape.slice(0, 3), to - d])], 3);
}

/**
 * softmax(scale * q k^T + bias, masked) v for q [B,H,Lq,Dh], k and v [B,H,Lk,Dh]; returns
 * [B,H,Lq,Dh] (with `headsLast`, every L and H swap places). A query row that may see no key
 * at all yields zeros (and zero gradients).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  return attentionOn(null, q, k, v, opts);
}

/** attention() on `path`, or where that is null on the one attentionPath() picks. */
function attentionOn(path: AttentionPath | null, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Tensor {
  const c = check(q, k, v, opts);
  const { bias, headsLast = false } = opts;
  if (q.size === 0 || c.lk === 0) {
    // No query rows, or no keys for any row to see: zeros, like a fully masked row.
    const shapes = [q.shape, k.shape, v.shape, ...(bias ? [bias.shape] : [])];
    return record('attention', bias ? [q, k, v, bias] : [q, k, v], zeros(q.shape), () => shapes.map((s) => zeros(s)));
  }
  path ??= attentionPath(c);
  if (path !== 'materialized' && c.dh % 4 !== 0) {
    // The streaming kernels read rows as vec4; zero columns leave every dot product and P v
    // unchanged. The padded call keeps the path picked here.
    const to = Math.ceil(c.dh / 4) * 4;
    return slice(attentionOn(path, padLast(q, to), padLast(k, to), padLast(v, to), opts), 3, 0, c.dh);
  }
  const label = `attention${path === 'fused' ? '' : ` (${path})`} q ${fmtShape(q.shape)} k ${fmtShape(k.shape)}${describe(opts)}`;
  const parts = { q: whole(q, headsLast), k: whole(k, headsLast), v: whole(v, headsLast) };
  return run(IMPLEMENTATIONS[path], parts, false, opts, c, label);
}

/**
 * Attention over projections packed side by side, heads last: `qkv` [B, L, 3, H, Dh] holds q, k
 * and v (self-attention), or q [B, Lq, H, Dh] comes alone and `kv` [B, Lk, 2, H, Dh] holds k and
 * v (attention to another sequence). A model then projects with one product instead of three
 * (or two), and the packed tensor's gradient comes back as one tensor, so the backward is one
 * product for the input and one for the weights. Same options as attention() (heads last; no
 * kvLength: a KV cache keeps k and v apart). The materialized and subgroups paths read the
 * blocks where they lie; the fused path takes copies of them.
 */
export function packedAttention(inputs: PackedInputs, opts: Omit<AttentionOptions, 'headsLast' | 'kvLength'> = {}): Tensor {
  const packed = 'qkv' in inputs ? inputs.qkv : inputs.kv;
  const blocks = 'qkv' in inputs ? 3 : 2;
  const name = blocks === 3 ? 'qkv' : 'kv';
  if (packed.rank !== 5 || packed.shape[2] !== blocks) {
    throw new Error(`packedAttention: ${name} ${fmtShape(packed.shape)} must be [B, L, ${blocks}, H, Dh]`);
  }
  const [B, L, , H, D] = packed.shape;
  const block = (i: number): Part => ({ tensor: packed, offset: i * H * D, ld: blocks * H * D });
  const q = 'qkv' in inputs ? block(0) : whole(inputs.q, true);
  const [k, v] = [block(blocks - 2), block(blocks - 1)];
  const o = { ...opts, headsLast: true };
  // The checks see each block as the [B, L, H, Dh] tensor it stands for.
  const stand = (p: Part): TensorLike => (p.tensor === packed ? { shape: [B, L, H, D], dtype: packed.dtype, requiresGrad: packed.requiresGrad } : p.tensor);
  const c = check(stand(q), stand(k), stand(v), o);
  const path = L === 0 || c.lq === 0 ? 'fused' : attentionPath(c);
  if (path === 'fused' || (path === 'subgroups' && D % 4 !== 0)) {
    const take = (i: number) => reshape(slice(packed, 2, i, i + 1), [B, L, H, D]);
    return attentionOn(path, 'qkv' in inputs ? take(0) : inputs.q, take(blocks - 2), take(blocks - 1), o);
  }
  const label = `attention (${path}) ${'qkv' in inputs ? `qkv ${fmtShape(packed.shape)}` : `q ${fmtShape(inputs.q.shape)} kv ${fmtShape(packed.shape)}`}${describe(o)}`;
  return run(IMPLEMENTATIONS[path], { q, k, v }, true, o, c, label);
}
