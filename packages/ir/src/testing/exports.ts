/** Checks that a package re-exports ir's whole error hierarchy, so users catch one class anywhere. */
import * as ir from '../index';

/** The names of ir's error classes (FlexAttnError and its subclasses) that `mod` does not export as the same class. */
export function missingErrorExports(mod: Record<string, unknown>): string[] {
  return Object.entries(ir)
    .filter(([, value]) => value === ir.FlexAttnError || (typeof value === 'function' && value.prototype instanceof ir.FlexAttnError))
    .filter(([name, value]) => mod[name] !== value)
    .map(([name]) => name);
}
