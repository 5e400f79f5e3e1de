// `node scripts/quiet.mjs SCRIPT [ARGS...]`: runs `node --import tsx SCRIPT ARGS...` (what the npm
// scripts start; a .mjs SCRIPT, as the cluster bundle's bin/* give, without tsx) with two lines
// taken out of its stderr, the ones Dawn's native code writes to
// file descriptor 2 while it finds an adapter:
//   Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
//   Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
// They come on every start and say nothing a user can act on. No toggle in this Dawn build (npm
// `webgpu`, checked against the toggle names in dawn.node) is about them, and code in the process
// cannot catch a native write; so a parent filters them. Everything else passes through byte for
// byte.
// Plain Node, no dependencies: it runs before anything is compiled.
//
// For docs/faults.md this process must be invisible: stdin and stdout are the child's own (a
// closed pipe reaches the child, which ends quietly), SIGINT, SIGTERM and SIGHUP are passed on,
// and it exits as the child did, with its status or by its signal. package.json starts it with
// `exec`: npm passes SIGINT and SIGTERM to its script's process, and a shell in between (dash
// does not exec the command itself) would die of them instead of passing them on.

import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import process from 'node:process';

const DROPPED = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\n$/;
const PREFIX = 'Warning: maxDynamic';
/** Longer than either dropped line can be: a line past it is passed on without waiting for its end. */
const MAX_DROPPED_LENGTH = 160;

const [script, ...args] = process.argv.slice(2);
if (!script) {
  process.stderr.write('usage: node scripts/quiet.mjs SCRIPT [ARGS...]\n');
  process.exit(2);
}

// A bundled entry point (.mjs, the cluster bundle's app/) needs no TypeScript loader.
const loader = script.endsWith('.mjs') ? [] : ['--import', 'tsx'];
const child = spawn(process.execPath, [...loader, script, ...args], { stdio: ['inherit', 'inherit', 'pipe'] });

// Ctrl-C in a terminal reaches the child from the terminal as well, so it gets SIGINT twice;
// the run's handlers (experiments/run.ts) take that like one.
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'];
for (const signal of FORWARDED) process.on(signal, () => child.kill(signal));

// A parent killed by SIGKILL passes nothing on (npm, or the shell under it), and the run would go
// on training unseen: once reparented, end it as SIGTERM would (the check run.ts workers make).
const parent = process.ppid;
const orphaned = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(orphaned);
  child.kill('SIGTERM');
}, 500);
orphaned.unref();

// A line is held back only while it could still become one of the dropped lines, so output
// without newlines (a progress counter) is not delayed.
let held = Buffer.alloc(0);
let passing = false; // the current line is known to be kept, and its start was written
let stderrOpen = true;

/** Whether a line start that has no newline yet may still turn into a dropped line. */
function mayBeDropped(start) {
  if (start.length > MAX_DROPPED_LENGTH) return false;
  const text = start.toString('latin1');
  return text.length <= PREFIX.length ? PREFIX.startsWith(text) : text.startsWith(PREFIX);
}

function write(parts) {
  if (!stderrOpen || parts.length === 0) return;
  process.stderr.write(parts.length === 1 ? parts[0] : Buffer.concat(parts));
}

child.stderr.on('data', (chunk) => {
  const out = [];
  for (let start = 0; start < chunk.length; ) {
    const newline = chunk.indexOf(10, start);
    const end = newline === -1 ? chunk.length : newline + 1;
    const piece = chunk.subarray(start, end);
    start = end;
    if (passing) out.push(piece);
    else {
      held = held.length === 0 ? piece : Buffer.concat([held, piece]);
      if (newline !== -1) {
        if (!DROPPED.test(held.toString('latin1'))) out.push(held);
        held = Buffer.alloc(0);
      } else if (!mayBeDropped(held)) {
        out.push(held);
        held = Buffer.alloc(0);
        passing = true;
      }
    }
    if (newline !== -1) passing = false;
  }
  write(out);
});
// A line cut off by the child's exit is passed on as it is.
child.stderr.on('end', () => write(held.length > 0 ? [held] : []));

// Nobody reads our stderr any more: close the child's too, so that its next write fails and it
// ends quietly by its own rules (util/stdio.ts), as it would if it had the pipe itself.
process.stderr.on('error', (e) => {
  if (e.code !== 'EPIPE') throw e;
  stderrOpen = false;
  child.stderr.destroy();
});

child.on('error', (e) => {
  process.stderr.write(`quiet.mjs: cannot start ${process.execPath}: ${e.message}\n`);
  process.exit(127);
});

// 'close', not 'exit': by then the child's stderr has been read to its end.
child.on('close', (code, signal) => {
  if (signal === null) process.exit(code ?? 1);
  // End by the same signal, so that a shell or `timeout` sees what happened to the child.
  for (const s of FORWARDED) process.removeAllListeners(s);
  process.kill(process.pid, signal);
  // A signal Node ignores (SIGPIPE) does not end us: the shell's convention instead.
  process.exit(128 + (constants.signals[signal] ?? 0));
});
