import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAnswer } from '../../experiments/tasks/answer.ts';
import { readTsv } from '../../experiments/tasks/tsv.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const sampleFile = 'test/fixtures/authors-medium-sample.tsv';
const sample = readFileSync(path.join(repoRoot, sampleFile), 'utf8');

function cli(...args: string[]) {
  const r = spawnSync('npx', ['tsx', 'experiments/cli.ts', ...args], { cwd: repoRoot, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('cli render', () => {
  it('regenerates the authors\' sample byte for byte in medium', () => {
    const r = cli('render', '--format', 'medium', '--input', sampleFile);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(sample);
  });

  it('writes other formats with the same sources and answers', () => {
    const r = cli('render', '--format=short', '--input', sampleFile);
    expect(r.code).toBe(0);
    const out = readTsv(r.stdout, 'stdout').rows;
    const input = readTsv(sample, sampleFile).rows;
    expect(out.map((x) => x.source)).toEqual(input.map((x) => x.source));
    expect(out.map((x) => parseAnswer(x.target))).toEqual(input.map((x) => parseAnswer(x.target)));
    expect(out[0].target).toBe('MED, 6\nSUM, 6\nMIN, 6\nMED, 6\nMAX, 8\nFinal answer: 8');
  });

  it('keeps an LRA file in LRA format with recomputed answers', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'render-'));
    const file = path.join(dir, 'lra.tsv');
    writeFileSync(file, 'Source\tTarget\r\n( ( ( [SM 9 ) 9 ) ] )\t0\r\n[MED 4 9 ]\t0\r\nSUM 3 5 9 1\t0\r\n');
    const r = cli('render', '--format', 'none', '--input', file);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Source\tTarget\r\n( ( ( [SM 9 ) 9 ) ] )\t8\r\n[MED 4 9 ]\t6\r\nSUM 3 5 9 1\t8\r\n');
    const bad = cli('render', '--format', 'long', '--input', file);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/LRA TSV.*--format none/);
  });

  it('lists valid commands and options on misuse', () => {
    const unknown = cli('rendr');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "rendr"; valid commands: render/);
    const option = cli('render', '--fmt', 'medium', '--input', sampleFile);
    expect(option.code).toBe(2);
    expect(option.stderr).toMatch(/render: unknown option --fmt; valid options: --format, --input/);
    const format = cli('render', '--format', 'verbose', '--input', sampleFile);
    expect(format.stderr).toMatch(/render: --format must be one of none, short, medium, long, got "verbose"/);
    expect(cli('render', '--format', 'medium').stderr).toMatch(/missing --input/);
  });

  it('reports malformed input with file and line', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'render-'));
    const file = path.join(dir, 'bad.tsv');
    writeFileSync(file, '[MAX 1 2 ]\t2\n[MAX 1 2 ]\n');
    const r = cli('render', '--format', 'medium', '--input', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:2: expected source<TAB>target`);
  });
});

describe('cli train (on data files)', () => {
  it("trains on the authors' TSV and writes the model, metrics and results", () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'cli-train-')), 'run');
    const r = cli('train', '--train', sampleFile, '--validation', sampleFile, '--test', sampleFile, '--model', 'tiny', '--epochs', '2', '--batch-size', '4', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/model tiny: [\d,]+ parameters; 8 training examples/);
    expect(r.stdout).toMatch(/test accuracy \d+\.\d% \(\d+\/8\)/);
    const results = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(results).toMatchObject({ model: 'tiny', steps: 4, files: { train: sampleFile } });
    expect(results.testAccuracy).toBeGreaterThanOrEqual(0);
    expect(readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length).toBeGreaterThanOrEqual(4);
    expect(readFileSync(path.join(out, 'model', 'config.json'), 'utf8')).toMatch(/"model_type": "t5"/);
    const lines = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8');

    // the same --out again: refused, the folder as it was; with --overwrite: replaced whole,
    // one run's metrics and nothing of a leftover beside it
    const again = ['train', '--train', sampleFile, '--validation', sampleFile, '--model', 'tiny', '--epochs', '1', '--batch-size', '4', '--out', out];
    const refused = cli(...again);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`error: --out ${out} already holds metrics.jsonl, model, results.json; choose a new or empty folder, or pass --overwrite to replace what it holds`);
    expect(readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')).toBe(lines);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    mkdirSync(`${out}.tmp-${dead}`);
    const replaced = cli(...again, '--overwrite');
    expect(replaced.code, replaced.stderr).toBe(0);
    const records = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(records.filter((m) => m.loss !== undefined).map((m) => m.step)).toEqual([1, 2]);
    expect(JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8'))).toMatchObject({ steps: 2, files: { test: null } });
    expect(readdirSync(path.dirname(out))).toEqual(['run']);

    const file = path.join(path.dirname(out), 'a-file');
    writeFileSync(file, 'x');
    expect(cli('train', '--train', sampleFile, '--validation', sampleFile, '--out', file).stderr).toContain(`error: --out ${file}: it is a file, not a folder`);
  }, 120_000);

  it('names the file and line of a malformed example', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cli-bad-'));
    const bad = path.join(dir, 'bad.tsv');
    writeFileSync(bad, 'Source\tTarget\n[MAX 1 2 ]\t2\n[MIN 3 4 ] 3\n');
    const r = cli('train', '--train', bad, '--validation', bad, '--out', path.join(dir, 'out'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.tsv:3: /);
  }, 60_000);
});

describe('bad data files: an error naming the file, the line and the rule', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cli-inputs-'));
  const file = (name: string, text: string) => {
    writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  const good = file('good.tsv', '[MAX 1 2 ]\tFinal answer: 2\n');
  const empty = file('empty.tsv', '');

  it.each([
    ['an empty training file', ['--train', empty, '--validation', good], `--train ${empty}: the file holds no examples`],
    ['an empty validation file', ['--train', good, '--validation', empty], `--validation ${empty}: the file holds no examples`],
    ['an empty test file', ['--train', good, '--validation', good, '--test', empty], `--test ${empty}: the file holds no examples`],
    ['a folder', ['--train', dir, '--validation', good], `--train ${dir}: is a folder, expected a TSV file`],
    ['a non-number', ['--train', good, '--validation', good, '--epochs', '0x10'], 'train: --epochs must be an integer >= 1, got "0x10"'],
  ])('train refuses %s', (_, args, message) => {
    const r = cli('train', ...args, '--out', path.join(dir, 'out'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(message);
    expect(existsSync(path.join(dir, 'out', 'results.json'))).toBe(false);
  }, 60_000);

  it('train refuses an example longer than the model can take in one batch', () => {
    const long = file('long.tsv', `[MAX 1 2 ]\tFinal answer: 2\n[MAX ${'3 '.repeat(20000)}]\tFinal answer: 3\n`);
    const r = cli('train', '--train', long, '--validation', good, '--batch-size', '2', '--out', path.join(dir, 'out'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${long}: line 2 \\(example 2\\): the example is 20004 tokens long; in batches of 2, model xs on this adapter takes at most \\d+`));
  }, 60_000);

  it.each([
    ['a byte-order mark', '\uFEFFSource\tTarget\n[MAX 2 3 ]\t3\n', ':1: the file starts with a UTF-8 byte-order mark'],
    ['an operand outside the digits of listops', '[MAX 2 42 ]\t42\n', ': line 1 (example 1): ListOps parse error at token 3 ("42"): operand out of range: this task\'s values are 0-9'],
    ['a megabyte-long bad token', `[MAX 2 ${'x'.repeat(1 << 20)} ]\t3\n`, `: line 1 (example 1): ListOps parse error at token 3 ("${'x'.repeat(40)}"... (1048576 characters))`],
  ])('render refuses %s', (name, text, message) => {
    const f = file(`${name.replaceAll(' ', '-')}.tsv`, text);
    const r = cli('render', '--format', 'medium', '--input', f);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${f}${message}`);
    expect(r.stderr.length).toBeLessThan(1000);
  });

  it('render takes operands up to 29 with --task listops30', () => {
    const r = cli('render', '--format', 'short', '--input', file('30.tsv', '[MAX 2 29 ]\t29\n'), '--task', 'listops30');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Final answer: 29');
  });
});
