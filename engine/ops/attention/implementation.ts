// The one shape every kernel-running attention implementation has (fused.ts, subgroups.ts,
// materialized.ts), and run(), which hooks one into autograd. An implementation is a forward that
// dispatches its kernels and names what its backward reads, and a backward that returns a
// gradient per input; run() does the bookkeeping they would otherwise each repeat: which autograd
// inputs q, k and v come from, the saved tensors by name, and the running bias gradient.

import { Tensor } from '../../tensor.ts';
import { record } from '../../autograd.ts';
import type { AttentionOptions, Checked } from './check.ts';
import { sumsBiasGrad, type Part } from './shared.ts';

/** Everything one call's forward and backward read. */
export interface Call {
  /** q, k and v where they lie. */
  q: Part;
  k: Part;
  v: Part;
  opts: AttentionOptions;
  c: Checked;
  /** Names the call in its dispatches' labels (and so in GPU errors and profiles). */
  label: string;
  /** The autograd inputs behind q, k and v, the bias not included: three tensors (the same one
   *  thrice for attention(x, x, x); autograd sums), or for blocks of a packed projection that
   *  projection once, as its blocks are disjoint and one gradient tensor holds all of theirs. */
  inputs: Tensor[];
  /** Which of `inputs` each of q, k and v lies in. */
  slot: { q: number; k: number; v: number };
}

/** Tensors the backward reads, by name; a name left undefined (no bias, no mask) is not saved. */
export type Saved = Record<string, Tensor | undefined>;

export interface Implementation<S extends Saved> {
  /** Whether backward adds the gradient the bias already has into the one it computes, when the
   *  bias is shared by the batch (sumsBiasGrad): then autograd hands it over instead of adding. */
  readonly addsIntoBiasGrad: boolean;
  /**
   * Dispatches the forward; returns the output, what the backward reads and, of that, the
   * tensors this forward made for it (the log-sum-exp, the probabilities): run() drops the
   * forward's handles on those once autograd holds its own.
   */
  forward(call: Call): { out: Tensor; saved: S; made: Tensor[] };
  /**
   * From the output's gradient `g`: one gradient (or null, where not wanted) per `call.inputs`,
   * and the bias's (null without one or where not wanted). `saved` holds autograd's copies of
   * what forward saved; `biasAcc` is the bias's running gradient where addsIntoBiasGrad applies.
   * Tensors it makes and does not return are freed by autograd's tidy().
   */
  backward(call: Call, g: Tensor, saved: S, biasAcc: Tensor | null): { inputs: (Tensor | null)[]; bias: Tensor | null };
}

/**
 * Runs `impl` on q, k and v and records its backward. With `packed`, the parts may be blocks of
 * one tensor, which is then one autograd input.
 */
export function run<S extends Saved>(impl: Implementation<S>, parts: { q: Part; k: Part; v: Part }, packed: boolean, opts: AttentionOptions, c: Checked, label: string): Tensor {
  const { q, k, v } = parts;
  const inputs = packed ? [...new Set([q.tensor, k.tensor, v.tensor])] : [q.tensor, k.tensor, v.tensor];
  const slot = packed ? { q: inputs.indexOf(q.tensor), k: inputs.indexOf(k.tensor), v: inputs.indexOf(v.tensor) } : { q: 0, k: 1, v: 2 };
  const call: Call = { q, k, v, opts, c, label, inputs, slot };
  const { bias } = opts;

  const { out, saved, made } = impl.forward(call);
  // autograd keeps a list; a tensor saved under several names (a packed q, k and v) once.
  const named = Object.entries(saved).filter((e): e is [string, Tensor] => e[1] !== undefined);
  const list = [...new Set(named.map(([, t]) => t))];
  const at = named.map(([name, t]) => [name, list.indexOf(t)] as const);
  const n = inputs.length;
  const result = record(
    'attention',
    bias ? [...inputs, bias] : inputs,
    out,
    (g, kept, acc) => {
      const s = Object.fromEntries(at.map(([name, i]) => [name, kept[i]])) as S;
      const grads = impl.backward(call, g, s, acc[n] ?? null);
      return bias ? [...grads.inputs, grads.bias] : grads.inputs;
    },
    list,
    impl.addsIntoBiasGrad && bias && sumsBiasGrad(c) ? [n] : [],
  );
  for (const t of made) t.dispose();
  return result;
}
