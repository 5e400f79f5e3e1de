// Reverse-mode automatic differentiation over a tape of graph nodes.
//
// An op that produces a tensor from inputs that need gradients attaches a GradNode to its output:
// the inputs, the tensors its backward needs ("saved", each held by its own reference so the
// caller may dispose its handles), and a function from the output's gradient to the inputs'.
// backward() walks the nodes reachable from the loss in reverse topological order, summing
// gradients where a tensor feeds several ops, and stores the sums of leaf tensors in `.grad`.
// A node's saved tensors are released as soon as backward has passed it, or when the tidy()
// scope that created it ends and no returned tensor can reach it.
//
// Summing a tensor's gradients costs an add per extra consumer, a pass over the whole tensor
// (a transformer's residual stream has two consumers per block, a tied embedding three). An op
// whose backward can add into its result for free (a matmul's epilogue, a norm's last loop, the
// embedding's gather) declares which of its inputs it `accumulates`: it then receives the
// gradient summed so far for them (a leaf's `.grad`, for a parameter) and returns the total, and
// the add disappears.

import { Tensor, keep, releaseNode as release, tidy, trackNode, fmtShape } from './tensor.ts';
import { sameShape } from './shape.ts';
import { binaryOp } from './ops/elementwise_kernel.ts';

/**
 * From the output's gradient to the inputs'. `acc[i]`, for an input the op declared it
 * accumulates, is the gradient that input has received so far from other consumers (or null);
 * the backward must then return a new tensor holding the sum for it.
 */
export type BackwardFn = (grad: Tensor, saved: Tensor[], acc: (Tensor | null)[]) => (Tensor | null)[];

export interface GradNode {
  op: string;
  inputs: Tensor[];
  saved: Tensor[];
  backward: BackwardFn;
  /** Indices of the inputs whose gradient the backward can add into (see BackwardFn). */
  accumulates: readonly number[];
  released: boolean;
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording anything for backward (evaluation, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const before = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = before;
  }
}

/** Marks a tensor as a leaf whose gradient backward() should accumulate. */
export function param(t: Tensor): Tensor {
  t.requiresGrad = true;
  return t;
}

/**
 * Called by every differentiable op after computing `out`. Records a node when gradients are on
 * and some input needs one; `saved` are the tensors `backward` will receive; `accumulates` the
 * inputs whose running gradient `backward` takes in and returns summed (see BackwardFn).
 */
export function record(op: string, inputs: Tensor[], out: Tensor, backward: BackwardFn, saved: Tensor[] = [], accumulates: readonly number[] = []): Tensor {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return out;
  out.requiresGrad = true;
  const node: GradNode = {
    op,
    inputs,
    saved: saved.map((t) => keep(t.view(t.shape))),
    backward,
    accumulates,
    released: false,
  };
  out.node = node;
  trackNode(node);
  return out;
}

/**
 * Computes d(loss)/d(leaf) for every leaf reachable from `loss` and adds it into `leaf.grad`.
 * `loss` must have one element unless `grad` (the seed, same shape as loss) is given.
 */
