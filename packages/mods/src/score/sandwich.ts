import { capture, type CapturedTensor } from '@flexattn/ir';
import { ModOptionError } from '../errors';
import { check, defineScoreMod, type TunableScoreMod } from '../params';

const MOD = 'sandwichBias';
export type SandwichScoreMod = TunableScoreMod<{ distanceBias: CapturedTensor; headScale: CapturedTensor }>;

/** Σ_{i=1}^{dim/2} cos(d / 10000^(2i/dim)) − dim/2: the Sandwich bias at distance d, before head scaling. */
export function sandwichDistanceBias(d: number, dim: number): number {
  let sum = 0;
  for (let i = 1; i <= dim / 2; i++) sum += Math.cos(d / 10000 ** ((2 * i) / dim));
  return sum - dim / 2;
}

/**
 * Sandwich positional bias: the inner product of sinusoidal position embeddings of dimension
 * `dim` (d̄), shifted to 0 at distance 0 and compressed per head like ALiBi:
 *
 *   `score + (Σ_{i=1}^{d̄/2} cos((q − kv) / 10000^{2i/d̄}) − d̄/2) / r_h`,  `r_h = 8(h+1)/H`
 *
 * (query head h = 0…H−1). The bias is 0 at distance 0 and ≤ 0 elsewhere (≈ −c·(q − kv)² for small
 * distances); it is symmetric in q − kv. The IR has no cosine, so
 * the distance term is tabulated on the host for |q − kv| ≤ maxDistance (default 8192) and held at
 * its last value beyond; the head factors 1/r_h are a second table. Source: "Receptive Field
 * Alignment Enables Transformer Length Extrapolation" (Chi, Fan, Rudnicky, Ramadge, 2023), §5;
 * the head compression r_h is the one of NeMo's `sandwich_pos_bias` (whose inner sum omits the cos;
 * we follow the paper's formula).
 *
 * ```ts
 * const m = sandwichBias(12, { dim: 128 });
 * ```
 */
export function sandwichBias(numHeads: number, options: { dim?: number; maxDistance?: number } = {}): SandwichScoreMod {
  const H = check(MOD, 'numHeads', numHeads, { dtype: 'i32', min: 1 });
  const dim = check(MOD, 'dim', options.dim ?? 128, { dtype: 'i32', min: 2 });
  if (dim % 2 !== 0) throw new ModOptionError(MOD, 'dim', `must be an even integer ≥ 2, got ${dim}`);
  const M = check(MOD, 'maxDistance', options.maxDistance ?? 8192, { dtype: 'i32', min: 0 });
  const distanceBias = capture(Float32Array.from({ length: M + 1 }, (_, d) => sandwichDistanceBias(d, dim)), undefined, { name: `${MOD}.distanceBias` });
  const headScale = capture(Float32Array.from({ length: H }, (_, h) => H / (8 * (h + 1))), undefined, { name: `${MOD}.headScale` });
  return defineScoreMod(MOD, (score, _b, h, q, kv) => score.add(distanceBias.at(q.sub(kv).abs().min(M)).mul(headScale.at(h))), { distanceBias, headScale });
}
