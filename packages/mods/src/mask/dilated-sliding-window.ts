import type { Scalar } from '@flexattn/ir';
import { defineMaskMod, param, type TunableMaskMod } from '../params';

export type DilatedSlidingWindowMask = TunableMaskMod<{ window: Scalar; dilation: Scalar }>;

/**
 * Dilated sliding window (Longformer): query `q` sees the keys `kv = q + i·dilation` for
 * `i ∈ [−window, window]` (`i ∈ [−window, 0]` with `{ causal: true }`), i.e.
 * `|q − kv| ≤ window·dilation  ∧  (q − kv) mod dilation = 0`.
 *
 * `window` (keys per side, i32 ≥ 0) and `dilation` (i32 ≥ 1) are tunable; dilation 1 is the plain
 * sliding window. Source: Longformer (Beltagy et al., 2020), §3.1 "Dilated Sliding Window".
 *
 * ```ts
 * const m = dilatedSlidingWindow(128, 2);   // 128 keys each side, every second token
 * m.params.dilation.value = 4;
 * ```
 */
export function dilatedSlidingWindow(window: number, dilation: number, options: { causal?: boolean } = {}): DilatedSlidingWindowMask {
  const w = param('dilatedSlidingWindow', 'window', window, { dtype: 'i32', min: 0 });
  const d = param('dilatedSlidingWindow', 'dilation', dilation, { dtype: 'i32', min: 1 });
  const causal = options.causal === true;
  return defineMaskMod(
    'dilatedSlidingWindow',
    (_b, _h, q, kv) => {
      const dist = q.sub(kv);
      const span = w.expr().mul(d);
      const near = causal ? dist.ge(0).and(dist.le(span)) : dist.abs().le(span);
      return near.and(dist.mod(d).eq(0));
    },
    { window: w, dilation: d },
  );
}
