import { capture, type CapturedTensor, type Expr } from '@flexattn/ir';
import { defineMaskMod, type TunableMaskMod } from '../params';
import { batchShape, intArray, type IntList } from '../validate';

const MOD = 'crossAttention';
export type CrossAttentionMask = TunableMaskMod<{ queryImageIds: CapturedTensor; kvImageIds: CapturedTensor }>;

/**
 * Flamingo-style masked cross-attention from text tokens (queries) to image tokens (keys).
 *
 * `queryImageIds[q]` is the image text token `q` is tied to — in Flamingo, the last image that
 * appears before it in the interleaved sequence — or −1 for text that precedes every image.
 * `kvImageIds[kv]` is the image that key token `kv` belongs to, or −1 for a key that is not part of
 * any image. Then `q` sees `kv` iff `queryImageIds[q] ≥ 0 ∧ queryImageIds[q] = kvImageIds[kv]`:
 * each text token attends to exactly the visual tokens of its image. A text token with no image
 * sees nothing, so its output row is 0 (Flamingo's tanh-gated residual makes that a no-op).
 *
 * Both lists are captured i32 tensors of length Lq and Lkv (or `batch` sequences back to back,
 * shape [batch, L]); ids must be ≥ −1. Source: Flamingo (Alayrac et al., 2022), §2.3
 * "Multi-visual input support: per-image attention masking".
 *
 * ```ts
 * // 6 text tokens: 2 before any image, 2 after image 0, 2 after image 1; 2 tokens per image
 * const m = crossAttention([-1, -1, 0, 0, 1, 1], [0, 0, 1, 1]);
 * ```
 */
export function crossAttention(queryImageIds: IntList, kvImageIds: IntList, options: { batch?: number } = {}): CrossAttentionMask {
  const qIds = intArray(MOD, 'queryImageIds', queryImageIds, -1);
  const kvIds = intArray(MOD, 'kvImageIds', kvImageIds, -1);
  const qShape = batchShape(MOD, 'queryImageIds', qIds.length, options.batch, undefined);
  const kvShape = batchShape(MOD, 'kvImageIds', kvIds.length, options.batch, undefined);
  const qT = capture(qIds, qShape, { name: `${MOD}.queryImageIds` });
  const kvT = capture(kvIds, kvShape, { name: `${MOD}.kvImageIds` });
  const at = (t: CapturedTensor, b: Expr, i: Expr): Expr => (options.batch !== undefined ? t.at(b, i) : t.at(i));
  return defineMaskMod(
    MOD,
    (b, _h, q, kv) => {
      const image = at(qT, b, q);
      return image.ge(0).and(image.eq(at(kvT, b, kv)));
    },
    { queryImageIds: qT, kvImageIds: kvT },
  );
}
