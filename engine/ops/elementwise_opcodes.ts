// The op codes of kernels/elementwise.wgsl's `switch OP` (unary for the map entry point, binary
// for zip). Each WGSL case carries its name here as a comment, and test/kernel-constants.test.ts
// fails when the two disagree; add an op in both places.

export const UNARY = { copy: 0, neg: 1, exp: 2, log: 3, sqrt: 4, rsqrt: 5, relu: 6, gelu: 7, tanh: 8, addScalar: 9, mulScalar: 10, powScalar: 11, reciprocal: 12 } as const;
export const BINARY = { add: 0, sub: 1, mul: 2, div: 3, pow: 4, maximum: 5, gt: 6, lt: 7, eq: 8, reluBackward: 9, geluBackward: 10, tanhBackward: 11 } as const;
