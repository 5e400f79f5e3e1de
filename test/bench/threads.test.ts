import { describe, expect, it } from 'vitest';
import { cpuByThread, parseTaskStat, splitCpu } from '../../bench/lib/threads.ts';

// A /proc/<pid>/task/<tid>/stat line: utime and stime (in 1/100 s) are the 14th and 15th fields.
const stat = (name: string, utime: number, stime: number) =>
  `4242 (${name}) S 1 4242 4242 0 -1 4194560 1200 0 3 0 ${utime} ${stime} 0 0 20 0 9 0 5371 1103101952 24313 18446744073709551615 1 1 0 0 0 0 0 16781312 17922 0 0 0 17 1 0 0 0 0 0`;

describe('per-thread CPU from /proc', () => {
  it('reads a thread name and its user plus system time in milliseconds', () => {
    expect(parseTaskStat(stat('node', 250, 30))).toEqual({ name: 'node', cpuMs: 2800 });
  });

  it('takes the fields after the last parenthesis, whatever the name holds', () => {
    expect(parseTaskStat(stat('a (b) c) 7', 1, 2))).toEqual({ name: 'a (b) c) 7', cpuMs: 30 });
  });

  it('refuses a line that is not a task stat line', () => {
    expect(() => parseTaskStat('hello world')).toThrow(/not a \/proc task stat line: "hello world"/);
    expect(() => parseTaskStat('1 (x) S 1 2')).toThrow(/not a \/proc task stat line/);
  });

  it('splits the time between two readings into the main thread and the rest', () => {
    const before = new Map([
      [10, 100],
      [11, 50],
      [12, 70],
    ]);
    // 12 ended in between (dropped); 13 started (counted from 0).
    const after = new Map([
      [10, 130],
      [11, 90],
      [13, 20],
    ]);
    expect(splitCpu(before, after, 10)).toEqual({ mainMs: 30, otherMs: 60 });
  });

  it.runIf(process.platform === 'linux')('sees this thread spend what it spends', () => {
    const before = cpuByThread()!;
    expect(before.has(process.pid)).toBe(true);
    // Busy for 300 ms of wall clock: the thread can spend no more than that, and on a machine
    // whose cores are shared with one other test file, at least a third of it.
    const start = performance.now();
    let x = 0;
    while (performance.now() - start < 300) x += Math.sqrt(x + 1);
    const wallMs = performance.now() - start;
    const { mainMs } = splitCpu(before, cpuByThread()!, process.pid);
    expect(x).toBeGreaterThan(0);
    // Ticks of 10 ms, so up to one tick over at each end.
    expect(mainMs).toBeGreaterThanOrEqual(100);
    expect(mainMs).toBeLessThanOrEqual(wallMs + 20);
  });
});
