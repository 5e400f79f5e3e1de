import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
    expect(option.stderr).toMatch(/unknown option "--fmt"; valid options: --format, --input/);
    const format = cli('render', '--format', 'verbose', '--input', sampleFile);
    expect(format.stderr).toMatch(/valid formats: none, short, medium, long/);
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
