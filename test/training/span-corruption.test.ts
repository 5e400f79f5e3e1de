// T5's span corruption on token ids: how much is corrupted, in how many spans, the sentinels in
// order, and input + target giving back the text.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../engine/index.ts';
import { corruptSpans, noiseMask, restoreSpans, spanCounts, T5_SPAN_CORRUPTION } from '../../training/span-corruption.ts';

const EOS = 1;
const SENTINEL0 = 1000;
const special = { sentinel: (i: number) => SENTINEL0 + i, eos: EOS };
const sentinelIndex = (id: number) => (id >= SENTINEL0 ? id - SENTINEL0 : -1);
const text = (n: number, seed: number) => {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rng.nextInt(3, 99));
};

/** The runs of true in a mask, as [start, length]. */
function spansOf(mask: boolean[]): [number, number][] {
  const out: [number, number][] = [];
  mask.forEach((m, i) => {
    if (!m) return;
    if (i > 0 && mask[i - 1]) out[out.length - 1][1]++;
    else out.push([i, 1]);
  });
  return out;
}

describe('span corruption', () => {
  it("corrupts round(15 %) of the tokens in round(noise / 3) spans, as T5's defaults say", () => {
    expect(T5_SPAN_CORRUPTION).toEqual({ noiseDensity: 0.15, meanSpanLength: 3 });
    expect(spanCounts(100)).toEqual({ noise: 15, spans: 5 });
    expect(spanCounts(20)).toEqual({ noise: 3, spans: 1 });
    expect(spanCounts(10)).toEqual({ noise: 2, spans: 1 });
    // at least one token, never all of them
    expect(spanCounts(2)).toEqual({ noise: 1, spans: 1 });
    expect(spanCounts(1)).toEqual({ noise: 1, spans: 1 });
    for (let n = 1; n <= 200; n++) {
      for (let seed = 1; seed <= 5; seed++) {
        const mask = noiseMask(n, new Rng(n * 100 + seed));
        const { noise, spans } = spanCounts(n);
        expect(mask.length).toBe(n);
        expect(mask.filter(Boolean).length).toBe(noise);
        expect(spansOf(mask).length).toBe(spans);
      }
    }
    // long texts: the density and the mean span length come out as asked
    let noisy = 0;
    let spans = 0;
    let tokens = 0;
    for (let seed = 1; seed <= 50; seed++) {
      const mask = noiseMask(400, new Rng(seed));
      tokens += mask.length;
      noisy += mask.filter(Boolean).length;
      spans += spansOf(mask).length;
    }
    expect(noisy / tokens).toBeCloseTo(0.15, 3);
    expect(noisy / spans).toBeCloseTo(3, 1);
  });

  it('puts a span anywhere with equal chance, the first and the last token included', () => {
    // one span of 3 in 20 tokens: 18 places to start, each 1/18 of the draws
    const starts = new Array(18).fill(0);
    for (let seed = 1; seed <= 1800; seed++) {
      const s = spansOf(noiseMask(20, new Rng(seed)));
      expect(s.length).toBe(1);
      expect(s[0][1]).toBe(3);
      starts[s[0][0]]++;
    }
    for (const n of starts) {
      expect(n).toBeGreaterThan(60);
      expect(n).toBeLessThan(140);
    }
  });

  it('replaces each span by one sentinel, in order; the target is each sentinel and its span, then EOS', () => {
    const ids = text(40, 7);
    const c = corruptSpans(ids, special, new Rng(3));
    const { noise, spans } = spanCounts(40);
    expect(c.input.at(-1)).toBe(EOS);
    expect(c.target.at(-1)).toBe(EOS);
    const inInput = c.input.filter((id) => sentinelIndex(id) >= 0).map(sentinelIndex);
    const inTarget = c.target.filter((id) => sentinelIndex(id) >= 0).map(sentinelIndex);
    expect(inInput).toEqual(Array.from({ length: spans }, (_, i) => i));
    expect(inTarget).toEqual(inInput);
    expect(sentinelIndex(c.target[0])).toBe(0);
    expect(c.input.length).toBe(40 - noise + spans + 1);
    expect(c.target.length).toBe(noise + spans + 1);
    // the same generator state, the same corruption
    expect(corruptSpans(ids, special, new Rng(3))).toEqual(c);
  });

  it('input and target together give back the text, at every length', () => {
    for (let n = 1; n <= 120; n++) {
      const ids = text(n, n);
      const c = corruptSpans(ids, special, new Rng(n + 1));
      expect(restoreSpans(c, sentinelIndex, EOS)).toEqual(ids);
      // what the target holds besides sentinels is exactly what the input lacks
      const kept = c.input.filter((id) => id !== EOS && sentinelIndex(id) < 0);
      const taken = c.target.filter((id) => id !== EOS && sentinelIndex(id) < 0);
      expect(kept.length + taken.length).toBe(n);
    }
  });

  it('refuses settings that corrupt nothing or everything', () => {
    expect(() => spanCounts(0)).toThrow(/at least one token/);
    expect(() => spanCounts(10, { noiseDensity: 0, meanSpanLength: 3 })).toThrow(/noiseDensity/);
    expect(() => spanCounts(10, { noiseDensity: 0.15, meanSpanLength: 0.5 })).toThrow(/meanSpanLength/);
  });
});
