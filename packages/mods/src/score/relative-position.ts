import { capture, type CapturedTensor } from '@flexattn/ir';
import { ModOptionError } from '../errors';
import { check, defineScoreMod, notAnExpr, type TunableScoreMod } from '../params';
import { floatArray, type FloatList } from '../validate';

const MOD = 'relativePosition';

export interface RelativeTableOptions {
  /** 2·maxDistance + 1 values (or numHeads × that, head-major), indexed by clamp(q − kv) + maxDistance. */
  table: FloatList;
  maxDistance: number;
  /** The table holds one row per head: shape [numHeads, 2·maxDistance + 1]. */
  numHeads?: number;
  /** Default true: the table gets gradients. */
  learnable?: boolean;
}
export type RelativePositionScoreMod = TunableScoreMod<Record<string, never>>;
export type RelativeTableScoreMod = TunableScoreMod<{ table: CapturedTensor }>;

/**
 * Relative-position bias.
 *
 * - `relativePosition()`: `score + (q − kv)` — the plain distance (FlexAttention's
 *   "relative_positional" example).
 * - `relativePosition({ table, maxDistance, numHeads? })`: a learnable bias per clamped distance,
 *   `score + table[(h,) clamp(q − kv, −maxDistance, maxDistance) + maxDistance]`, as in Shaw et al.
 *   (2018) "Self-Attention with Relative Position Representations" (scalar per clipped distance).
 *   The table is a captured f32 tensor (`params.table`), learnable by default.
 *
 * ```ts
 * const plain = relativePosition();
 * const learned = relativePosition({ table: new Float32Array(2 * 64 + 1), maxDistance: 64 });
 * ```
 */
export function relativePosition(): RelativePositionScoreMod;
export function relativePosition(options: RelativeTableOptions): RelativeTableScoreMod;
export function relativePosition(options?: RelativeTableOptions): RelativePositionScoreMod | RelativeTableScoreMod {
  notAnExpr(MOD, options);
  if (options === undefined) return defineScoreMod(MOD, (score, _b, _h, q, kv) => score.add(q.sub(kv)), {});
  const M = check(MOD, 'maxDistance', options.maxDistance, { dtype: 'i32', min: 0 });
  const heads = options.numHeads === undefined ? undefined : check(MOD, 'numHeads', options.numHeads, { dtype: 'i32', min: 1 });
  const data = floatArray(MOD, 'table', options.table);
  const width = 2 * M + 1;
  if (data.length !== (heads ?? 1) * width) {
    throw new ModOptionError(MOD, 'table', `has ${data.length} entries but needs ${heads === undefined ? '' : `numHeads·`}(2·maxDistance + 1) = ${(heads ?? 1) * width}`);
  }
  const table = capture(data, heads === undefined ? [width] : [heads, width], { name: `${MOD}.table`, requiresGrad: options.learnable !== false });
  return defineScoreMod(
    MOD,
    (score, _b, h, q, kv) => {
      const idx = q.sub(kv).clamp(-M, M).add(M);
      return score.add(heads === undefined ? table.at(idx) : table.at(h, idx));
    },
    { table },
  );
}
