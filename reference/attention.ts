// float64 reference of attention (engine/ops/attention/), forward and analytic backward.

/** Sizes and options of one attention call; q is [B, H, Lq, Dh], k and v [B, H, Lk, Dh]. */
export interface AttentionCase {
  B: number;
  H: number;
  Lq: number;
  Lk: number;
  Dh: number;
  /** Query i sees keys j <= i + Lk - Lq. */
  causal?: boolean;
  /** Multiplies q.k (default 1). */
  scale?: number;
}

/** The inputs, in [B, H, L, Dh] layout; bias is [H, Lq, Lk], [1, H, Lq, Lk] or [B, H, Lq, Lk];
 *  mask is [B, Lk] (0: padding); dout is the upstream gradient of the output. */
export interface AttentionData {
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  bias: Float64Array | null;
  biasShape: number[] | null;
  mask: Float64Array | null;
  dout: Float64Array;
}

/** Float64 attention with its analytic backward for the output gradient `dout`. */
export function attention(c: AttentionCase, d: AttentionData) {
  const { B, H, Lq, Lk, Dh } = c;
  const scale = c.scale ?? 1;
  const out = new Float64Array(B * H * Lq * Dh);
  const dq = new Float64Array(out.length);
  const dk = new Float64Array(B * H * Lk * Dh);
  const dv = new Float64Array(dk.length);
  const dbias = d.bias ? new Float64Array(d.bias.length) : null;
  const shared = d.biasShape !== null && (d.biasShape.length === 3 || d.biasShape[0] === 1);
  const P = new Float64Array(Lk);
  const dS = new Float64Array(Lk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      for (let i = 0; i < Lq; i++) {
        const qi = (bh * Lq + i) * Dh;
        const allowed = (j: number) => (!d.mask || d.mask[b * Lk + j] !== 0) && (!c.causal || j <= i + Lk - Lq);
        const biasRow = ((shared ? 0 : b) * H + h) * Lq * Lk + i * Lk;
        let m = -Infinity;
        for (let j = 0; j < Lk; j++) {
          if (!allowed(j)) continue;
          let s = 0;
          for (let t = 0; t < Dh; t++) s += d.q[qi + t] * d.k[(bh * Lk + j) * Dh + t];
          P[j] = scale * s + (d.bias ? d.bias[biasRow + j] : 0);
          m = Math.max(m, P[j]);
        }
        let l = 0;
        for (let j = 0; j < Lk; j++) {
          P[j] = allowed(j) ? Math.exp(P[j] - m) : 0;
          l += P[j];
        }
        if (l === 0) continue;
        let D = 0;
        for (let j = 0; j < Lk; j++) {
          P[j] /= l;
          let dp = 0;
          for (let t = 0; t < Dh; t++) {
            out[qi + t] += P[j] * d.v[(bh * Lk + j) * Dh + t];
            dp += d.dout[qi + t] * d.v[(bh * Lk + j) * Dh + t];
          }
          dS[j] = dp;
          D += P[j] * dp;
        }
        for (let j = 0; j < Lk; j++) {
          const kj = (bh * Lk + j) * Dh;
          const ds = P[j] * (dS[j] - D);
          if (dbias) dbias[biasRow + j] += ds;
          for (let t = 0; t < Dh; t++) {
            dq[qi + t] += scale * ds * d.k[kj + t];
            dk[kj + t] += scale * ds * d.q[qi + t];
            dv[kj + t] += P[j] * d.dout[qi + t];
          }
        }
      }
    }
  }
  return { out, dq, dk, dv, dbias };
}
