import type { Scalar } from '@flexattn/ir';
import { defineMaskMod, param, type TunableMaskMod } from '../params';

export type GlobalTokensMask = TunableMaskMod<{ global: Scalar; window: Scalar }>;

/**
 * Global + local attention (Longformer): the first `nGlobal` tokens see and are seen by every
 * token; the others attend within a symmetric local window:
 * `q < nGlobal ∨ kv < nGlobal ∨ |q − kv| ≤ window`.
 *
 * `nGlobal` (i32 ≥ 0) and `window` (keys per side, i32 ≥ 0) are tunable. Sources: Longformer
 * (Beltagy et al., 2020), ETC / BigBird's global tokens.
 *
 * ```ts
 * const m = globalTokens(1, 256);     // a [CLS] token + 256 neighbours each side
 * ```
 */
export function globalTokens(nGlobal: number, window: number): GlobalTokensMask {
  const g = param('globalTokens', 'nGlobal', nGlobal, { dtype: 'i32', min: 0 });
  const w = param('globalTokens', 'window', window, { dtype: 'i32', min: 0 });
  return defineMaskMod('globalTokens', (_b, _h, q, kv) => q.lt(g).or(kv.lt(g)).or(q.sub(kv).abs().le(w)), { global: g, window: w });
}
