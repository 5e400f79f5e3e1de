// What a grid file may say, as one schema. The types the rest of the code uses are inferred from
// it, so the checker and the types cannot drift apart. Every object is strict: a key the schema
// does not know is an error that names its place and the nearest valid key, because a misspelt
// setting that is silently ignored changes the experiment without a word.
//
// The schema checks each value on its own; checkGridFile() adds the rules that join fields
// (warmup within the run, table fields that exist, task options the task knows) and reports every
// problem with the file and the key path, before anything trains.

import { z } from 'zod';
import { EXPLANATION_FORMATS } from './tasks/explain.ts';
import { TASK_NAMES, createTask, type TaskName } from './tasks/dataset.ts';
import { PRESET_NAMES, type PresetName } from '../model/config.ts';
import { isHubRef, parseHubRef } from '../model/hub-ref.ts';
import { stepCounts } from '../training/schedule.ts';
import { checkTableSpec } from './report/table.ts';

/** A model size trained from scratch, or a pretrained model on the Hub to fine-tune: `hf:OWNER/NAME[@REVISION]`. */
export type ModelName = PresetName | `hf:${string}`;

export const isModelName = (m: unknown): m is ModelName => typeof m === 'string' && (PRESET_NAMES.includes(m as PresetName) || (isHubRef(m) && validRef(m)));

function validRef(m: string): boolean {
  try {
    parseHubRef(m);
    return true;
  } catch {
    return false;
  }
}

// ---- Values, each with the message a person reads when it is wrong ----

const says = (what: string) => ({ error: `must be ${what}` });
const positiveInt = () => z.number(says('a positive integer')).int(says('a positive integer')).positive(says('a positive integer'));
const countFrom0 = () => z.number(says('an integer >= 0')).int(says('an integer >= 0')).min(0, says('an integer >= 0'));
const atLeast0 = () => z.number(says('a number >= 0')).finite(says('a number >= 0')).min(0, says('a number >= 0'));
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) => z.enum(values, says(`one of ${values.join(', ')}`));
const oneOrMany = <T extends z.ZodType>(item: T, what: string) => z.union([item, z.array(item).min(1)], says(`${what} or a non-empty list of them`));
const options = () => z.record(z.string(), z.unknown(), says('an object of task options'));

/** The distance between two keys in single-letter edits, to suggest the key that was meant. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/** The valid key nearest to `key`, if one is near enough to be a slip of the keyboard. */
export function nearestKey(key: string, valid: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const v of valid) {
    const d = v.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, v);
    if (d < bestDistance) [best, bestDistance] = [v, d];
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** A strict object: unknown keys are named with the nearest valid one and the list of all. */
function strict<S extends z.ZodRawShape>(shape: S) {
  const valid = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code === 'unrecognized_keys') {
        return issue.keys
          .map((k) => {
            const near = nearestKey(k, valid);
            return `unknown key "${k}"${near ? ` (did you mean "${near}"?)` : ''}`;
          })
          .concat(`valid keys: ${valid.join(', ')}`)
          .join('; ');
      }
      return issue.code === 'invalid_type' ? 'must be an object' : undefined;
    },
  });
}

// ---- The grid ----

export const trainingSchema = strict({
  batchSize: positiveInt(),
  epochs: positiveInt(),
  /** Cap on optimizer steps, whatever the epochs. */
  maxSteps: positiveInt().optional(),
  lr: z.number(says('a positive number')).finite(says('a positive number')).positive(says('a positive number')),
  schedule: oneOf(['constant', 'linear', 'step']),
  /** For 'linear': steps of warmup from 0 to lr. */
  warmupSteps: countFrom0().optional(),
  /** For 'step': lr x 0.1 every this many epochs (the authors used 2). */
  decayEveryEpochs: positiveInt().optional(),
  weightDecay: atLeast0(),
  maxGradNorm: atLeast0(),
  /** Steps between validation evaluations. */
  evalEvery: positiveInt(),
  /** Evaluations without improvement before stopping early (0 = never). */
  patience: countFrom0(),
  maxNewTokens: positiveInt(),
  /** Overrides the model preset's dropout. */
  dropout: z.number(says('a probability in [0, 1)')).min(0, says('a probability in [0, 1)')).lt(1, says('a probability in [0, 1)')).optional(),
  /** Tokens kept of each source and target (the rest is cut, the final </s> kept), as the authors' tokenizer did at 512. */
  maxLength: z.number(says('an integer >= 2')).int(says('an integer >= 2')).min(2, says('an integer >= 2')).optional(),
});

