/** @flexattn/ir/testing — seeded tensors, numeric comparison and the conformance suite. */
export * from './random';
export * from './compare';
export * from './cases';
export { describeConformance, caseInputs, DEFAULT_TOLERANCE, type ConformanceOptions, type CaseInputs } from './conformance';
