// model/cli.ts end to end, as a user runs it.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { withVocab } from '../../model/config.ts';
import { modelFiles } from '../../model/checkpoint.ts';
import { writeCheckpointDir, readCheckpointDir } from '../../model/checkpoint-dir.ts';
import { loadModel } from '../../model/checkpoint.ts';
import { greedyDecode } from '../../model/decode.ts';
import { readSafetensors, writeSafetensors } from '../../model/safetensors.ts';
import { T5 } from '../../model/t5.ts';
import { WordTokenizer } from '../../model/tokenizer.ts';
import { expectClose, setupEngine } from '../helpers.ts';

beforeAll(setupEngine);

const root = path.resolve(import.meta.dirname, '../..');
const cli = (...args: string[]) =>
  spawnSync(path.join(root, 'node_modules/.bin/tsx'), ['model/cli.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });

describe('model CLI', () => {
  it('prints the logits of a Hugging Face checkpoint directory', () => {
    const dir = path.join(root, 'test/fixtures/t5/tiny-relu');
    const ref = JSON.parse(readFileSync(path.join(dir, 'reference.json'), 'utf8'));
    // row 0 of the fixture batch is unpadded, so alone it gives the same logits
    const r = cli('logits', '--checkpoint', dir, '--input-ids', ref.input_ids[0].join(','), '--decoder-input-ids', ref.decoder_input_ids[0].join(','));
    expect(r.status, r.stderr).toBe(0);
    const logits = JSON.parse(r.stdout);
    expect(logits.length).toBe(ref.decoder_input_ids[0].length);
    expectClose(logits.flat(), ref.logits[0].flat(), 1e-4, 1e-5, 'CLI logits');
  });

  it('generates text from a saved checkpoint, the same as in-process decoding', async () => {
    const tok = WordTokenizer.fromTexts(['MAX 3 4 ] Final answer: 4']);
    const model = T5.init(withVocab('tiny', tok.vocabSize), 5);
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'ckpt-')), 'model');
    await writeCheckpointDir(dir, await modelFiles(model, tok));
    const r = cli('generate', '--checkpoint', dir, '--text', 'MAX 3 4 ]', '--max-new-tokens', '6');
    expect(r.status, r.stderr).toBe(0);
    const { model: again, tokenizer } = loadModel((await readCheckpointDir(dir))!, dir);
    const [ids] = await greedyDecode(again, [tokenizer!.encode('MAX 3 4 ]', { addEos: true })], { maxNewTokens: 6 });
    expect(r.stdout.replace(/\n$/, '')).toBe(tokenizer!.decode(ids, { skipSpecial: true }));
  });

  it('says what is wrong with bad arguments', () => {
    const r = cli('logits', '--checkpoint', 'nowhere', '--input-ids', '1', '--decoder-input-ids', '0');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/nowhere: no such directory/);
    const u = cli('logits', '--bogus', '1');
    expect(u.stderr).toMatch(/unknown option --bogus; valid options: --checkpoint, --input-ids, --decoder-input-ids/);
  });

  it.each([
    [['logits', '--input-ids', '', '--decoder-input-ids', '0'], '--input-ids must be comma-separated non-negative decimal integers, got an empty item at position 1 of ""'],
    [['logits', '--input-ids', '1,,2', '--decoder-input-ids', '0'], 'got an empty item at position 2 of "1,,2"'],
    [['logits', '--input-ids', '0x10', '--decoder-input-ids', '0'], 'got "0x10" at position 1'],
    [['logits', '--input-ids', '1', '--decoder-input-ids', '0', '--input-ids=99999'], '--input-ids: token id 99999 is outside the vocabulary'],
    [['generate', '--text', 'x', '--max-new-tokens', 'abc'], 'generate: --max-new-tokens must be an integer >= 1, got "abc"'],
    [['generate', '--text', 'x', '--beams', 'abc'], 'generate: --beams must be an integer >= 1, got "abc"'],
    [['generate', '--text', ' '], '--text is empty; give the source text to generate from'],
  ])('refuses %j', (args, message) => {
    const r = cli(args[0], '--checkpoint', path.join(root, 'test/fixtures/t5/tiny-relu'), ...args.slice(1));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
  });

  it('reads a cloned Hub folder: subfolders and other weight formats are left alone', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'clone-'));
    cpSync(path.join(root, 'test/fixtures/t5/tiny-relu'), dir, { recursive: true });
    mkdirSync(path.join(dir, '.git', 'objects'), { recursive: true });
    mkdirSync(path.join(dir, 'onnx'));
    writeFileSync(path.join(dir, 'pytorch_model.bin'), 'not read');
    const r = cli('logits', '--checkpoint', dir, '--input-ids', '1,2', '--decoder-input-ids', '0');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveLength(1);
  });

  it('refuses weights that are not finite, naming the tensor', async () => {
    const tok = WordTokenizer.fromTexts(['a b']);
    const model = T5.init(withVocab('tiny', tok.vocabSize), 5);
    const files = await modelFiles(model, tok);
    const weights = readSafetensors(files['model.safetensors'], 'm');
    const tensors = [...weights].map(([name, t], i) => [name, { shape: t.shape, data: i === 0 ? t.data.map(() => NaN) : t.data }] as const);
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'nan-')), 'model');
    await writeCheckpointDir(dir, { ...files, 'model.safetensors': writeSafetensors(new Map(tensors)) });
    const r = cli('logits', '--checkpoint', dir, '--input-ids', '1', '--decoder-input-ids', '0');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${dir}/model.safetensors: tensor ${tensors[0][0]} holds NaN at element 0; its values must be finite`);
    expect(r.stdout).toBe('');
  });

  it('names the file of a malformed tokenizer.json', async () => {
    const tok = WordTokenizer.fromTexts(['a b']);
    const files = await modelFiles(T5.init(withVocab('tiny', tok.vocabSize), 5), tok);
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'tok-')), 'model');
    await writeCheckpointDir(dir, { ...files, 'tokenizer.json': new TextEncoder().encode('{"type": "word", "tokens": [1, 2]}') });
    const r = cli('generate', '--checkpoint', dir, '--text', 'a');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`error: ${dir}/tokenizer.json: tokens must be an array of strings\n`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
