// One grid cell without the file system (experiments/cell.ts), as the runner and the browser
// worker both use it: started from saved model files, it is the same model.

import { beforeAll, expect, it } from 'vitest';
import { cellsOf, loadGrid, presetOf } from '../../experiments/grid.ts';
import { prepareCell, testCell } from '../../experiments/cell.ts';
import { modelFiles } from '../../model/checkpoint.ts';
import { setupEngine } from '../helpers.ts';

beforeAll(setupEngine);

const p = presetOf(loadGrid('explanations'), 'tiny');
const cell = cellsOf(p).find((c) => c.explanation === 'medium')!;

it('started from saved model files, scores and generates exactly as the model it was saved from', async () => {
  const trained = prepareCell(p, cell);
  const result = await trained.trainer.run();
  const files = await modelFiles(trained.model, trained.tokenizer);
  const before = await testCell(trained, cell, result);
  const loaded = prepareCell(p, cell, files);
  expect(loaded.params).toBe(trained.params);
  const after = await testCell(loaded, cell, result);
  expect(after).toEqual(before);
  expect(before.rows[0]).toMatchObject({ task: 'listops', explanation: 'medium', model: 'tiny', trainSize: 16, steps: result.steps });
  expect(before.samples[0].reference).toMatch(/Final answer: \d/);
  for (const c of [trained, loaded]) {
    c.trainer.optimizer.dispose();
    c.model.dispose();
  }
});

it('refuses model files without a tokenizer', async () => {
  const c = prepareCell(p, cell);
  const { 'tokenizer.json': _, ...files } = await modelFiles(c.model, c.tokenizer);
  expect(() => prepareCell(p, cell, files)).toThrow(/no tokenizer\.json or spiece\.model/);
  c.trainer.optimizer.dispose();
  c.model.dispose();
});
