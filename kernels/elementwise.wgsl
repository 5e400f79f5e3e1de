// Elementwise ops over strided tensors, with broadcasting.
//
// Three entry points share one indexing scheme:
//   map:   out[o(i)] = f(a[s_a(i)])               unary ops, and copies that move data:
//                                                 expand (broadcast), permute, slice, concat
//   zip:   out[i]    = g(a[s_a(i)], b[s_b(i)])    binary ops with broadcasting
//   where: out[i]    = c[s_c(i)] != 0 ? a[s_a(i)] : b[s_b(i)]
// `i` runs over the iteration shape `shape` (up to 8 dims, row-major). s_x(i) is the dot product
// of i's multi-index with x's strides plus x's offset; a broadcast dim simply has stride 0, a
// permute permutes the strides. When every operand is contiguous in iteration order the op is
// compiled with CONTIGUOUS = true and skips the index arithmetic entirely; a zip whose a or b is
// a single value broadcast over the other (a loss gradient's scale) stays on that path with
// A_SCALAR / B_SCALAR, reading element 0, the same address in every lane.
//
// The op is chosen with the override constant OP, so each op is its own pipeline and the switch
// folds away at compile time. The op codes are engine/ops/elementwise_opcodes.ts's, each case
// commented with its name there (test/kernel-constants.test.ts holds the two to each other). Each invocation handles PER_THREAD consecutive elements: on the
// software adapter fewer, fatter invocations amortize the per-invocation overhead.

struct Params {
  n: u32,          // elements to produce
  rank: u32,
  off_a: u32,
  off_b: u32,
  off_c: u32,
  off_out: u32,
  alpha: f32,      // the scalar of scalar ops (addScalar, mulScalar, powScalar)
  _pad: u32,
  shape: array<vec4<u32>, 2>,
  stride_a: array<vec4<u32>, 2>,
  stride_b: array<vec4<u32>, 2>,
  stride_c: array<vec4<u32>, 2>,
  stride_out: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> c: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override OP: u32 = 0u;
override CONTIGUOUS: bool = true;
override A_SCALAR: bool = false;
override B_SCALAR: bool = false;
override WG: u32 = 64u;
override PER_THREAD: u32 = 4u;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_C: f32 = 0.044715;

fn at(v: array<vec4<u32>, 2>, d: u32) -> u32 {
  return v[d / 4u][d % 4u];
}

// Walking the iteration space. Finding an index's offsets costs a division and a modulo per dim,
// slow on a CPU, but an invocation's PER_THREAD consecutive indices mostly differ only in the last
// dim: the cursor pays the full price once and again at each row crossing, and otherwise steps
// every operand by its last-dim stride.
struct Cursor {
  off: vec4<u32>,  // offsets into out, a, b, c
  col: u32,        // position in the last dim
}

fn dim_strides(d: u32) -> vec4<u32> {
  return vec4<u32>(at(p.stride_out, d), at(p.stride_a, d), at(p.stride_b, d), at(p.stride_c, d));
}

fn seek(i: u32) -> Cursor {
  var rest = i;
  var off = vec4<u32>(p.off_out, p.off_a, p.off_b, p.off_c);
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let size = at(p.shape, u32(d));
    off += (rest % size) * dim_strides(u32(d));
    rest /= size;
  }
  return Cursor(off, i % at(p.shape, p.rank - 1u));
}

// Moves the cursor from index i - 1 to index i.
fn advance(cur: ptr<function, Cursor>, i: u32) {
  let last = p.rank - 1u;
  (*cur).col += 1u;
  if ((*cur).col == at(p.shape, last)) {
    *cur = seek(i);
  } else {
    (*cur).off += dim_strides(last);
  }
}

fn gelu(x: f32) -> f32 {
  // tanh approximation, as T5 v1.1 ("gelu_new") uses
  return 0.5 * x * (1.0 + tanh(SQRT_2_OVER_PI * (x + GELU_C * x * x * x)));
}

