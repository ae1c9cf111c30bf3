import { capture, type CapturedTensor } from '@flexattn/ir';
import { defineScoreMod, type TunableScoreMod } from '../params';
import { floatArray, type FloatList } from '../validate';

export type HeadBiasScoreMod = TunableScoreMod<{ bias: CapturedTensor }>;

/**
 * A learnable bias per head: `score + bias[h]`. Alone it does not change a softmax over kv (every
 * key gets the same shift), but it changes the lse, and composed after masks it matters wherever
 * the result is combined with other rows (and as a building block of per-head score mods).
 *
 * `bias` (one value per query head) becomes a captured f32 tensor, learnable by default
 * (`{ learnable: false }` to freeze). Source: no single paper — the simplest learnable score mod,
 * a per-head logit offset (cf. the per-head bias of T5's relative bias at distance buckets).
 *
 * ```ts
 * const m = headBias(new Float32Array(8));     // zeros, learnable
 * m.params.bias.data[3] = 0.5; m.params.bias.invalidate();
 * ```
 */
export function headBias(bias: FloatList, options: { learnable?: boolean } = {}): HeadBiasScoreMod {
  const t = capture(floatArray('headBias', 'bias', bias), undefined, { name: 'headBias.bias', requiresGrad: options.learnable !== false });
  return defineScoreMod('headBias', (score, _b, h) => score.add(t.at(h)), { bias: t });
}
