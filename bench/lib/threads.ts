// CPU time of each thread of this process, from Linux's /proc: how a step's work splits between
// the JavaScript thread and the rest (a software adapter's driver threads, V8's helpers), which
// process-wide CPU time cannot tell apart. Elsewhere (no /proc) there is nothing to read.

import { readdirSync, readFileSync } from 'node:fs';

// /proc reports CPU time in USER_HZ ticks, 100 a second on every Linux the project runs on.
const MS_PER_TICK = 10;

/** Thread name and user + system CPU milliseconds from one /proc/<pid>/task/<tid>/stat line. */
export function parseTaskStat(line: string): { name: string; cpuMs: number } {
  // The name sits in parentheses and may hold spaces and parentheses itself; the numeric fields
  // follow the last ')': state, ppid, ... with utime and stime the 12th and 13th of them.
  const close = line.lastIndexOf(')');
  const open = line.indexOf('(');
  const fields = line.slice(close + 2).trim().split(/\s+/);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (open < 0 || close < open || !Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`threads: not a /proc task stat line: ${JSON.stringify(line.slice(0, 80))}`);
  }
  return { name: line.slice(open + 1, close), cpuMs: (utime + stime) * MS_PER_TICK };
}

/** CPU milliseconds so far of each live thread of this process by thread id, or null without /proc. */
export function cpuByThread(): Map<number, number> | null {
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return null;
  }
  const out = new Map<number, number>();
  for (const tid of tids) {
    try {
      out.set(Number(tid), parseTaskStat(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')).cpuMs);
    } catch {
      // The thread ended between listing and reading: it has nothing more to count.
    }
  }
  return out;
}

/**
 * CPU milliseconds between two cpuByThread() readings, split into the JavaScript thread's (the
 * process's first thread, whose id is the pid) and all others'. Threads gone by `after` drop out.
 */
export function splitCpu(before: Map<number, number>, after: Map<number, number>, mainTid: number): { mainMs: number; otherMs: number } {
  let mainMs = 0;
  let otherMs = 0;
  for (const [tid, ms] of after) {
    const spent = ms - (before.get(tid) ?? 0);
    if (tid === mainTid) mainMs += spent;
    else otherMs += spent;
  }
  return { mainMs, otherMs };
}
