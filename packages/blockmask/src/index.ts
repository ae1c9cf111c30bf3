/**
 * @flexattn/blockmask — block-sparse masks classified from the IR: createBlockMask, fromKvBlocks,
 * validateBlockMask, and createMask (the dense element mask, for tests). The BlockMask layout itself
 * (TableBlockMask) lives in @flexattn/ir so backends need only ir.
 */
export { createBlockMask, createMask, lastBuildStats, type CreateBlockMaskOptions, type BlockMaskBuildStats } from './create';
export { fromKvBlocks, type FromKvBlocksOptions } from './from-kv-blocks';
export {
  validateBlockMask, type BlockMaskProblem, type BlockMaskProblemKind, type BlockMaskValidation, type ValidateBlockMaskOptions,
} from './validate';
export { EMPTY, PARTIAL, FULL, TableBlockMask, type BlockMask, type BlockTables } from '@flexattn/ir';
export { ClassifiedBlockMask } from './classified';
export { DecodeSteps, type DecodeStepsOptions } from './decode-steps';
export type { MaskSource } from './source';
