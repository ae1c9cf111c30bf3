/** The benchmark's masks, written inline (the same definitions as PyTorch's anchor cases). */
import { capture, type MaskMod } from '@flexattn/ir';

export const causal: MaskMod = (_b, _h, q, kv) => q.ge(kv);
export const slidingWindow = (window: number): MaskMod => (_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).le(window));
export const prefixLm = (prefix: number): MaskMod => (_b, _h, q, kv) => kv.le(prefix).or(q.ge(kv));

/** A seeded PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Document ids for `docs` random documents over `length` tokens (sorted ids, random boundaries). */
export function documentIds(length: number, docs: number, seed = 1): Int32Array {
  const random = rng(seed);
  const cuts = new Set<number>();
  while (cuts.size < docs - 1) cuts.add(1 + Math.floor(random() * (length - 1)));
  const sorted = [...cuts].sort((a, b) => a - b);
  const ids = new Int32Array(length);
  let d = 0;
  for (let i = 0; i < length; i++) {
    while (d < sorted.length && i >= sorted[d]!) d++;
    ids[i] = d;
  }
  return ids;
}

export const documentMask = (ids: Int32Array): MaskMod => {
  const doc = capture(ids, undefined, { name: 'documentIds' });
  return (_b, _h, q, kv) => doc.at(q).eq(doc.at(kv));
};
