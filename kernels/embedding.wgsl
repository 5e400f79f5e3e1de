// Embedding lookup and its backward, a deterministic scatter-add written as a gather.
//
// Layout: table and dtable are [vocab, dim]; ids holds n positions (any shape, flattened);
// out and g are [n, dim].
//   forward    out[p, j] = table[clamp(ids[p], 0, vocab - 1), j]
//              (the host rejects out-of-range ids when it has them; ids made on the GPU are
//              clamped here so that a bad id can never read outside the table)
//   backward   dtable[v, j] = sum over k in offsets[v] .. offsets[v + 1] of g[positions[k], j]
//              (+ dtable_in[v, j] with ACCUMULATE: the gradient the table already has from its
//              other uses, a tied output head's say, so that autograd needs no separate add)
// For the backward the host sorts positions by id (CSR: `positions` lists, id by id, the
// positions holding that id in increasing order; `offsets` has vocab + 1 entries). Every output
// element is then owned by one invocation that adds its rows in a fixed order: repeated ids
// accumulate, the sum is the same on every run, and no float atomics are needed. Rows of ids that
// do not occur get 0, so dtable needs no separate clearing.
//
// Tiling: a flat index over the [rows, dim] output, PER_THREAD consecutive elements per
// invocation (as in elementwise.wgsl). Neighbouring invocations share a row, so their loads are
// contiguous and, in the backward, their loop bounds agree (lavapipe runs them as SIMD lanes).

struct Params {
  n: u32,       // output rows: positions (forward) or vocab (backward)
  dim: u32,
  vocab: u32,
}

@group(0) @binding(0) var<storage, read> table: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read> offsets: array<u32>;
@group(0) @binding(6) var<storage, read> positions: array<u32>;
@group(0) @binding(7) var<storage, read> dtable_in: array<f32>;

override WG: u32 = 64u;
override PER_THREAD: u32 = 4u;
override ACCUMULATE: bool = false;

fn first_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return (gid.x + gid.y * nwg.x * WG) * PER_THREAD;
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let start = first_index(gid, nwg);
  for (var k = 0u; k < PER_THREAD; k++) {
    let e = start + k;
    if (e >= p.n * p.dim) { return; }
    let row = u32(clamp(ids[e / p.dim], 0, i32(p.vocab) - 1));
    out[e] = table[row * p.dim + e % p.dim];
  }
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let start = first_index(gid, nwg);
  for (var k = 0u; k < PER_THREAD; k++) {
    let e = start + k;
    if (e >= p.n * p.dim) { return; }
    let v = e / p.dim;
    let j = e % p.dim;
    var acc = 0.0;
    if (ACCUMULATE) { acc = dtable_in[e]; }
    for (var q = offsets[v]; q < offsets[v + 1u]; q++) { acc += g[positions[q] * p.dim + j]; }
    out[e] = acc;
  }
}
