/**
 * Non-positive scales on the identity-score fast path. With no score mod, the forward kernels keep
 * raw q·k in the tile, take the row max of the raw values and fold scale·log2(e) into the exp2
 * (flex_fwd.cuh, FLEX_SCORE_MOD_IS_IDENTITY). That is only right for scale > 0: a negative scale
 * turns the raw max into the scaled minimum (exp2 of positive numbers, overflow), and 0 or a
 * negative scale makes masked −inf entries 0·(−inf) = NaN or +inf. PyTorch accepts any finite
 * scale, so for scale ≤ 0 the call runs as a scale-1 problem whose score mod multiplies by the
 * scale: the general path, which applies the mod before the max. The factor is a runtime scalar, so
 * every non-positive scale shares one compiled kernel; gradients are the same (d(s·c)/ds = c).
 */
import { scalar, traceScoreMod, type AttentionProblem } from '@flexattn/ir';
import { isIdentityScoreMod } from './renderer.js';

export function withScaleInScoreMod(p: AttentionProblem): AttentionProblem {
  if (p.scale > 0 || !isIdentityScoreMod(p.scoreMod)) return p;
  const factor = scalar(p.scale, { name: 'scale' });
  return { ...p, scale: 1, scoreMod: traceScoreMod((s) => s.mul(factor), { name: 'scaled' }) };
}
