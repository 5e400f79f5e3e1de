// `npm run bundle`: the archive is built once, unpacked into an empty folder with no node_modules
// above it, and run with nothing but /usr/bin and /bin on PATH, as on a cluster node without npm.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const work = mkdtempSync(path.join(tmpdir(), 'bundle-'));
const archive = path.join(work, 'bundle.tar.gz');
const top = path.join(work, 'unpacked', 'webgpu-explanations');
// What a node without npm has: no PATH to Node, no project, no inherited settings.
const bare = { PATH: '/usr/bin:/bin', HOME: work };
const bin = (name: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(path.join(top, 'bin', name), args, { cwd: path.dirname(top), env: { ...bare, ...env }, encoding: 'utf8', timeout: 120_000 });

beforeAll(() => {
  const r = spawnSync(path.join(root, 'node_modules/.bin/tsx'), ['scripts/bundle.ts', '--out', archive], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`bundle failed: ${r.stderr}`);
  execFileSync('mkdir', [path.join(work, 'unpacked')]);
  execFileSync('tar', ['-C', path.join(work, 'unpacked'), '-xzf', archive]);
}, 120_000);

describe('the bundle', () => {
  it('is one folder of at most 60 MiB with the commands, a Node binary and only the linux-x64 Dawn binding', () => {
    expect(statSync(archive).size).toBeLessThanOrEqual(60 * 2 ** 20);
    expect(readdirSync(path.dirname(top))).toEqual(['webgpu-explanations']);
    for (const name of ['run', 'experiments', 'pretrain', 'model', 'doctor', 'bench', 'kernel-check']) expect(statSync(path.join(top, 'bin', name)).mode & 0o111).toBe(0o111);
    expect(statSync(path.join(top, 'lib/node')).mode & 0o111).toBe(0o111);
    expect(readdirSync(path.join(top, 'app/node_modules'))).toEqual(['webgpu']);
    expect(readdirSync(path.join(top, 'app/node_modules/webgpu/dist'))).toEqual(['linux-x64']);
    // nothing in it points back at the checkout it was built from
    for (const f of readdirSync(path.join(top, 'app')).filter((f) => f.endsWith('.mjs'))) expect(readFileSync(path.join(top, 'app', f), 'utf8')).not.toContain(root);
    for (let dir = path.dirname(top); dir !== '/'; dir = path.dirname(dir)) expect(existsSync(path.join(dir, 'node_modules'))).toBe(false);
  });

  it('runs a tiny grid, its --jobs workers included, with only /usr/bin and /bin on PATH', () => {
    const out = path.join(work, 'results');
    const r = bin('run', ['modsum', '--preset', 'tiny', '--seeds', '1', '--jobs', '2', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('training 2 cells in 2 processes');
    const [run] = readdirSync(path.join(out, 'modsum'));
    const results = JSON.parse(readFileSync(path.join(out, 'modsum', run, 'results.json'), 'utf8'));
    expect(results).toMatchObject({ grid: 'modsum', preset: 'tiny', complete: true });
    expect(results.rows.length).toBe(2);
    expect(readFileSync(path.join(out, 'modsum', run, 'table.md'), 'utf8')).toContain('# modsum: preset tiny');
  });

  it('opens an adapter through the Vulkan loader it carries', () => {
    const r = bin('doctor', [], { VULKAN_LOADER: 'bundled', LD_DEBUG: 'libs' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('vulkan loader: bundled (lib/vulkan)');
    expect(r.stdout).toMatch(/adapter: .* via node/);
    // the dynamic linker's trace (on stderr) shows which libvulkan.so.1 was loaded
    expect(r.stderr).toContain(`calling init: ${top}/bin/../lib/vulkan/libvulkan.so.1`);
    // started through app/quiet.mjs: Dawn's two warnings are gone, the rest of stderr is not
    expect(r.stderr).not.toContain('artificially reduced');
  });

  it('bin/bench lists its benchmarks', () => {
    const r = bin('bench', ['nosuch']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('NAME is one of: attention, matmul, profile, runtimes, train');
    const runtimes = bin('bench', ['runtimes']);
    expect(runtimes.status, runtimes.stderr).toBe(0);
    expect(runtimes.stdout).toContain('needs the project checkout');
  });
});
