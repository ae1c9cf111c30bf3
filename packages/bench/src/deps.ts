/** The bench's view of the other packages, in one place. */
export {
  capture,
  scalar,
  type Expr,
  type AttentionShape,
  traceMaskMod,
  traceScoreMod,
  compileToJs,
  FULL,
  PARTIAL,
  type BlockMask,
  type DType,
  type FlexAttentionBackend,
  type FlexAttentionOptions,
  type MaskMod,
  type ScoreMod,
  type Tensor,
  toFloat64,
} from '@flexattn/ir';
export { createReferenceBackend } from '@flexattn/ir/reference';
export { compareClose, randomTensor, seededRandom, type Comparison } from '@flexattn/ir/testing';
export { createBlockMask, DecodeSteps } from '@flexattn/blockmask';

import { seededRandom } from '@flexattn/ir/testing';
/** Non-negative 31-bit integers from a seed. */
export const seededRandomInts = (seed: number): (() => number) => {
  const r = seededRandom(seed);
  return () => Math.floor(r() * 2147483647);
};
