import { defineScoreMod, type TunableScoreMod } from '../params';

export type GeluScoreMod = TunableScoreMod<Record<string, never>>;

/**
 * GELU of the score: `s · Φ(s) = ½·s·(1 + erf(s/√2))` — a smooth gate that sends large negative
 * scores towards 0 (a softened "ignore"), keeps positive ones, and is differentiable everywhere.
 * It uses the IR's `erf` (exact on CUDA's erff; WGSL evaluates it with a prelude approximation of
 * documented error). Source: GELU (Hendrycks & Gimpel, 2016), here as a score activation.
 *
 * ```ts
 * await backend.flexAttention(q, k, v, { scoreMod: gelu() });
 * ```
 */
export function gelu(): GeluScoreMod {
  return defineScoreMod('gelu', (score) => score.mul(0.5).mul(score.mul(Math.SQRT1_2).erf().add(1)), {});
}
