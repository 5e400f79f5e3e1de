// Trains and tests one cell of a run into its folder, cells/<cell>/: resumed from its checkpoint
// when it has one, every training step and evaluation appended to a metrics file, its progress
// logged, and at the end its trained model, samples, predictions and result.json. result.json is
// written last and is what marks the cell finished. The training and scoring themselves are
// cell.ts's, which the browser page shares; this file adds the files and the logs. Whichever
// scheduler runs a grid (schedulers/), its cells are trained by trainCell().

import { appendFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { GPUOutOfMemoryError } from '../engine/index.ts';
import { readCheckpointDir, writeCheckpointDir } from '../model/checkpoint-dir.ts';
import { modelFiles } from '../model/checkpoint.ts';
import { TrainingDivergedError, type CheckpointStore, type Trainer } from '../training/trainer.ts';
import { evalRecord, prepareCell, stepRecord, testCell } from './cell.ts';
import { trainingOf, type Cell, type Grid, type GridPreset } from './grid.ts';
import { cellCheckpoint } from './pretrained.ts';
import type { ResultRow } from './report/stats.ts';
import { fmtTime, readJson, repairTornTail, writeAtomic } from './run-folder.ts';

/** A finished cell's result.json. */
export interface CellResult {
  cell: Cell;
  rows: ResultRow[];
}

/** The folder of `cell` in the run folder `runDir`. */
export const cellDir = (runDir: string, cell: Cell) => path.join(runDir, 'cells', cell.id);

/** The cell's result.json, or null while the cell is unfinished (a torn file counts as none). */
export const readResult = (runDir: string, cell: Cell): Promise<CellResult | null> => readJson(path.join(cellDir(runDir, cell), 'result.json'));

/** Where and how one cell trains. */
export interface CellJob {
  /** The grid, whose folder a cell's init folder is relative to. */
  grid: Pick<Grid, 'dir'>;
  /** The cell's folder, cells/<cell>/ of the run folder. */
  dir: string;
  /** The folder whose metrics.jsonl gets the cell's lines: the run's, or the cell's own. */
  metricsDir: string;
  /** How the cell's log lines start (`[grid preset] cell 3/16 medium tiny n=2000 seed 1`). */
  tag: string;
  log: (line: string) => void;
  /** The end of a progress line that gives the grid's time left (timing.ts's gridLeft). */
  gridEta: () => string;
  /** A checkpoint that cannot be read is deleted and the cell starts over, instead of stopping the run. */
  restartDamaged: boolean;
}

function fsStore(dir: string): CheckpointStore {
  return {
    save: (name, files) => writeCheckpointDir(path.join(dir, name), files),
    load: (name) => readCheckpointDir(path.join(dir, name)),
  };
}

/** Resumes the cell from its checkpoint, if it has one; a damaged one stops the run naming it,
 *  or with `restart`, is deleted and the cell starts over. */
async function resumeCell(trainer: Trainer, store: CheckpointStore, checkpoint: string, restart: boolean, tag: string, log: (l: string) => void): Promise<boolean | 'restart'> {
  try {
    return await trainer.resume(store, 'checkpoint');
  } catch (e) {
    const why = `${checkpoint} is damaged (${(e as Error).message})`;
    if (!restart) {
      throw new Error(`${why}. To train this cell again from its first step, delete that folder or run the same command with --restart-damaged; the finished cells are kept.`);
    }
    log(`${tag}: ${why}; restarting the cell from its first step (--restart-damaged)`);
    await rm(checkpoint, { recursive: true, force: true });
    return 'restart';
  }
}

/** Trains and tests `cell` of preset `p` into `job.dir`; returns its result rows, one per test set. */
export async function trainCell(p: GridPreset, cell: Cell, job: CellJob): Promise<ResultRow[]> {
  const { dir, tag, log } = job;
  await mkdir(dir, { recursive: true });
  const store = fsStore(dir);
  const pretrained = await cellCheckpoint(job.grid, cell, (l) => log(`${tag}: ${l}`));
  let prepared = prepareCell(p, cell, pretrained);
  const resumed = await resumeCell(prepared.trainer, store, path.join(dir, 'checkpoint'), job.restartDamaged, tag, log);
  if (resumed === 'restart') {
    // A failed resume may have loaded part of the checkpoint: start from a fresh model.
    prepared.trainer.optimizer.dispose();
    prepared.model.dispose();
    prepared = prepareCell(p, cell, pretrained);
  }
  const { model, tokenizer, trainer, params } = prepared;
  const t = trainingOf(p, cell);
  log(`${tag}: model ${cell.model}, ${params.toLocaleString('en-US')} parameters, vocabulary ${tokenizer.vocabSize}`);
  for (const note of prepared.notes) log(`${tag}: ${note}`);
  if (resumed === true) log(`${tag}: resumed at step ${trainer.step}`);
  const metricsFile = path.join(job.metricsDir, 'metrics.jsonl');
  // A cell's own metrics file (sharded runs) may end in a line a kill cut short; the run's
  // metrics.jsonl is repaired once, when the run starts, since workers may be appending to it.
  if (job.metricsDir === dir) await repairTornTail(metricsFile, log);
  let lastPrint = 0;
  const result = await trainer
    .run({
      store: { save: (_, files) => store.save('checkpoint', files), load: () => store.load('checkpoint') },
      onProgress: async (pr) => {
        await appendFile(metricsFile, JSON.stringify(stepRecord(cell, pr)) + '\n');
        const now = performance.now();
        if (now - lastPrint > 5000 || pr.step === pr.totalSteps) {
          lastPrint = now;
          const acc = pr.valAccuracy === null ? '' : ` val ${(pr.valAccuracy * 100).toFixed(1)}%`;
          log(`${tag}: step ${pr.step}/${pr.totalSteps} loss ${pr.loss.toFixed(3)} ${Math.round(pr.tokensPerSecond)} tok/s${acc} | cell left ~${fmtTime(pr.etaSeconds)}${job.gridEta()}`);
        }
      },
      onEval: async (r) => {
        await appendFile(metricsFile, JSON.stringify(evalRecord(cell, r)) + '\n');
        log(`${tag}: step ${r.step} validation accuracy ${(r.valAccuracy * 100).toFixed(1)}%${r.best ? ' (best)' : ''}`);
      },
    })
    .catch((e) => {
      if (e instanceof GPUOutOfMemoryError) {
        throw new GPUOutOfMemoryError(`${tag}: ${e.message} Here: lower training.batchSize (${t.batchSize}) or use a smaller model than ${cell.model}.`);
      }
      if (e instanceof TrainingDivergedError) throw new TrainingDivergedError(`cell ${cell.id}: ${e.message} (training.lr is ${t.lr}); the finished cells are kept`);
      throw e;
    });
  await trainer.restoreBest();
  const { rows, samples, predictions } = await testCell(prepared, cell, result, (name, r) => {
    log(`${tag}: test ${name} accuracy ${(r.accuracy * 100).toFixed(1)}% (${r.correct}/${r.total})`);
  });
  // The trained model (best validation weights) stays, ready for `model/cli.ts generate`; the
  // training checkpoint, three times its size with the optimizer state, goes once the result is safe.
  await writeCheckpointDir(path.join(dir, 'model'), await modelFiles(model, tokenizer));
  trainer.optimizer.dispose();
  model.dispose();
  await writeAtomic(path.join(dir, 'samples.json'), JSON.stringify(samples, null, 2));
  await writeAtomic(path.join(dir, 'predictions.jsonl'), predictions.map((l) => JSON.stringify(l) + '\n').join(''));
  const finished: CellResult = { cell, rows };
  await writeAtomic(path.join(dir, 'result.json'), JSON.stringify(finished, null, 2));
  await rm(path.join(dir, 'checkpoint'), { recursive: true, force: true });
  return rows;
}
