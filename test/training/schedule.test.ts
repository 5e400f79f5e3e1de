import { describe, expect, it } from 'vitest';
import { constantSchedule, linearSchedule, makeSchedule, stepCounts, stepSchedule } from '../../training/schedule.ts';

const at = (f: (s: number) => number, steps: number[]) => steps.map(f);

describe('learning-rate schedules', () => {
  it('constant', () => {
    expect(at(constantSchedule(3e-4), [0, 1, 1000])).toEqual([3e-4, 3e-4, 3e-4]);
  });

  it('linear: warmup to the peak at step W, then down to 0 at step T', () => {
    const f = linearSchedule({ lr: 1, warmupSteps: 4, totalSteps: 10 });
    const want = [0.2, 0.4, 0.6, 0.8, 1, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0, 0];
    at(f, [...Array(12).keys()]).forEach((x, i) => expect(x).toBeCloseTo(want[i], 15));
  });

  it('linear: decays to a floor; no warmup starts at the peak', () => {
    const f = linearSchedule({ lr: 0.5, warmupSteps: 0, totalSteps: 4, floor: 0.1 });
    // 0.1 + 0.4 * (4 - s) / 4
    at(f, [0, 1, 2, 3, 4, 9]).forEach((x, i) => expect(x).toBeCloseTo([0.5, 0.4, 0.3, 0.2, 0.1, 0.1][i], 15));
  });

  it("step: the authors' x0.1 every N epochs", () => {
    // 5 steps an epoch, decay every 2 epochs: steps 0-9 at 1e-3, 10-19 at 1e-4, 20-29 at 1e-5
    const f = stepSchedule({ lr: 1e-3, stepsPerEpoch: 5, everyEpochs: 2 });
    at(f, [0, 9, 10, 19, 20, 29, 30]).forEach((x, i) => expect(x).toBeCloseTo([1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5, 1e-6][i], 18));
    const half = stepSchedule({ lr: 1, stepsPerEpoch: 3, everyEpochs: 1, factor: 0.5 });
    expect(at(half, [0, 2, 3, 6, 8, 9])).toEqual([1, 1, 0.5, 0.25, 0.25, 0.125]);
  });

  it('makeSchedule builds each type from a config', () => {
    expect(makeSchedule({ type: 'constant', lr: 0.1 })(7)).toBe(0.1);
    expect(makeSchedule({ type: 'linear', lr: 1, warmupSteps: 1, totalSteps: 3 })(0)).toBe(0.5);
    expect(makeSchedule({ type: 'step', lr: 1, stepsPerEpoch: 2, everyEpochs: 1, factor: 0.5 })(2)).toBe(0.5);
    expect(() => makeSchedule({ type: 'cosine' } as never)).toThrow(/unknown schedule type "cosine"; expected constant, linear or step/);
  });

  it('rejects invalid settings and steps', () => {
    expect(() => constantSchedule(-1)).toThrow(/constant schedule: lr must be finite and >= 0, got -1/);
    expect(() => linearSchedule({ lr: 1, warmupSteps: 5, totalSteps: 5 })).toThrow(/warmupSteps 5 must be below totalSteps 5/);
    expect(() => linearSchedule({ lr: 1, warmupSteps: 0, totalSteps: 5, floor: 2 })).toThrow(/floor 2 is above lr 1/);
    expect(() => linearSchedule({ lr: 1, warmupSteps: 1.5, totalSteps: 5 })).toThrow(/warmupSteps must be an integer >= 0, got 1.5/);
    expect(() => stepSchedule({ lr: 1, stepsPerEpoch: 0, everyEpochs: 1 })).toThrow(/stepsPerEpoch must be an integer >= 1, got 0/);
    expect(() => stepSchedule({ lr: 1, stepsPerEpoch: 1, everyEpochs: 1, factor: 0 })).toThrow(/factor must be in \(0, 1\], got 0/);
    expect(() => constantSchedule(1)(-1)).toThrow(/step must be an integer >= 0, got -1/);
    expect(() => stepSchedule({ lr: 1, stepsPerEpoch: 1, everyEpochs: 1 })(0.5)).toThrow(/step must be an integer >= 0, got 0.5/);
  });
});

describe('stepCounts', () => {
  it('counts partial batches, accumulation and the step cap', () => {
    expect(stepCounts({ examples: 100, batchSize: 32, maxEpochs: 3 })).toEqual({ perEpoch: 4, total: 12 });
    expect(stepCounts({ examples: 100, batchSize: 32, gradAccumulation: 3, maxEpochs: 3 })).toEqual({ perEpoch: 2, total: 6 });
    expect(stepCounts({ examples: 2000, batchSize: 32, maxEpochs: 100, maxSteps: 800 })).toEqual({ perEpoch: 63, total: 800 });
  });
});
