import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../../reference/embedding.ts';
import { embedding } from '../../engine/ops/embedding.ts';
import { Rng } from '../../engine/random.ts';
import { checkGradients, expectClose, rand, setupEngine } from '../helpers.ts';

beforeAll(setupEngine);

function randomIds(n: number, vocab: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Math.floor(rng.nextFloat() * vocab));
}

describe('embedding', () => {
  const cases: [number, number, number[]][] = [
    [1, 1, [1]],
    [7, 3, [5]],
    [37, 129, [2, 3]],
    [5, 1031, [3, 1, 7]],
    [11, 13, [1000]], // every id repeated ~90 times
    [1009, 7, [37]], // most rows unused: their gradient must be 0
  ];

  for (const [vocab, dim, idShape] of cases) {
    it(`forward and backward match float64: table [${vocab},${dim}], ids [${idShape}]`, async () => {
      const n = idShape.reduce((a, b) => a * b, 1);
      const ids = randomIds(n, vocab, vocab + dim);
      const td = rand(vocab * dim, 1);
      const gd = rand(n * dim, 2);
      const table = E.param(E.tensor(td, [vocab, dim]));
      const y = embedding(table, E.tensor(ids, idShape, 'i32'));
      expect(y.shape).toEqual([...idShape, dim]);
      expectClose(await y.toArray(), R.embedding(td, dim, ids), 0, 0, 'forward');
      E.backward(y, E.tensor(gd, y.shape));
      expectClose(await table.grad!.toArray(), R.embeddingBackward(vocab, dim, ids, gd), 1e-5, 1e-6, 'dtable');
      E.dispose([table, table.grad, y]);
    });
  }

  it('accumulates repeated ids in a fixed order (bitwise the same on every run)', async () => {
    const ids = E.tensor(randomIds(2000, 3, 5), [2000], 'i32');
    const g = E.tensor(rand(2000 * 5, 6, -100, 100), [2000, 5]);
    const grad = async () => {
      const table = E.param(E.zeros([3, 5]));
      E.backward(embedding(table, ids), g);
      const d = await table.grad!.toArray();
      E.dispose([table, table.grad]);
      return Array.from(d);
    };
    const first = await grad();
    expect(await grad()).toEqual(first);
    expectClose(first, R.embeddingBackward(3, 5, Array.from(ids.host!), await g.toArray()), 1e-5, 1e-3, 'dtable');
  });

  it('a table used several times gets the sum of its gradients, over uses and over backward calls', async () => {
    // Two lookups and a tied output head (x · tableᵀ), as T5 uses its shared embedding; the
    // lookup that backward reaches second adds into the gradient the first left (ACCUMULATE).
    const [vocab, dim, n1, n2, rows] = [13, 6, 23, 9, 5];
    const ids1 = randomIds(n1, vocab, 21);
    const ids2 = randomIds(n2, vocab, 22);
    const [td, g1, g2, g3, xd] = [rand(vocab * dim, 23), rand(n1 * dim, 24), rand(n2 * dim, 25), rand(rows * vocab, 26), rand(rows * dim, 27)];
    const table = E.param(E.tensor(td, [vocab, dim]));
    const [t1, t2, t3, x] = [E.tensor(g1, [n1, dim]), E.tensor(g2, [n2, dim]), E.tensor(g3, [rows, vocab]), E.tensor(xd, [rows, dim])];
    // Backward reaches the head first (as in T5, where it comes last), then the lookups, so
    // neither lookup needs an add; the labels of the backward's dispatches say so. (In the second
    // backward the head's gradient is added to the first's: the product accumulates into its A
    // operand only.)
    const loss = async (first: boolean) => {
      const e = E.engine();
      e.startProfile();
      E.tidy(() => {
        const l1 = E.sum(E.mul(embedding(table, E.tensor(ids1, [n1], 'i32')), t1));
        const l2 = E.sum(E.mul(embedding(table, E.tensor(ids2, [n2], 'i32')), t2));
        const l3 = E.sum(E.mul(E.matmul(x, table, { transB: true }), t3));
        E.backward(E.add(E.add(l1, l2), l3));
      });
      const labels = (await e.stopProfile()).records.map((r) => r.label);
      expect(labels.filter((l) => l.startsWith(`add [${vocab},${dim}]`))).toHaveLength(first ? 0 : 1);
    };
    const want = new Float64Array(vocab * dim);
    const head = R.embeddingBackward(vocab, dim, [], []);
    for (let r = 0; r < rows; r++) for (let v = 0; v < vocab; v++) for (let j = 0; j < dim; j++) head[v * dim + j] += g3[r * vocab + v] * xd[r * dim + j];
    [R.embeddingBackward(vocab, dim, ids1, g1), R.embeddingBackward(vocab, dim, ids2, g2), head].forEach((d) => d.forEach((v, i) => (want[i] += v)));
    await loss(true);
    expectClose(await table.grad!.toArray(), want, 1e-5, 1e-6, 'dtable after one backward');
    await loss(false);
    expectClose(await table.grad!.toArray(), want.map((v) => 2 * v), 1e-5, 1e-6, 'dtable after two');
    E.dispose([table, table.grad, t1, t2, t3, x]);
  });

  it('backward matches finite differences', async () => {
    const ids = E.tensor([2, 0, 2, 2, 4], [5], 'i32');
    await checkGradients((t) => embedding(t, ids), [{ data: rand(5 * 3, 3), shape: [5, 3] }]);
  });

  it('handles empty ids', async () => {
    const table = E.param(E.tensor(rand(6, 4), [3, 2]));
    const y = embedding(table, E.tensor([], [0], 'i32'));
    expect(y.shape).toEqual([0, 2]);
    E.backward(y, E.zeros([0, 2]));
    expect(Array.from(await table.grad!.toArray())).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('names the bad id and V when an id is out of range', () => {
    const table = E.zeros([10, 4]);
    expect(() => E.tidy(() => embedding(table, E.tensor([1, 10, 2], [3], 'i32')))).toThrow(
      /embedding \[10,4\] ids \[3\]: id 10 at position 1 is out of range for a table of V = 10 rows/,
    );
    expect(() => E.tidy(() => embedding(table, E.tensor([-1], [1], 'i32')))).toThrow(/id -1 at position 0 is out of range .*V = 10/);
  });

  it('clamps out-of-range ids that have no host copy instead of reading outside the table', async () => {
    const td = rand(3 * 2, 4);
    const ids = E.tensor([-5, 1, 99], [3], 'i32');
    ids.host = null; // as if computed on the GPU
    const y = E.tidy(() => embedding(E.tensor(td, [3, 2]), ids));
    expectClose(await y.toArray(), [td[0], td[1], td[2], td[3], td[4], td[5]], 0, 0, 'clamped');
  });

  it('needs host ids for the backward', () => {
    const table = E.param(E.zeros([3, 2]));
    const ids = E.tensor([0, 1], [2], 'i32');
    ids.host = null;
    expect(() => E.tidy(() => embedding(table, ids))).toThrow(/the embedding backward needs ids created from host data/);
    expect(() => E.noGrad(() => E.tidy(() => embedding(table, ids)))).not.toThrow();
  });

  it('rejects float ids and a table that is not 2-D', () => {
    expect(() => E.tidy(() => embedding(E.zeros([3, 2]), E.tensor([0, 1], [2])))).toThrow(/ids must be i32, got f32/);
    expect(() => E.tidy(() => embedding(E.zeros([6]), E.tensor([0], [1], 'i32')))).toThrow(
      /embedding \[6\] ids \[1\]: the table must be a 2-D f32 tensor \[V, D\], got f32 \[6\]/,
    );
  });
});
