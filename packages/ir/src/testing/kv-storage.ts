/**
 * allocateKv arguments every KvStorage must refuse, each with the error ir's shared check gives for
 * it: a backend's test asserts its allocateKv throws that class and message, so all backends refuse
 * the same calls the same way (the cases cover each rule of checkKvAllocation).
 */
import { checkKvAllocation } from '../kv-storage';
import type { DType } from '../tensor';

export interface KvAllocationRefusal {
  shape: readonly number[];
  dtype: DType;
  /** what checkKvAllocation throws for them (an OptionError or a ShapeError) */
  error: Error;
}

const CASES: [unknown, string][] = [
  [[2, 2, 8, 4], 'f32'], // batch above 1
  [[1, 2, 8], 'f16'], // a dim missing
  [[1, 0, 8, 4], 'bf16'], // an empty dim
  [[1, 2, 8, 1.5], 'f32'], // a fraction
  [[1, 2 ** 20, 2 ** 20, 2 ** 20], 'f32'], // more elements than a number counts exactly
  [undefined, 'f32'], // not an array
  [[1, 2, 8, 4], 'f64'], // an unknown dtype
];

export function kvAllocationRefusals(): KvAllocationRefusal[] {
  return CASES.map(([shape, dtype]) => {
    try {
      checkKvAllocation(shape as number[], dtype as DType);
    } catch (error) {
      return { shape: shape as number[], dtype: dtype as DType, error: error as Error };
    }
    throw new Error(`checkKvAllocation accepted ${JSON.stringify(shape)} ${dtype}: not a refusal`);
  });
}