fn gelu_grad(x: f32) -> f32 {
  let u = SQRT_2_OVER_PI * (x + GELU_C * x * x * x);
  let t = tanh(u);
  let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * x * x);
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
}

fn unary(x: f32) -> f32 {
  switch OP {
    case 0u: { return x; }                        // copy
    case 1u: { return -x; }                       // neg
    case 2u: { return exp(x); }                   // exp
    case 3u: { return log(x); }                   // log
    case 4u: { return sqrt(x); }                  // sqrt
    case 5u: { return inverseSqrt(x); }           // rsqrt
    case 6u: { return max(x, 0.0); }              // relu
    case 7u: { return gelu(x); }                  // gelu
    case 8u: { return tanh(x); }                  // tanh
    case 9u: { return x + p.alpha; }              // addScalar
    case 10u: { return x * p.alpha; }             // mulScalar
    case 11u: { return pow_any(x, p.alpha); }     // powScalar
    case 12u: { return 1.0 / x; }                 // reciprocal
    default: { return x; }
  }
}

// WGSL's pow is undefined for negative bases; integer exponents are well defined there.
fn pow_any(x: f32, y: f32) -> f32 {
  if (x >= 0.0 || y != round(y)) { return pow(x, y); }
  let m = pow(-x, y);
  return select(m, -m, (i32(y) & 1) == 1);
}

fn binary(x: f32, y: f32) -> f32 {
  switch OP {
    case 0u: { return x + y; }                        // add
    case 1u: { return x - y; }                        // sub
    case 2u: { return x * y; }                        // mul
    case 3u: { return x / y; }                        // div
    case 4u: { return pow_any(x, y); }                // pow
    case 5u: { return max(x, y); }                    // maximum
    case 6u: { return select(0.0, 1.0, x > y); }      // gt
    case 7u: { return select(0.0, 1.0, x < y); }      // lt
    case 8u: { return select(0.0, 1.0, x == y); }     // eq
    case 9u: { return select(0.0, x, y > 0.0); }      // reluBackward: x = grad, y = input
    case 10u: { return x * gelu_grad(y); }            // geluBackward: x = grad, y = input
    case 11u: { return x * (1.0 - y * y); }           // tanhBackward: x = grad, y = output
    default: { return x; }
  }
}

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return (gid.x + gid.y * nwg.x * WG) * PER_THREAD;
}

@compute @workgroup_size(WG)
fn map(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let start = flat_index(gid, nwg);
  var cur = seek(start);
  for (var k = 0u; k < PER_THREAD; k++) {
    let i = start + k;
    if (i >= p.n) { return; }
    if (CONTIGUOUS) {
      out[p.off_out + i] = unary(a[p.off_a + i]);
    } else {
      if (k > 0u) { advance(&cur, i); }
      out[cur.off.x] = unary(a[cur.off.y]);
    }
  }
}

@compute @workgroup_size(WG)
fn zip(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let start = flat_index(gid, nwg);
  var cur = seek(start);
  for (var k = 0u; k < PER_THREAD; k++) {
    let i = start + k;
    if (i >= p.n) { return; }
    if (CONTIGUOUS) {
      out[i] = binary(a[select(i, 0u, A_SCALAR)], b[select(i, 0u, B_SCALAR)]);
    } else {
      if (k > 0u) { advance(&cur, i); }
      out[i] = binary(a[cur.off.y], b[cur.off.z]);
    }
  }
}

@compute @workgroup_size(WG)
fn where_(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let start = flat_index(gid, nwg);
  var cur = seek(start);
  for (var k = 0u; k < PER_THREAD; k++) {
    let i = start + k;
    if (i >= p.n) { return; }
    if (k > 0u) { advance(&cur, i); }
    // The condition is read as raw bits so that f32 masks and i32/u32 masks both work;
    // masking the sign bit makes -0.0 count as false.
    let cond = (c[cur.off.w] & 0x7fffffffu) != 0u;
    out[i] = select(b[cur.off.z], a[cur.off.y], cond);
  }
}
