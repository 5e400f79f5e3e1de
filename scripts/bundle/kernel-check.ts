// The bundle's `bin/kernel-check`: the kernel checks of web/kernel-check.html (each op forward
// against a float64 reference, a few backward passes by finite differences) on this machine's
// adapter through Dawn, for a GPU node that has no browser. The page reports into a document;
// here a stand-in takes those writes, and the report is printed instead.

import type { KernelCheckReport } from '../../web/kernel-check.ts';

const element = (): object => ({ textContent: '', className: '', replaceChildren() {}, insertCell: element });
Object.assign(globalThis, { window: globalThis, document: { getElementById: element, createElement: element } });
await import('../../web/kernel-check.ts');
const report = (globalThis as unknown as { kernelCheck: KernelCheckReport }).kernelCheck;

if (report.error) {
  console.error(`no checks ran: ${report.error}`);
  process.exit(1);
}
for (const r of report.results) {
  const mark = r.skipped ? 'skip' : r.ok ? 'ok  ' : 'FAIL';
  console.log(`${mark} ${r.name.padEnd(48)} ${String(r.ms).padStart(6)} ms${r.error ? `  ${r.error}` : r.skipped ? `  (${r.skipped})` : ''}`);
}
console.log(`${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped on ${report.adapter}`);
process.exit(report.failed > 0 ? 1 : 0);
