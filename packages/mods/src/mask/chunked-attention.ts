import type { Scalar } from '@flexattn/ir';
import { defineMaskMod, param, type TunableMaskMod } from '../params';

export type ChunkedAttentionMask = TunableMaskMod<{ chunk: Scalar }>;

/**
 * Chunked local attention (Llama 4's local layers): the sequence is cut into chunks of `chunk`
 * tokens and a query sees the earlier keys of its own chunk:
 * `⌊q / chunk⌋ = ⌊kv / chunk⌋ ∧ kv ≤ q`.
 *
 * `chunk` (i32 ≥ 1) is tunable. Source: Llama 4 (Meta, 2025; "iRoPE" local layers, chunk 8192).
 *
 * ```ts
 * const m = chunkedAttention(8192);
 * ```
 */
export function chunkedAttention(chunk: number): ChunkedAttentionMask {
  const c = param('chunkedAttention', 'chunk', chunk, { dtype: 'i32', min: 1 });
  return defineMaskMod('chunkedAttention', (_b, _h, q, kv) => q.floorDiv(c).eq(kv.floorDiv(c)).and(kv.le(q)), { chunk: c });
}
