/** @flexattn/ir/testing — seeded tensors, numeric comparison and the conformance suite. */
export * from './random';
export * from './compare';
export * from './cases';
export { caseInputs, DEFAULT_TOLERANCE, type CaseInputs } from './inputs';
export { describeConformance, type ConformanceOptions } from './conformance';
export { describeFuzz, fuzzChecks, fuzzSeed, type FuzzChecks, type FuzzOptions } from './fuzz';
export { denseBackward64, denseForward64, denseModsOf, WEIGHT_UNDERFLOW, type DenseMods, type DenseScore } from './dense';
export { checkCase, describeCheck, toleranceFor, type CaseCheckOptions, type ConformanceCheck, type ConformancePass } from './checks';
export { formatRunRecord, runConformance, type ConformanceRunOptions, type ConformanceRunRecord, type ConformanceRunResult } from './run-conformance';
export { missingErrorExports } from './exports';
export { kvAllocationRefusals, type KvAllocationRefusal } from './kv-storage';
