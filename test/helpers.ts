// The test suite's tools are the ones the browser's kernel check uses too (reference/): one
// engine per test file with poisoned buffers, seeded data, closeness, finite differences.

export * from '../reference/check.ts';