/** Where a cell's model starts: trained from scratch (the default), or the weights and tokenizer
 *  of a pretrained model, a folder (`npm run pretrain` writes one) or `hf:OWNER/NAME[@REVISION]`. */
export const SCRATCH = 'scratch';

/** Why `init` is not a valid starting point, or null. A folder is not looked at here (the page
 *  runs this too): the run checks it before anything trains (experiments/pretrained.ts). */
export function initProblem(init: string): string | null {
  if (init === SCRATCH) return null;
  if (init.trim() === '') return 'must be "scratch", a model folder or hf:OWNER/NAME[@REVISION]';
  if (isHubRef(init)) return validRef(init) ? null : 'must be hf:OWNER/NAME[@REVISION]';
  // A bare word near "scratch" is a slip of the keyboard, not a folder of that name.
  if (!/[\\/.]/.test(init) && nearestKey(init, [SCRATCH])) return `unknown starting point "${init}" (did you mean "${SCRATCH}"?); a model folder is written as a path, e.g. ./${init}`;
  return null;
}

const initSpec = z.string(says('"scratch", a model folder or hf:OWNER/NAME[@REVISION]')).superRefine((v, ctx) => {
  const problem = initProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const modelName = z.custom<ModelName>(isModelName, says(`one of ${PRESET_NAMES.join(', ')} or hf:OWNER/NAME[@REVISION]`));

/** One line of a grid: each field may list several values, and every combination runs. */
export const armSchema = strict({
  explanation: oneOrMany(oneOf(EXPLANATION_FORMATS), `one of ${EXPLANATION_FORMATS.join(', ')}`),
  model: oneOrMany(modelName, `one of ${PRESET_NAMES.join(', ')} or hf:OWNER/NAME[@REVISION]`),
  trainSize: oneOrMany(positiveInt(), 'a positive integer'),
  /** Where the model starts: "scratch" (the default), a pretrained model folder (relative to the
   *  repository in a built-in grid, to the grid file's folder in a grid file) or hf:OWNER/NAME;
   *  the folder's model must be the arm's model size. Several starting points compare. */
  init: oneOrMany(initSpec, '"scratch", a model folder or hf:OWNER/NAME[@REVISION]').optional(),
  /** Training settings over the preset's for this arm's cells: a learning rate chosen for them
   *  on validation, or the steps their data size needs. */
  training: trainingSchema.partial().optional(),
});

export const presetSchema = strict({
  description: z.string(says('a string')),
  task: oneOf(TASK_NAMES),
  /** Task options for every split. */
  taskOptions: options(),
  /** Extra task options for the training and validation splits only. */
  trainOptions: options().optional(),
  /** Test sets by name, each with task options over taskOptions. */
  tests: z.record(z.string(), options(), says('an object of test sets')).refine((t) => Object.keys(t).length > 0, says('an object of at least one test set')),
  validationSize: positiveInt(),
  testSize: positiveInt(),
  seeds: positiveInt(),
  arms: z.array(armSchema, says('a non-empty list of arms')).min(1, says('a non-empty list of arms')),
  training: trainingSchema,
  table: strict({ rows: z.array(z.string(says('a field name')), says('a list of field names')), columns: z.string(says('a field name')) }),
  /** Accuracy of guessing, drawn on charts. */
  chance: z.number(says('a probability in [0, 1]')).min(0, says('a probability in [0, 1]')).max(1, says('a probability in [0, 1]')).optional(),
});

export const gridSchema = strict({
  description: z.string(says('a string')).optional(),
  presets: z.record(z.string(), presetSchema, says('an object of named presets, e.g. {"tiny": {...}}')).refine((p) => Object.keys(p).length > 0, says('an object of named presets, e.g. {"tiny": {...}}')),
});

export type TrainingSettings = z.infer<typeof trainingSchema>;
export type Arm = z.infer<typeof armSchema>;
export type GridPreset = z.infer<typeof presetSchema>;

// ---- Checking a file ----

/** `presets.quick.arms.0.lr` as a person reads it: `arms[0].lr` under its preset. */
function where(file: string, path: readonly PropertyKey[]): string {
  if (path[0] !== 'presets' || path.length < 2) return `${file}${path.length ? `: ${keyPath(path)}` : ''}`;
  return `${file} preset ${String(path[1])}${path.length > 2 ? `: ${keyPath(path.slice(2))}` : ''}`;
}

const keyPath = (path: readonly PropertyKey[]) => path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('');

/** The problems with one preset that join its fields; each as [key path, message]. */
function crossFieldProblems(p: GridPreset): [string, string][] {
  const problems: [string, string][] = [];
  try {
    checkTableSpec(p.table);
  } catch (e) {
    problems.push(['table', (e as Error).message.replace(/^table spec: /, '')]);
  }
  const task = (at: string, o: Record<string, unknown>) => {
    try {
      createTask(p.task as TaskName, o);
    } catch (e) {
      problems.push([at, (e as Error).message]);
    }
  };
  task(p.trainOptions ? 'trainOptions' : 'taskOptions', { ...p.taskOptions, ...p.trainOptions });
  for (const [name, o] of Object.entries(p.tests)) task(`tests.${name}`, { ...p.taskOptions, ...o });
  p.arms.forEach((arm, i) => {
    const pretrainedInit = [arm.init ?? []].flat().find((x) => x !== SCRATCH);
    const hubModel = [arm.model].flat().find((m) => isHubRef(m));
    if (pretrainedInit && hubModel) problems.push([`arms[${i}].init`, `${pretrainedInit} cannot start ${hubModel}, which is a pretrained model already; init starts a model size (${PRESET_NAMES.join(', ')})`]);
    const t = { ...p.training, ...arm.training };
    const at = arm.training ? `arms[${i}].training (over training)` : 'training';
    if (t.warmupSteps !== undefined && t.schedule !== 'linear') problems.push([at, `warmupSteps applies to the linear schedule only, not to ${t.schedule}`]);
    if (t.decayEveryEpochs !== undefined && t.schedule !== 'step') problems.push([at, `decayEveryEpochs applies to the step schedule only, not to ${t.schedule}`]);
    for (const n of [arm.trainSize].flat()) {
      const total = stepCounts({ examples: n, batchSize: t.batchSize, maxEpochs: t.epochs, maxSteps: t.maxSteps }).total;
      if (t.schedule === 'linear' && (t.warmupSteps ?? 0) >= total) problems.push([at, `warmupSteps ${t.warmupSteps} is not below the ${total} steps that ${n} training examples run for`]);
    }
  });
  return problems;
}

const shortJson = (v: unknown) => {
  const text = JSON.stringify(v);
  return text.length <= 60 ? text : `${text.slice(0, 57)}...`;
};

/** A parsed grid file, checked whole: every problem in it, with the file and the key path, in
 *  one error. */
export function checkGridFile(raw: unknown, file: string): z.infer<typeof gridSchema> {
  const parsed = gridSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    // An unknown key first: a misspelt key usually explains the missing one reported beside it.
    const issues = [...parsed.error.issues].sort((a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'));
    const lines = issues.map((issue) => {
      const got = 'input' in issue && issue.code !== 'unrecognized_keys' && issue.input !== undefined ? `, got ${shortJson(issue.input)}` : '';
      const missing = issue.code === 'invalid_type' && issue.input === undefined ? ' (missing)' : '';
      return `${where(file, issue.path)}: ${issue.message}${missing}${got}`;
    });
    throw new Error(lines.join('\n'));
  }
  const lines = Object.entries(parsed.data.presets).flatMap(([name, p]) => crossFieldProblems(p).map(([at, message]) => `${file} preset ${name}: ${at}: ${message}`));
  if (lines.length > 0) throw new Error(lines.join('\n'));
  return parsed.data;
}
