import type { Scalar } from '@flexattn/ir';
import { defineScoreMod, param, type TunableScoreMod } from '../params';

export type SoftcapScoreMod = TunableScoreMod<{ cap: Scalar }>;

/**
 * Logit soft-capping: `cap · tanh(score / cap)` — smoothly bounds scores to (−cap, cap).
 *
 * `cap` (f32 scalar > 0) is tunable. With `{ approx: true }` the tanh is the IR's `tanhApprox`,
 * which backends may map to a fast hardware instruction (e.g. CUDA's `tanh.approx.f32`); its
 * reference meaning is the exact tanh. Sources: Gemma 2 (attention cap 50), Grok-1 (cap 30).
 *
 * ```ts
 * const m = softcap(50);
 * const fast = softcap(50, { approx: true });
 * ```
 */
export function softcap(cap: number, options: { approx?: boolean } = {}): SoftcapScoreMod {
  const c = param('softcap', 'cap', cap, { dtype: 'f32', positive: true });
  const approx = options.approx === true;
  return defineScoreMod(
    'softcap',
    (score) => {
      const x = score.div(c);
      return (approx ? x.tanhApprox() : x.tanh()).mul(c);
    },
    { cap: c },
  );
}
