import { capture, type CapturedTensor, type Scalar } from '@flexattn/ir';
import { defineMaskMod, param, type TunableMaskMod } from '../params';
import { intArray, type IntList } from '../validate';

export type PrefixLmMask<P extends Scalar | CapturedTensor = Scalar | CapturedTensor> = TunableMaskMod<{ prefix: P }>;

/**
 * Prefix-LM mask: the first `n` tokens (the prefix) are visible to every query, the rest
 * causally: `kv < n ∨ kv ≤ q`. The prefix attends bidirectionally within itself.
 *
 * `n` is an i32 scalar (tunable), or a per-batch list of prefix lengths (captured as an Int32Array
 * `[B]`, read at `b`). Sources: T5 / UniLM prefix LM (Raffel et al., 2020; Dong et al., 2019),
 * PaliGemma (image + prompt prefix).
 *
 * ```ts
 * const m = prefixLm(256);
 * m.params.prefix.value = 300;
 * const perBatch = prefixLm([12, 40]);     // B = 2
 * ```
 */
export function prefixLm(n: number): PrefixLmMask<Scalar>;
export function prefixLm(perBatch: IntList): PrefixLmMask<CapturedTensor>;
export function prefixLm(n: number | IntList): PrefixLmMask {
  if (typeof n !== 'number') {
    const prefix = capture(intArray('prefixLm', 'n', n, 0), undefined, { name: 'prefixLm.prefix' });
    return defineMaskMod('prefixLm', (b, _h, q, kv) => kv.lt(prefix.at(b)).or(kv.le(q)), { prefix });
  }
  const prefix = param('prefixLm', 'n', n, { dtype: 'i32', min: 0 });
  return defineMaskMod('prefixLm', (_b, _h, q, kv) => kv.lt(prefix).or(kv.le(q)), { prefix });
}
