import type { Scalar } from '@flexattn/ir';
import { defineMaskMod, param, type TunableMaskMod } from '../params';

export type AttentionSinksMask = TunableMaskMod<{ sinks: Scalar; window: Scalar; offset: Scalar }>;

/**
 * Attention sinks + a recent window (StreamingLLM): with `p = q + offset`, query `q` sees key `kv`
 * iff `kv ≤ p ∧ (kv < nSink ∨ p − kv < window)` — the first `nSink` tokens (the sinks) and the
 * `window` most recent tokens including itself, never the future.
 *
 * `nSink` (i32 ≥ 0), `window` (i32 ≥ 0) and `offset` (i32, `kvLen − qLen` when decoding) are
 * tunable. Source: "Efficient Streaming Language Models with Attention Sinks" (Xiao et al., 2023),
 * 4 sinks + a rolling cache.
 *
 * ```ts
 * const m = attentionSinks(4, 1020);      // 4 sinks + 1020 recent tokens
 * ```
 */
export function attentionSinks(nSink: number, window: number, options: { offset?: number } = {}): AttentionSinksMask {
  const s = param('attentionSinks', 'nSink', nSink, { dtype: 'i32', min: 0 });
  const w = param('attentionSinks', 'window', window, { dtype: 'i32', min: 0 });
  const off = param('attentionSinks', 'offset', options.offset ?? 0, { dtype: 'i32' });
  return defineMaskMod(
    'attentionSinks',
    (_b, _h, q, kv) => {
      const p = q.add(off);
      return kv.le(p).and(kv.lt(s).or(p.sub(kv).lt(w)));
    },
    { sinks: s, window: w, offset: off },
  );
}
