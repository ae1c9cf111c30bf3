import type { Scalar } from '@flexattn/ir';
import { ModOptionError } from '../errors';
import { check, defineMaskMod, notAnExpr, param, type TunableMaskMod } from '../params';

export type CausalOptions = { offset?: number } | { qLen: number; kvLen: number };
export type CausalMask = TunableMaskMod<{ offset: Scalar }>;

function causalMask(options: CausalOptions = {}): CausalMask {
  notAnExpr('causal', options);
  if (typeof options !== 'object' || options === null) throw new ModOptionError('causal', 'options', `must be an object, got ${String(options)}`);
  let offset = 0;
  if ('qLen' in options || 'kvLen' in options) {
    const { qLen, kvLen } = options as { qLen: number; kvLen: number };
    offset = check('causal', 'kvLen', kvLen, { dtype: 'i32', min: 1 }) - check('causal', 'qLen', qLen, { dtype: 'i32', min: 1 });
  } else if (options.offset !== undefined) offset = options.offset;
  const off = param('causal', 'offset', offset, { dtype: 'i32' });
  return defineMaskMod('causal', (_b, _h, q, kv) => kv.le(q.add(off)), { offset: off });
}

/**
 * Causal (autoregressive) mask: query `q` sees key `kv` iff `kv ≤ q + offset`.
 *
 * `offset` (i32 scalar, default 0) aligns the query block to the bottom-right of the key block
 * when Lq ≠ Lkv — as in KV-cache decoding, where the Lq new queries are the last Lq positions of
 * the Lkv keys: `causal.forLengths(qLen, kvLen)` or `causal({ qLen, kvLen })` set
 * `offset = kvLen − qLen`. Source: "Attention Is All You Need" (decoder self-attention).
 *
 * ```ts
 * const mask = causal();                         // Lq = Lkv
 * const decode = causal.forLengths(4, 1024);     // 4 new tokens over a 1024-token cache
 * decode.params.offset.value = 1029 - 4;         // the cache grew: same kernel
 * ```
 */
export const causal = Object.assign(causalMask, {
  /** `causal({ qLen, kvLen })`: bottom-right aligned, offset = kvLen − qLen. */
  forLengths: (qLen: number, kvLen: number): CausalMask => causalMask({ qLen, kvLen }),
});
