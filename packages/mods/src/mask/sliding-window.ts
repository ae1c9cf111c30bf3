import type { Scalar } from '@flexattn/ir';
import { defineMaskMod, param, type TunableMaskMod } from '../params';

export interface SlidingWindowOptions {
  /** Also require kv ≤ q + offset (only matters when right > 0). */
  causal?: boolean;
  /** Query alignment for Lq ≠ Lkv, as in `causal` (default 0). */
  offset?: number;
}
export type SlidingWindowMask = TunableMaskMod<{ left: Scalar; right: Scalar; offset: Scalar }>;

/**
 * Sliding-window (local) attention: with `p = q + offset`, query `q` sees key `kv` iff
 * `p − left ≤ kv ≤ p + right` (and `kv ≤ p` with `{ causal: true }`).
 *
 * `left`, `right` (window sizes, i32 scalars ≥ 0) and `offset` (i32) are tunable. With the default
 * `right = 0` it is the causal local window of Mistral-7B / Gemma 2's local layers; a symmetric
 * window (`right = left`) is Longformer's local attention.
 * Sources: Longformer (Beltagy et al., 2020), Mistral 7B (Jiang et al., 2023).
 *
 * ```ts
 * const local = slidingWindow(4096);                 // Mistral: the last 4096 keys and itself
 * const both = slidingWindow(64, 64);                // 64 each side
 * local.params.left.value = 2048;                    // same kernel
 * ```
 */
export function slidingWindow(left: number, right = 0, options: SlidingWindowOptions = {}): SlidingWindowMask {
  const l = param('slidingWindow', 'left', left, { dtype: 'i32', min: 0 });
  const r = param('slidingWindow', 'right', right, { dtype: 'i32', min: 0 });
  const off = param('slidingWindow', 'offset', options.offset ?? 0, { dtype: 'i32' });
  const causal = options.causal === true;
  return defineMaskMod(
    'slidingWindow',
    (_b, _h, q, kv) => {
      const p = q.add(off);
      const inWindow = kv.ge(p.sub(l)).and(kv.le(p.add(r)));
      return causal ? inWindow.and(kv.le(p)) : inWindow;
    },
    { left: l, right: r, offset: off },
  );
}
