import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { AdamW, type AdamWOptions } from '../../training/adamw.ts';
import { AdamW as ReferenceAdamW } from '../../reference/adamw.ts';
import { expectClose, rand, setupEngine, sizeOfShape } from '../helpers.ts';

beforeAll(setupEngine);

const SHAPES = [[1], [7], [3, 5], [2, 3, 11], [4], [13]];
const LRS = [0.05, 0.04, 0.03, 0.02, 0.01];

const initial = (seed = 1, shapes = SHAPES) => shapes.map((s, i) => rand(sizeOfShape(s), seed + i, -1, 1));
const gradsFor = (step: number, shapes = SHAPES) => shapes.map((s, i) => rand(sizeOfShape(s), 1000 + 17 * step + i, -1, 1));

function makeParams(datas: ArrayLike<number>[], shapes = SHAPES): E.Tensor[] {
  return datas.map((d, i) => E.param(E.tensor(d, shapes[i])));
}

function setGrads(opt: AdamW, grads: (ArrayLike<number> | null)[]): void {
  opt.zeroGrad();
  opt.params.forEach((p, i) => (p.grad = grads[i] ? E.tensor(grads[i]!, p.shape) : null));
}

async function values(ts: readonly E.Tensor[]): Promise<Float32Array[]> {
  return Promise.all(ts.map((t) => t.toArray() as Promise<Float32Array>));
}

function expectAllClose(got: ArrayLike<number>[], want: ArrayLike<number>[], what: string, rtol = 2e-5, atol = 1e-6): void {
  got.forEach((g, i) => expectClose(g, want[i], rtol, atol, `${what} ${i}`));
}

function dispose(opt: AdamW): void {
  opt.zeroGrad();
  E.dispose([...opt.params]);
  opt.dispose();
}

describe('AdamW against a float64 reference', () => {
  const cases: [string, AdamWOptions, number][] = [
    ['defaults', {}, 1],
    ['weight decay', { weightDecay: 0.5 }, 1],
    ['weight decay on some parameters only', { weightDecay: 0.5, decay: (_, i) => i % 3 !== 1 }, 1],
    ['clipping', { maxGradNorm: 1 }, 1],
    ['clipping, gradScale, other betas, no bias correction', { maxGradNorm: 0.5, beta1: 0.8, beta2: 0.99, eps: 1e-6, biasCorrection: false, weightDecay: 0.1 }, 0.5],
  ];
  for (const [name, options, gradScale] of cases) {
    it(`${name}: weights every step, moments at the end`, async () => {
      const start = initial();
      const ref = new ReferenceAdamW(start.map((x) => Float64Array.from(x)), options);
      const opt = new AdamW(makeParams(start), options);
      for (let s = 0; s < LRS.length; s++) {
        setGrads(opt, gradsFor(s));
        opt.step(LRS[s], { gradScale });
        ref.step(gradsFor(s), LRS[s], gradScale);
        expectAllClose(await values(opt.params), ref.w, `${name} step ${s} weights`);
      }
      const state = await opt.exportState();
      expect(state.step).toBe(LRS.length);
      expectAllClose(state.m, ref.m, `${name} m`, 1e-5, 1e-7);
      expectAllClose(state.v, ref.v, `${name} v`, 1e-5, 1e-9);
      dispose(opt);
    });
  }

  it('clipping changes the result (the reference would notice a missing clip)', async () => {
    const clipped = new ReferenceAdamW(initial().map((x) => Float64Array.from(x)), { maxGradNorm: 1 });
    const opt = new AdamW(makeParams(initial()), {});
    setGrads(opt, gradsFor(0));
    opt.step(0.05);
    clipped.step(gradsFor(0), 0.05);
    const state = await opt.exportState();
    expect(() => expectAllClose(state.m, clipped.m, 'm')).toThrow(/not close/);
    dispose(opt);
  });

  it('treats a parameter without a gradient as a zero gradient', async () => {
    const ref = new ReferenceAdamW(initial().map((x) => Float64Array.from(x)), { weightDecay: 0.2 });
    const opt = new AdamW(makeParams(initial()), { weightDecay: 0.2 });
    for (let s = 0; s < 3; s++) {
      const grads: (Float64Array | null)[] = gradsFor(s);
      grads[s + 1] = null;
      setGrads(opt, grads);
      opt.step(0.03);
      ref.step(grads, 0.03);
    }
    expectAllClose(await values(opt.params), ref.w, 'weights');
    dispose(opt);
  });

  it('takes gradients from backward()', async () => {
    const start = initial();
    const coef = gradsFor(0);
    const opt = new AdamW(makeParams(start), { maxGradNorm: 2 });
    E.tidy(() => {
      const terms = opt.params.map((p, i) => E.sum(E.mul(p, E.tensor(coef[i], p.shape))));
      E.backward(terms.reduce((a, b) => E.add(a, b)));
    });
    opt.step(0.01);
    const ref = new ReferenceAdamW(start.map((x) => Float64Array.from(x)), { maxGradNorm: 2 });
    ref.step(coef, 0.01);
    expectAllClose(await values(opt.params), ref.w, 'weights');
    let sq = 0;
    for (const c of coef) for (const x of c) sq += x * x;
    expectClose([await opt.gradNorm()], [Math.sqrt(sq)], 1e-6, 0, 'grad norm');
    dispose(opt);
  });
});

