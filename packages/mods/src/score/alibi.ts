import { capture, type CapturedTensor } from '@flexattn/ir';
import { check, defineScoreMod, type TunableScoreMod } from '../params';
import { floatArray, type FloatList } from '../validate';

export type AlibiScoreMod = TunableScoreMod<{ slopes: CapturedTensor }>;

/** ALiBi's head slopes: 2^(−8(h+1)/H) for a power-of-two H, the paper's interpolation otherwise. */
export function alibiSlopes(numHeads: number): Float32Array {
  check('alibi', 'numHeads', numHeads, { dtype: 'i32', min: 1 });
  const pow2 = (n: number): number[] => Array.from({ length: n }, (_, i) => 2 ** ((-8 * (i + 1)) / n));
  const closest = 2 ** Math.floor(Math.log2(numHeads));
  const slopes = pow2(closest);
  // Not a power of two: the first H − closest slopes of 2·closest heads at odd positions.
  if (closest !== numHeads) slopes.push(...pow2(2 * closest).filter((_, i) => i % 2 === 0).slice(0, numHeads - closest));
  return Float32Array.from(slopes);
}

/**
 * ALiBi (Attention with Linear Biases): `score + slope[h] · (kv − q)` — a penalty linear in the
 * distance, steeper for lower heads. Slopes are `2^(−8(h+1)/H)` for a power-of-two `H`; otherwise
 * the paper's rule: the slopes of the nearest lower power of two, then every other slope of twice
 * that. Pass your own `slopes` to override (one per query head; a head past the end reads the last).
 *
 * The slopes are a captured f32 tensor (`params.slopes`), learnable with `{ learnable: true }`.
 * Source: "Train Short, Test Long" (Press et al., 2022); BLOOM, MPT.
 *
 * ```ts
 * const bias = alibi(16);
 * const custom = alibi([0.5, 0.25], { learnable: true });
 * ```
 */
export function alibi(numHeadsOrSlopes: number | FloatList, options: { learnable?: boolean } = {}): AlibiScoreMod {
  const data = typeof numHeadsOrSlopes === 'number' ? alibiSlopes(numHeadsOrSlopes) : floatArray('alibi', 'slopes', numHeadsOrSlopes);
  const slopes = capture(data, undefined, { name: 'alibi.slopes', requiresGrad: options.learnable === true });
  return defineScoreMod('alibi', (score, _b, h, q, kv) => score.add(slopes.at(h).mul(kv.sub(q))), { slopes });
}