export function backward(loss: Tensor, grad?: Tensor, options: { retainGraph?: boolean } = {}): void {
  if (!loss.node) {
    throw new Error(`backward: tensor ${fmtShape(loss.shape)} does not depend on any tensor that requires a gradient`);
  }
  if (!grad && loss.size !== 1) {
    throw new Error(`backward: loss ${fmtShape(loss.shape)} is not a scalar; pass the output gradient`);
  }
  if (grad && grad.size !== loss.size) {
    throw new Error(`backward: gradient ${fmtShape(grad.shape)} does not match output ${fmtShape(loss.shape)}`);
  }
  const order = topoOrder(loss.node);
  const grads = new Map<GradNode, Tensor>();
  noGrad(() => {
    grads.set(loss.node!, keep(grad ? grad.view(loss.shape) : seedOfOnes(loss)));
    for (const node of order) {
      const g = grads.get(node);
      grads.delete(node);
      if (!g) continue;
      if (node.released) {
        throw new Error(
          `backward: the graph through ${node.op} was already freed (by an earlier backward, or by the tidy() that made it); ` +
            'call backward inside the same tidy as the forward pass, or pass { retainGraph: true }',
        );
      }
      // The running gradients this backward adds into, for inputs seen once here: taken out of
      // the map for a computed input, out of `.grad` for a leaf (what its other consumers, or an
      // earlier backward, left there); the backward returns their sums.
      const acc = node.inputs.map((input, i) => {
        if (!node.accumulates.includes(i) || node.inputs.indexOf(input) !== i) return null;
        if (input.node) {
          const running = grads.get(input.node);
          if (!running) return null;
          grads.delete(input.node);
          return running;
        }
        const running = input.requiresGrad ? input.grad : null;
        if (running) input.grad = null;
        return running;
      });
      const inputGrads = distinct(tidy(() => node.backward(g, node.saved, acc)), [g, ...node.saved, ...acc.filter((t): t is Tensor => t !== null)]);
      g.dispose();
      acc.forEach((t, i) => {
        if (!t) return;
        // A backward that returned nothing for the input leaves its running gradient as it was.
        const input = node.inputs[i];
        if (inputGrads[i]) t.dispose();
        else if (input.node) accumulate(grads, input.node, t);
        else input.grad = t;
      });
      node.inputs.forEach((input, i) => {
        const gi = inputGrads[i];
        if (!gi) return;
        if (!input.requiresGrad) return gi.dispose();
        if (!sameShape(gi.shape, input.shape)) {
          throw new Error(`backward of ${node.op}: gradient ${fmtShape(gi.shape)} for input ${fmtShape(input.shape)}`);
        }
        if (input.node) accumulate(grads, input.node, gi);
        else input.grad = input.grad ? addOwned(input.grad, gi) : keep(gi);
      });
      if (!options.retainGraph) release(node);
    }
  });
}

function topoOrder(root: GradNode): GradNode[] {
  const order: GradNode[] = [];
  const seen = new Set<GradNode>();
  // Iterative post-order: deep transformer graphs would overflow a recursive walk.
  const stack: [GradNode, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [node, i] = top;
    if (i < node.inputs.length) {
      top[1] += 1;
      const child = node.inputs[i].node;
      if (child && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(node);
    }
  }
  return order.reverse();
}

// The seeds backward() made itself: ones, known on the host. A backward that would multiply by
// its incoming gradient may skip that when it is one of these (isOnesSeed).
const onesSeeds = new WeakSet<Tensor>();

/** A one shaped like the (scalar) loss, uploaded: no dispatch, unlike a fill. */
function seedOfOnes(loss: Tensor): Tensor {
  const seed = Tensor.fromData([1], loss.shape);
  onesSeeds.add(seed);
  return seed;
}

/** Whether `g` is a seed of ones that backward() made: multiplying by it changes nothing. */
export function isOnesSeed(g: Tensor): boolean {
  return onesSeeds.has(g);
}

/** a + b for two gradients backward() owns, which it then frees. The kernel's add, not the op
 *  of elementwise.ts: backward records no graph, and that file imports this one. */
function addOwned(a: Tensor, b: Tensor): Tensor {
  const sum = keep(binaryOp('add', a, b));
  a.dispose();
  b.dispose();
  return sum;
}

/** A backward may hand back its incoming gradient, a saved tensor, or one tensor twice (add
 *  does); each such reuse becomes its own view so that every gradient can be disposed alone. */
function distinct(grads: (Tensor | null)[], taken: Tensor[]): (Tensor | null)[] {
  const seen = new Set(taken);
  return grads.map((g) => {
    if (!g) return g;
    if (seen.has(g)) return g.view(g.shape);
    seen.add(g);
    return g;
  });
}

function accumulate(grads: Map<GradNode, Tensor>, node: GradNode, g: Tensor): void {
  const prev = grads.get(node);
  grads.set(node, prev ? addOwned(prev, g) : keep(g));
}