describe('AdamW step', () => {
  it('is one AdamW dispatch whatever the number of parameters, as long as they fit in one binding', async () => {
    const counts: number[] = [];
    for (const n of [1, SHAPES.length]) {
      const opt = new AdamW(makeParams(initial().slice(0, n)));
      expect(opt.groupCount).toBe(1);
      setGrads(opt, gradsFor(0).slice(0, n));
      const e = E.engine();
      const before = e.counters.dispatches;
      opt.step(0.01);
      counts.push(e.counters.dispatches - before);
      dispose(opt);
    }
    // two for the norm, one for the update, plus the NaN fills of the two new tensors in tests
    expect(counts).toEqual([5, 5]);
  });

  it('exported and imported state continues exactly like an uninterrupted run', async () => {
    const options: AdamWOptions = { weightDecay: 0.1, maxGradNorm: 1.5, decay: (_, i) => i !== 2 };
    const a = new AdamW(makeParams(initial()), options);
    for (let s = 0; s < 3; s++) {
      setGrads(a, gradsFor(s));
      a.step(LRS[s]);
    }
    const state = await a.exportState();
    const resumed = new AdamW(makeParams(await values(a.params)), options);
    resumed.importState(state);
    const fresh = new AdamW(makeParams(await values(a.params)), options);
    expect(resumed.stepCount).toBe(3);
    for (let s = 3; s < 5; s++) {
      for (const opt of [a, resumed, fresh]) {
        setGrads(opt, gradsFor(s));
        opt.step(LRS[s]);
      }
    }
    const [wa, wr, wf] = await Promise.all([a, resumed, fresh].map((o) => values(o.params)));
    wa.forEach((w, i) => expect(Array.from(wr[i])).toEqual(Array.from(w)));
    expect(wf.some((w, i) => w.some((x, j) => x !== wa[i][j]))).toBe(true);
    const [sa, sr] = await Promise.all([a.exportState(), resumed.exportState()]);
    expect(sr.step).toBe(5);
    sa.m.forEach((m, i) => expect(Array.from(sr.m[i])).toEqual(Array.from(m)));
    sa.v.forEach((v, i) => expect(Array.from(sr.v[i])).toEqual(Array.from(v)));
    [a, resumed, fresh].forEach(dispose);
  });

  it('sees parameters written between steps', async () => {
    const opt = new AdamW(makeParams(initial()));
    setGrads(opt, gradsFor(0));
    opt.step(0.01);
    // a checkpoint load writes new values into the parameters themselves, once the step has run
    await E.sync();
    const loaded = initial(50);
    opt.params.forEach((p, i) => E.engine().device.queue.writeBuffer(p.arg().buffer, 0, Float32Array.from(loaded[i])));
    const ref = new ReferenceAdamW(loaded.map((x) => Float64Array.from(x)), {});
    ref.step(gradsFor(0), 0);
    const state = await opt.exportState();
    ref.m = state.m.map((m) => Float64Array.from(m));
    ref.v = state.v.map((v) => Float64Array.from(v));
    opt.step(0.02);
    ref.step(gradsFor(0), 0.02);
    expectAllClose(await values(opt.params), ref.w, 'weights');
    dispose(opt);
  });

  it('zeroGrad disposes the gradients', () => {
    const opt = new AdamW(makeParams(initial()));
    setGrads(opt, gradsFor(0));
    const grads = opt.params.map((p) => p.grad!);
    opt.zeroGrad();
    expect(grads.every((g) => g.isDisposed)).toBe(true);
    expect(opt.params.every((p) => p.grad === null)).toBe(true);
    dispose(opt);
  });

  it('rejects what it cannot use', async () => {
    const p = makeParams(initial());
    expect(() => new AdamW([])).toThrow(/no parameters/);
    expect(() => new AdamW([p[0], p[1], p[0]])).toThrow(/parameter 2 \(Tensor\[1\] f32\) is listed twice/);
    expect(() => new AdamW([E.zeros([3])])).toThrow(/parameter 0 .* must be an f32 leaf tensor with requiresGrad/);
    expect(() => new AdamW(p, { beta2: 1 })).toThrow(/beta2 must be in \[0, 1\), got 1/);
    expect(() => new AdamW(p, { maxGradNorm: -1 })).toThrow(/maxGradNorm must be finite and >= 0/);
    expect(() => new AdamW(p, { maxFlatElements: 2 })).toThrow(/maxFlatElements must be an integer >= 4, got 2/);
    expect(() => new AdamW(p, { maxFlatElements: 100.5 })).toThrow(/maxFlatElements must be an integer >= 4, got 100.5/);
    const opt = new AdamW(p);
    expect(() => opt.step(0.1)).toThrow(/no parameter has a gradient; call backward\(\) first/);
    await expect(opt.gradNorm()).rejects.toThrow(/no step has been taken yet/);
    setGrads(opt, gradsFor(0));
    expect(() => opt.step(Number.NaN)).toThrow(/lr must be finite and >= 0, got NaN/);
    const state = await opt.exportState();
    expect(() => opt.importState({ ...state, m: state.m.slice(1) })).toThrow(/m has 5 arrays for 6 parameters/);
    expect(() => opt.importState({ ...state, v: state.v.map((v, i) => (i === 3 ? v.slice(1) : v)) })).toThrow(
      /v\[3\] has 65 values, parameter 3 is \[2,3,11\]/,
    );
    expect(() => opt.importState({ ...state, step: -1 })).toThrow(/invalid step -1/);
    dispose(opt);
  });
});

