import { capture, type CapturedTensor } from '@flexattn/ir';
import { ModOptionError } from '../errors';
import { check, defineScoreMod, type TunableScoreMod } from '../params';
import { floatArray, type FloatList } from '../validate';

const MOD = 't5RelativeBias';
export type T5RelativeBiasScoreMod = TunableScoreMod<{ table: CapturedTensor; buckets: CapturedTensor }>;

/**
 * T5's bucket of a relative position `rel = kv − q` (float64; HF's `_relative_position_bucket`):
 * bidirectional halves the buckets by sign; distances below half the (remaining) buckets get their
 * own bucket, larger ones log-spaced buckets up to `maxDistance`, the last bucket beyond it.
 */
export function t5Bucket(rel: number, numBuckets: number, maxDistance: number, bidirectional: boolean): number {
  let n = numBuckets;
  let base = 0;
  let dist: number;
  if (bidirectional) {
    n = Math.floor(n / 2);
    if (rel > 0) base = n;
    dist = Math.abs(rel);
  } else dist = Math.max(-rel, 0);
  const maxExact = Math.floor(n / 2);
  if (dist < maxExact) return base + dist;
  const large = maxExact + Math.trunc((Math.log(dist / maxExact) / Math.log(maxDistance / maxExact)) * (n - maxExact));
  return base + Math.min(large, n - 1);
}

/**
 * T5 relative attention bias: `score + table[h, bucket(kv − q)]`, with T5's bucketing (exact
 * buckets for distances below numBuckets/4 — /2 when unidirectional — then log-spaced buckets up to
 * `maxDistance`, one bucket for everything beyond; bidirectional splits past and future).
 *
 * `table` is [H, numBuckets] (head-major; note HF stores the transpose, `Embedding(numBuckets, H)`),
 * a captured f32 tensor, learnable by default. The buckets are tabulated on the host for distances
 * in [−maxDistance, maxDistance] (beyond, the bucket is constant), so every backend computes the
 * same bucket bit for bit — no `log` on the device. The host computes in float64, which gives the
 * same buckets as PyTorch's float32 for numBuckets 8…128 and maxDistance 16…4096. Source: T5 (Raffel et al., 2020), §2.1;
 * defaults numBuckets 32, maxDistance 128.
 *
 * ```ts
 * const m = t5RelativeBias(new Float32Array(8 * 32), 32, 128);          // encoder, 8 heads
 * const dec = t5RelativeBias(table, 32, 128, { bidirectional: false });   // decoder
 * ```
 */
export function t5RelativeBias(
  table: FloatList,
  numBuckets = 32,
  maxDistance = 128,
  options: { bidirectional?: boolean; learnable?: boolean } = {},
): T5RelativeBiasScoreMod {
  const bidirectional = options.bidirectional !== false;
  const nb = check(MOD, 'numBuckets', numBuckets, { dtype: 'i32', min: bidirectional ? 4 : 2 });
  const maxExact = Math.floor((bidirectional ? Math.floor(nb / 2) : nb) / 2);
  const md = check(MOD, 'maxDistance', maxDistance, { dtype: 'i32', min: maxExact + 1 });
  const data = floatArray(MOD, 'table', table);
  if (data.length % nb !== 0) throw new ModOptionError(MOD, 'table', `has ${data.length} entries, not a multiple of numBuckets = ${nb} (shape [H, numBuckets])`);
  const t = capture(data, [data.length / nb, nb], { name: `${MOD}.table`, requiresGrad: options.learnable !== false });
  const bucketOf = Int32Array.from({ length: 2 * md + 1 }, (_, i) => t5Bucket(i - md, nb, md, bidirectional));
  const buckets = capture(bucketOf, undefined, { name: `${MOD}.buckets` });
  return defineScoreMod(MOD, (score, _b, h, q, kv) => score.add(t.at(h, buckets.at(kv.sub(q).clamp(-md, md).add(md)))), { table: t, buckets });
}
