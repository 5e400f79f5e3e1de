// Task registry and seeded train/validation/test splits. Validation and test hold no source that
// appears in train or in each other, so scores measure generalization, not recall.

import { explainListOps, explainModSum, type ExplanationFormat } from './explain.ts';
import {
  DEFAULT_LISTOPS_OPTIONS,
  applyOp,
  LISTOPS_PRESETS,
  depthOf,
  evaluate,
  generateTree,
  parse,
  resolveListOpsOptions,
  serialize,
  sourceLength,
  type ListOpsOptions,
} from './listops.ts';
import {
  DEFAULT_MODSUM_OPTIONS,
  MODSUM_DESCRIPTION,
  generateModSum,
  modSumAnswer,
  resolveModSumOptions,
  serializeModSum,
  type ModSumOptions,
} from './modsum.ts';
import { Rng, deriveSeed } from '../../engine/index.ts';

export const TASK_NAMES = ['listops', 'listops30', 'modsum'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

export interface Example {
  source: string;
  answer: number;
  target?: string;
  /** Operator nesting depth (1 for modsum). */
  depth: number;
  /** What the task's length bounds measure: source tokens for ListOps, list length for modsum. */
  length: number;
}

export interface TaskOptionsMap {
  listops: Partial<ListOpsOptions>;
  listops30: Partial<ListOpsOptions>;
  modsum: Partial<ModSumOptions> & { length?: number };
}

export interface Task {
  name: TaskName;
  description: string;
  /** Draws one example; with a format, also its explanation target. */
  generate(rng: Rng, format?: ExplanationFormat): Example;
  /**
   * A baseline that reads the source without solving it, if the task has one worth beating:
   * for ListOps, the root operator applied to its direct digits, nested expressions ignored
   * (null when the root has no direct digit).
   */
  shortcut?(source: string): number | null;
  /** The operator at the root of a source, for breakdowns by operator (ListOps). */
  rootOperator?(source: string): string;
}

// Misspelt options would otherwise be ignored silently and change the experiment.
function checkOptionNames(task: TaskName, options: object, valid: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!valid.includes(key)) throw new Error(`unknown option "${key}" for task ${task}; valid options: ${valid.join(', ')}`);
  }
}

export function createTask<N extends TaskName>(taskName: N, options: TaskOptionsMap[N] = {}): Task {
  // A plain TaskName narrows in the branches below; the generic N does not.
  const name: TaskName = taskName;
  if (name === 'modsum') {
    checkOptionNames(name, options, [...Object.keys(DEFAULT_MODSUM_OPTIONS), 'length']);
    const o = resolveModSumOptions(options as TaskOptionsMap['modsum']);
    return {
      name,
      description: MODSUM_DESCRIPTION,
      generate(rng, format) {
        const digits = generateModSum(rng, o);
        const example: Example = { source: serializeModSum(digits), answer: modSumAnswer(digits), depth: 1, length: digits.length };
        if (format !== undefined) example.target = explainModSum(digits, format);
        return example;
      },
    };
  }
  if (name !== 'listops' && name !== 'listops30') throw new Error(`unknown task "${name}"; valid tasks: ${TASK_NAMES.join(', ')}`);
  checkOptionNames(name, options, Object.keys(DEFAULT_LISTOPS_OPTIONS));
  const preset = LISTOPS_PRESETS[name];
  const o = resolveListOpsOptions({ ...preset.options, ...(options as Partial<ListOpsOptions>) });
  return {
    name,
    description: preset.description,
    generate(rng, format) {
      const tree = generateTree(rng, o);
      const example: Example = {
        source: serialize(tree, o),
        answer: evaluate(tree, o.sumModulus),
        depth: depthOf(tree),
        length: sourceLength(tree, o.layout),
      };
      if (format !== undefined) example.target = explainListOps(tree, format, o.sumModulus);
      return example;
    },
    shortcut(source) {
      const root = parse(source);
      const digits = root.args.filter((a): a is number => typeof a === 'number');
      return digits.length === 0 ? null : applyOp(root.op, digits, o.sumModulus);
    },
    rootOperator: (source) => parse(source).op,
  };
}

export const SPLIT_NAMES = ['train', 'validation', 'test'] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];
export type Splits = Record<SplitName, Example[]>;

export interface SplitConfig<N extends TaskName> {
  task: N;
  seed: number;
  sizes: Record<SplitName, number>;
  options?: TaskOptionsMap[N];
  /** Per-split options over `options`, e.g. shallow train and deep test for a generalization run. */
  overrides?: Partial<Record<SplitName, TaskOptionsMap[N]>>;
  format?: ExplanationFormat;
  /** Sources that validation and test must not hold (another call's splits, say). */
  exclude?: ReadonlySet<string>;
}

/**
 * Each split draws from its own stream derived from the seed, so a split's examples do not
 * shift when another split's size changes (beyond the duplicates it must skip). Train may repeat
 * sources, as LRA's does; validation and test are distinct and disjoint from train and each other.
 */
export function generateSplits<N extends TaskName>(config: SplitConfig<N>): Splits {
  const seen = new Set<string>(config.exclude);
  const splits = {} as Splits;
  SPLIT_NAMES.forEach((split, index) => {
    const size = config.sizes[split];
    if (!Number.isInteger(size) || size < 0) throw new Error(`split size for ${split} must be a non-negative integer, got ${size}`);
    const task = createTask(config.task, { ...config.options, ...config.overrides?.[split] } as TaskOptionsMap[N]);
    const rng = new Rng(deriveSeed(config.seed, index));
    const examples: Example[] = [];
    if (split === 'train') {
      for (let i = 0; i < size; i++) examples.push(task.generate(rng, config.format));
      for (const e of examples) seen.add(e.source);
    } else {
      const maxAttempts = 50 * size + 1000;
      for (let attempt = 0; examples.length < size; attempt++) {
        if (attempt >= maxAttempts) {
          throw new Error(
            `${config.task}: found only ${examples.length} of ${size} ${split} examples not seen in earlier splits ` +
              `after ${maxAttempts} draws; the task's options allow too few distinct sources`,
          );
        }
        const e = task.generate(rng, config.format);
        if (seen.has(e.source)) continue;
        seen.add(e.source);
        examples.push(e);
      }
    }
    splits[split] = examples;
  });
  return splits;
}