describe('AdamW in groups (parameters beyond one storage binding)', () => {
  // Segments of 12, 16, 8, 16, 12 and 12 elements: first-fit decreasing packs them into three
  // groups of at most 28, {1, 4}, {0, 3} and {2, 5}; with decay on even parameters only, every
  // group holds a decayed and an exempt one, and the first has to put parameter 4 before 1.
  const GROUPED = [[9], [5, 3], [6], [2, 7], [11], [3, 3]];
  const LIMIT = 28;
  const evenDecay = (_: E.Tensor, i: number) => i % 2 === 0;

  const bitwise = (got: Float32Array[], want: Float32Array[]) => got.forEach((g, i) => expect(Array.from(g)).toEqual(Array.from(want[i])));
  // With clipping the norm is summed in another order, so the scale may differ in its last bit.
  const nearly = (got: Float32Array[], want: Float32Array[], what: string) => expectAllClose(got, want, what, 1e-6, 1e-9);

  const cases: [string, AdamWOptions, number][] = [
    ['defaults', {}, 1],
    ['weight decay on some parameters only', { weightDecay: 0.5, decay: evenDecay }, 1],
    ['clipping, gradScale, weight decay on some parameters only', { maxGradNorm: 0.5, weightDecay: 0.1, decay: evenDecay }, 0.5],
  ];
  for (const [name, options, gradScale] of cases) {
    it(`${name}: same as one group and the float64 reference`, async () => {
      const start = initial(1, GROUPED);
      const ref = new ReferenceAdamW(start.map((x) => Float64Array.from(x)), options);
      const one = new AdamW(makeParams(start, GROUPED), options);
      const split = new AdamW(makeParams(start, GROUPED), { ...options, maxFlatElements: LIMIT });
      expect([one.groupCount, split.groupCount]).toEqual([1, 3]);
      const same = options.maxGradNorm ? nearly : bitwise;
      for (let s = 0; s < LRS.length; s++) {
        for (const opt of [one, split]) {
          setGrads(opt, gradsFor(s, GROUPED));
          opt.step(LRS[s], { gradScale });
        }
        ref.step(gradsFor(s, GROUPED), LRS[s], gradScale);
        const [w1, w3] = await Promise.all([values(one.params), values(split.params)]);
        expectAllClose(w3, ref.w, `${name} step ${s} weights`);
        same(w3, w1, `${name} step ${s} weights against one group`);
        expectClose([await split.gradNorm()], [await one.gradNorm()], 1e-6, 0, `${name} step ${s} grad norm`);
      }
      const [s1, s3] = await Promise.all([one.exportState(), split.exportState()]);
      expectAllClose(s3.m, ref.m, `${name} m`, 1e-5, 1e-7);
      expectAllClose(s3.v, ref.v, `${name} v`, 1e-5, 1e-9);
      same(s3.m, s1.m, `${name} m against one group`);
      same(s3.v, s1.v, `${name} v against one group`);
      [one, split].forEach(dispose);
    });
  }

  it('clips by the norm over all groups, not each group by its own', async () => {
    const options: AdamWOptions = { maxGradNorm: 1 };
    const split = new AdamW(makeParams(initial(1, GROUPED), GROUPED), { ...options, maxFlatElements: LIMIT });
    const grads = gradsFor(0, GROUPED);
    setGrads(split, grads);
    split.step(0.05);
    let sq = 0;
    for (const g of grads) for (const x of g) sq += x * x;
    expectClose([await split.gradNorm()], [Math.sqrt(sq)], 1e-6, 0, 'global norm');
    const ref = new ReferenceAdamW(initial(1, GROUPED).map((x) => Float64Array.from(x)), options);
    ref.step(grads, 0.05);
    expectAllClose((await split.exportState()).m, ref.m, 'm', 1e-5, 1e-7);
    dispose(split);
  });

  it('is one AdamW dispatch per group, after one partial sum per group and one finish for the norm', () => {
    const split = new AdamW(makeParams(initial(1, GROUPED), GROUPED), { maxFlatElements: LIMIT });
    setGrads(split, gradsFor(0, GROUPED));
    const e = E.engine();
    const before = e.counters.dispatches;
    split.step(0.01);
    // 3 partial sums, 1 finish, 3 updates, plus the NaN fills of the two new tensors in tests
    expect(e.counters.dispatches - before).toBe(9);
    dispose(split);
  });

  it('refuses a parameter larger than one flat tensor, naming its shape and the limit', () => {
    const p = makeParams(initial());
    expect(() => new AdamW(p, { maxFlatElements: 64 })).toThrow(
      /parameter 3 \[2,3,11\] has 66 elements, more than one flat tensor may hold \(64, the maxFlatElements option\)/,
    );
    E.dispose(p);
  });

  it('exports per parameter: state moves between groupings and resumes exactly', async () => {
    const options: AdamWOptions = { weightDecay: 0.1, maxGradNorm: 1.5, decay: evenDecay };
    const grouped = { ...options, maxFlatElements: LIMIT };
    const a = new AdamW(makeParams(initial(1, GROUPED), GROUPED), grouped);
    for (let s = 0; s < 3; s++) {
      setGrads(a, gradsFor(s, GROUPED));
      a.step(LRS[s]);
    }
    const state = await a.exportState();
    expect(state.m.map((m) => m.length)).toEqual(GROUPED.map(sizeOfShape));
    const resumed = new AdamW(makeParams(await values(a.params), GROUPED), grouped);
    const whole = new AdamW(makeParams(await values(a.params), GROUPED), options);
    resumed.importState(state);
    whole.importState(state);
    for (let s = 3; s < 5; s++) {
      for (const opt of [a, resumed, whole]) {
        setGrads(opt, gradsFor(s, GROUPED));
        opt.step(LRS[s]);
      }
    }
    const [wa, wr, ww] = await Promise.all([a, resumed, whole].map((o) => values(o.params)));
    bitwise(wr, wa);
    nearly(ww, wa, 'one group resumed from a grouped state');
    const [sa, sr] = await Promise.all([a.exportState(), resumed.exportState()]);
    expect(sr.step).toBe(5);
    bitwise(sr.m, sa.m);
    bitwise(sr.v, sa.v);
    [a, resumed, whole].forEach(dispose);
  });
});
