/** The benchmark's masks, written inline (the same definitions as PyTorch's anchor cases). */
import { capture, type MaskMod } from '@flexattn/ir';
import { seededRandom } from '@flexattn/ir/testing';

export const causal: MaskMod = (_b, _h, q, kv) => q.ge(kv);
export const slidingWindow = (window: number): MaskMod => (_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).le(window));
export const prefixLm = (prefix: number): MaskMod => (_b, _h, q, kv) => kv.le(prefix).or(q.ge(kv));

/** A seeded PRNG: the one the tests and the bench share. */
export const rng = seededRandom;

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
