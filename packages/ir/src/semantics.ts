/**
 * The meaning of every op, written once as JavaScript expression templates. The evaluator, the
 * constant folder and `compileToJs` are all built from this table, so they cannot disagree.
 * Integer ops wrap to 32 bits like the GPU's i32; float ops run in float64 (the reference's
 * precision). Division by an integer zero yields 0 (GPUs disagree on it, so we fix one answer).
 *
 * Special values follow IEEE 754 (docs/architecture.md §4): NaN propagates through arithmetic and
 * math, `min`/`max` propagate NaN (754-2019 minimum/maximum, −0 < +0: Math.min/max exactly; C's
 * fminf and WGSL's min do not), comparisons with NaN are false (`ne` true), `where` selects, `pow` is
 * C's powf (helper below), `toInt(NaN)` is 0. NaN and ±Infinity constants are literal values, never
 * replaced by a finite stand-in.
 */
import { erf, roundHalfEven } from './erf';
import type { DType, Op } from './ops';

/** Helper functions the templates call; passed into generated code as `$h`. */
export const jsHelpers = {
  /** Floored modulo (the sign of the divisor, like Python and torch.remainder); x mod 0 = 0. */
  imod(a: number, b: number): number {
    if (b === 0) return 0;
    const r = a % b;
    return (r !== 0 && r < 0 !== b < 0 ? r + b : r) | 0;
  },
  ifloordiv(a: number, b: number): number {
    return b === 0 ? 0 : Math.floor(a / b) | 0;
  },
  fmod(a: number, b: number): number {
    return a - b * Math.floor(a / b);
  },
  /**
   * IEEE 754 `pow` (C's powf): Math.pow everywhere except that a base of +1, or −1 to an infinite
   * power, gives 1 even for a NaN or infinite exponent (Math.pow gives NaN there). A negative base
   * to a non-integer power is NaN, as in Math.pow. CUDA's powf agrees; WGSL needs a helper.
   */
  pow(a: number, b: number): number {
    if (a === 1 || (a === -1 && (b === Infinity || b === -Infinity))) return 1;
    return Math.pow(a, b);
  },
  /** Truncation toward zero, saturating to the i32 range; NaN → 0. */
  toint(x: number): number {
    if (x !== x) return 0;
    // `| 0` (exact in range) turns Math.trunc's −0 (e.g. for −0.5) into 0: integers have no −0. (Fix)
    return Math.max(-2147483648, Math.min(2147483647, Math.trunc(x))) | 0;
  },
  erf,
  /** Ties to even (not Math.round, which sends ties toward +∞): what WGSL's round and CUDA's rintf do. */
  round: roundHalfEven,
};
export type JsHelpers = typeof jsHelpers;

type Template = (...operands: string[]) => string;

/** The JS expression for `op` producing `dtype` from operands of dtype `srcDtype` (the first source's). */
export function jsTemplate(op: Op, dtype: DType, srcDtype: DType): Template {
  const int = dtype === 'i32';
  switch (op) {
    case 'add': return (a, b) => (int ? `((${a} + ${b}) | 0)` : `(${a} + ${b})`);
    case 'sub': return (a, b) => (int ? `((${a} - ${b}) | 0)` : `(${a} - ${b})`);
    case 'mul': return (a, b) => (int ? `Math.imul(${a}, ${b})` : `(${a} * ${b})`);
    case 'div': return (a, b) => `(${a} / ${b})`;
    case 'mod': return (a, b) => (int ? `$h.imod(${a}, ${b})` : `$h.fmod(${a}, ${b})`);
    case 'floordiv': return (a, b) => (int ? `$h.ifloordiv(${a}, ${b})` : `Math.floor(${a} / ${b})`);
    case 'pow': return (a, b) => `$h.pow(${a}, ${b})`;
    case 'min': return (a, b) => `Math.min(${a}, ${b})`;
    case 'max': return (a, b) => `Math.max(${a}, ${b})`;
    case 'neg': return (a) => (int ? `(-(${a}) | 0)` : `(-(${a}))`);
    case 'abs': return (a) => (int ? `(Math.abs(${a}) | 0)` : `Math.abs(${a})`);
    case 'sign': return (a) => (int ? `((${a} > 0) - (${a} < 0))` : `Math.sign(${a})`);
    case 'lt': return (a, b) => `(${a} < ${b})`;
    case 'le': return (a, b) => `(${a} <= ${b})`;
    case 'gt': return (a, b) => `(${a} > ${b})`;
    case 'ge': return (a, b) => `(${a} >= ${b})`;
    case 'eq': return (a, b) => `(${a} === ${b})`;
    case 'ne': return (a, b) => `(${a} !== ${b})`;
    case 'and': return (a, b) => `(${a} && ${b})`;
    case 'or': return (a, b) => `(${a} || ${b})`;
    case 'not': return (a) => `(!${a})`;
    case 'where': return (c, a, b) => `(${c} ? ${a} : ${b})`;
    case 'exp': return (a) => `Math.exp(${a})`;
    case 'exp2': return (a) => `Math.pow(2, ${a})`;
    case 'log': return (a) => `Math.log(${a})`;
    case 'log2': return (a) => `Math.log2(${a})`;
    case 'tanh': case 'tanh_approx': return (a) => `Math.tanh(${a})`;
    case 'sigmoid': return (a) => `(1 / (1 + Math.exp(-(${a}))))`;
    case 'sqrt': return (a) => `Math.sqrt(${a})`;
    case 'rsqrt': return (a) => `(1 / Math.sqrt(${a}))`;
    case 'sin': return (a) => `Math.sin(${a})`;
    case 'cos': return (a) => `Math.cos(${a})`;
    case 'erf': return (a) => `$h.erf(${a})`;
    case 'round': return (a) => (int ? a! : `$h.round(${a})`);
    case 'floor': return (a) => (int ? a! : `Math.floor(${a})`);
    case 'ceil': return (a) => (int ? a! : `Math.ceil(${a})`);
    case 'tofloat': return (a) => (srcDtype === 'bool' ? `(${a} ? 1 : 0)` : a!);
    case 'toint': return (a) => (srcDtype === 'bool' ? `(${a} ? 1 : 0)` : srcDtype === 'f32' ? `$h.toint(${a})` : a!);
    case 'const': case 'arg': case 'scalar': case 'load':
      throw new Error(`jsTemplate: ${op} is a leaf`);
  }
}

/** A JS literal for a constant, exact for every double (including ±Infinity, NaN and −0). */
export function jsLiteral(value: number | boolean): string {
  if (typeof value === 'boolean') return String(value);
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  if (Object.is(value, -0)) return '-0';
  return String(value);
}

type OpFn = (...args: (number | boolean)[]) => number | boolean;
const opFns = new Map<string, OpFn>();

/** The op as a callable function, compiled once from its template. */
export function opFunction(op: Op, dtype: DType, srcDtype: DType): OpFn {
  const key = `${op}|${dtype}|${srcDtype}`;
  let fn = opFns.get(key);
  if (!fn) {
    const body = jsTemplate(op, dtype, srcDtype)('a', 'b', 'c');
    fn = new Function('$h', `return (a, b, c) => ${body};`)(jsHelpers) as OpFn;
    opFns.set(key, fn);
  }
  return fn;
}
