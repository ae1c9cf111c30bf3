/**
 * @flexattn/ir — the shared contract of flexattn: the expression IR that mods are traced into, its
 * executable semantics (evaluate, compileToJs, derivatives, interval analysis), the kernel-hook plan
 * and the one hook assembler every C-like backend renders through, the host tensor and BlockMask
 * types, and the one kernel interface.
 */
export * from './errors';
export type { DType as IRDType, Op, ArgName } from './ops';
export { Node, topoOrder, type LoadArg, type ScalarArg } from './node';
export type { Operand, NodeSource } from './build';
export * from './expr';
export { capture, capturedLike, scalar, CapturedTensor, Scalar, type ModParam } from './params';
export { traceScoreMod, traceMaskMod, TracedMod, type ScoreMod, type MaskMod } from './trace';
export { jsMod, type JsMod, type PlainMod, type FreeVariable, type FreeVariables } from './js/js-mod';
export { evaluate, evaluateNode, compileToJs, compileNodeToJs, renderJsBody, type ModArgs, type Value, type CompiledMod } from './evaluate';
export { gradScore, captureGradTerms, differentiate, type CaptureGradTerm } from './derive';
export { maskInterval, compileMaskInterval, type Box, type Coverage, type CoverageCode, type CompiledInterval } from './interval';
export * from './render/c-style';
export * from './render/hoist';
export * from './render/param-layout';
export * from './render/hook-plan';
export { additiveBias, kvSlope } from './render/kv-slope';
export * from './render/hooks';
export * from './tensor';
export * from './block-tables';
// Seeded tensors and numeric comparison: for examples, benchmarks and apps as much as for tests
// (the /testing entry re-exports them; it also pulls in vitest, which a browser bundle must not).
export { seededRandom, randomNormal, randomTensor } from './random';
export { compareClose, assertClose, formatComparison, type Comparison, type Tolerance } from './compare';
export * from './block-mask';
export { tileTables, blockClasses, shortTileFirstOffset, tileTableConversions, type TileTables, type TileTableOptions } from './tile-tables';
export * from './kernel';
export { checkOptionValues, checkFeatures, requestedFeatures, type BackendFeature, type AttentionPass } from './options';
export * from './validate';
export { checkBlockMask } from './validate-mask';
export { argsRead, type ArgsRead } from './args-read';
export { hashString } from './hash';
export { LruCache, type LruCacheOptions, type LruCacheStats } from './lru-cache';
export { inlineMod, rebindParams, type InlineArgs } from './inline';
export { allocateHostKv, checkKvAllocation, checkKvRowWrite, hasKvStorage, KV_LAYOUT, writeHostKvRows, type KvStorage } from './kv-storage';
