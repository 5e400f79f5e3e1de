// Learning-rate schedules: pure functions from the step (the 0-based index of the update about
// to be taken, i.e. the optimizer's stepCount before the step) to the learning rate, so a resumed
// run gets exactly the rates the uninterrupted one would have.

export type Schedule = (step: number) => number;

export type ScheduleConfig =
  | { type: 'constant'; lr: number }
  | {
      /** Linear warmup from 0 over `warmupSteps` steps, then linear decay to `floor` (default 0) at `totalSteps`. */
      type: 'linear';
      lr: number;
      warmupSteps: number;
      totalSteps: number;
      floor?: number;
    }
  | {
      /** lr * factor^k during the k-th block of `everyEpochs` epochs (the authors': factor 0.1). */
      type: 'step';
      lr: number;
      stepsPerEpoch: number;
      everyEpochs: number;
      factor?: number;
    };

export function constantSchedule(lr: number): Schedule {
  checkRate('constant', 'lr', lr);
  return (step) => {
    checkStep('constant', step);
    return lr;
  };
}

/**
 * Warmup: step s < W gets lr (s + 1) / (W + 1), so the first update is not wasted at rate 0 and
 * the ramp meets the peak at s = W. Decay: s >= W gets floor + (lr - floor) (T - s) / (T - W),
 * reaching `floor` at s = T and staying there.
 */
export function linearSchedule(o: { lr: number; warmupSteps: number; totalSteps: number; floor?: number }): Schedule {
  const { lr, warmupSteps: w, totalSteps: total, floor = 0 } = o;
  checkRate('linear', 'lr', lr);
  checkRate('linear', 'floor', floor);
  if (floor > lr) throw new Error(`linear schedule: floor ${floor} is above lr ${lr}`);
  checkCount('linear', 'warmupSteps', w, 0);
  checkCount('linear', 'totalSteps', total, 1);
  if (w >= total) throw new Error(`linear schedule: warmupSteps ${w} must be below totalSteps ${total}`);
  return (step) => {
    checkStep('linear', step);
    if (step < w) return (lr * (step + 1)) / (w + 1);
    if (step >= total) return floor;
    return floor + ((lr - floor) * (total - step)) / (total - w);
  };
}

/** lr * factor^floor(epoch / everyEpochs), with epoch = floor(step / stepsPerEpoch). */
export function stepSchedule(o: { lr: number; stepsPerEpoch: number; everyEpochs: number; factor?: number }): Schedule {
  const { lr, stepsPerEpoch, everyEpochs, factor = 0.1 } = o;
  checkRate('step', 'lr', lr);
  checkCount('step', 'stepsPerEpoch', stepsPerEpoch, 1);
  checkCount('step', 'everyEpochs', everyEpochs, 1);
  if (!(factor > 0 && factor <= 1)) throw new Error(`step schedule: factor must be in (0, 1], got ${factor}`);
  return (step) => {
    checkStep('step', step);
    const epoch = Math.floor(step / stepsPerEpoch);
    return lr * factor ** Math.floor(epoch / everyEpochs);
  };
}

export function makeSchedule(config: ScheduleConfig): Schedule {
  switch (config.type) {
    case 'constant':
      return constantSchedule(config.lr);
    case 'linear':
      return linearSchedule(config);
    case 'step':
      return stepSchedule(config);
    default:
      throw new Error(`unknown schedule type ${JSON.stringify((config as { type: unknown }).type)}; expected constant, linear or step`);
  }
}

function checkRate(kind: string, name: string, x: number): void {
  if (!(x >= 0 && Number.isFinite(x))) throw new Error(`${kind} schedule: ${name} must be finite and >= 0, got ${x}`);
}

function checkCount(kind: string, name: string, x: number, min: number): void {
  if (!Number.isInteger(x) || x < min) throw new Error(`${kind} schedule: ${name} must be an integer >= ${min}, got ${x}`);
}

function checkStep(kind: string, step: number): void {
  if (!Number.isInteger(step) || step < 0) throw new Error(`${kind} schedule: step must be an integer >= 0, got ${step}`);
}

/**
 * How many optimizer steps a run of `examples` training examples takes: per epoch (batches,
 * `gradAccumulation` of them to a step) and in all (`maxEpochs` epochs, capped by `maxSteps`).
 * The trainer runs exactly these; the page and the step schedule count with them beforehand.
 */
export function stepCounts(o: { examples: number; batchSize: number; gradAccumulation?: number; maxEpochs: number; maxSteps?: number }): { perEpoch: number; total: number } {
  const perEpoch = Math.ceil(Math.ceil(o.examples / o.batchSize) / (o.gradAccumulation ?? 1));
  return { perEpoch, total: Math.min(o.maxSteps ?? Infinity, perEpoch * o.maxEpochs) };
}
