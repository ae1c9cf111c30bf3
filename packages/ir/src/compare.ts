/** Numeric comparison with a report of the worst element, for every test and the bench's checks. */
import type { Tensor } from './tensor';
import { toFloat64 } from './tensor';

export interface Tolerance {
  atol: number;
  rtol: number;
}
export interface Comparison {
  ok: boolean;
  maxAbsError: number;
  /** max |a − e| / max(|e|) over the tensor: a scale-free figure for reports. */
  maxRelError: number;
  worstIndex: number;
  worstActual: number;
  worstExpected: number;
  mismatches: number;
}

// A function declaration, not a const arrow: esbuild's single-file bundles (scripts/bundle.mjs) wrap
// modules reached from dynamic imports in lazy initialisers, and one bench bundle never ran this
// module's — a const here was undefined there ("values is not a function" on every GPU decode case).
function values(x: Tensor | ArrayLike<number>): ArrayLike<number> {
  return 'dtype' in x && 'shape' in x ? toFloat64(x as Tensor) : (x as ArrayLike<number>);
}

export interface CompareOptions {
  /**
   * NaN passes where the expected value is NaN too (special-value cases, where NaN is the defined
   * answer); NaN where a number is expected still fails.
   */
  matchNaN?: boolean;
}

/** Element-wise |a − e| ≤ atol + rtol·|e|; NaN never passes (unless matchNaN and both NaN); ±inf must match exactly. */
export function compareClose(actual: Tensor | ArrayLike<number>, expected: Tensor | ArrayLike<number>, tol: Tolerance, opts: CompareOptions = {}): Comparison {
  const a = values(actual);
  const e = values(expected);
  let maxAbs = 0;
  let maxMag = 0;
  let worst = -1;
  let worstExcess = -Infinity;
  let mismatches = a.length === e.length ? 0 : Math.max(a.length, e.length);
  for (let i = 0; i < Math.min(a.length, e.length); i++) {
    const x = a[i]!;
    const y = e[i]!;
    if (Number.isFinite(y)) maxMag = Math.max(maxMag, Math.abs(y));
    let excess: number;
    if (x === y || (opts.matchNaN && x !== x && y !== y)) excess = -Infinity;
    else if (Number.isNaN(x) || Number.isNaN(y) || !Number.isFinite(x) || !Number.isFinite(y)) excess = Infinity;
    else {
      const d = Math.abs(x - y);
      maxAbs = Math.max(maxAbs, d);
      excess = d - (tol.atol + tol.rtol * Math.abs(y));
    }
    if (excess > 0) mismatches++;
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (mismatches && worstExcess === Infinity) maxAbs = Infinity;
  return {
    ok: mismatches === 0,
    maxAbsError: maxAbs,
    maxRelError: maxMag > 0 ? maxAbs / maxMag : maxAbs,
    worstIndex: worst,
    worstActual: worst >= 0 ? a[worst]! : NaN,
    worstExpected: worst >= 0 ? e[worst]! : NaN,
    mismatches,
  };
}

export function formatComparison(name: string, c: Comparison, shape?: readonly number[]): string {
  const where = shape && c.worstIndex >= 0 ? ` at [${unflatten(c.worstIndex, shape).join(', ')}]` : ` at flat index ${c.worstIndex}`;
  return `${name}: ${c.mismatches} element(s) out of tolerance; max abs error ${c.maxAbsError.toExponential(3)}, max rel error ${c.maxRelError.toExponential(3)}; worst${where}: got ${c.worstActual}, expected ${c.worstExpected}`;
}

export function unflatten(index: number, shape: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = shape.length - 1; i >= 0; i--) {
    out.unshift(index % shape[i]!);
    index = Math.floor(index / shape[i]!);
  }
  return out;
}

/** Throws an Error describing the worst element when `actual` is not close to `expected`. */
export function assertClose(actual: Tensor | ArrayLike<number>, expected: Tensor | ArrayLike<number>, tol: Tolerance, name = 'value'): Comparison {
  const c = compareClose(actual, expected, tol);
  const la = 'length' in actual ? actual.length : (actual as Tensor).data.length;
  const le = 'length' in expected ? expected.length : (expected as Tensor).data.length;
  if (la !== le) throw new Error(`${name}: got ${la} elements, expected ${le}`);
  if (!c.ok) throw new Error(formatComparison(name, c, 'shape' in actual ? (actual as Tensor).shape : undefined));
  return c;
}
