/**
 * The user-facing expression type. Mods are plain functions over Exprs; every method builds IR.
 * JS operators cannot be overloaded, so any attempt to turn an Expr into a primitive (`q >= kv`,
 * `score + 1`, `if (score > 0)`) throws a TraceError naming the method to use instead.
 */
import * as build from './build';
import type { NodeSource, Operand } from './build';
import { TraceError } from './errors';
import { formatNode } from './format';
import type { Node } from './node';
import type { DType } from './ops';

const OPERATOR_HELP =
  'JS operators, `if`, `? :`, `&&` and `||` do not trace on Exprs. Use the methods instead: ' +
  'q.ge(kv) instead of q >= kv, score.add(x) instead of score + x, q.sub(kv) instead of q - kv, ' +
  'a.and(b) instead of a && b, where(cond, a, b) instead of cond ? a : b';

export class Expr implements NodeSource {
  constructor(readonly node: Node) {}

  get dtype(): DType {
    return this.node.dtype;
  }
  toNode(): Node {
    return this.node;
  }

  add(x: Operand): Expr { return wrap(build.binaryArith('add', this, x)); }
  sub(x: Operand): Expr { return wrap(build.binaryArith('sub', this, x)); }
  mul(x: Operand): Expr { return wrap(build.binaryArith('mul', this, x)); }
  /** True division: always a float result (like PyTorch's `/`). */
  div(x: Operand): Expr { return wrap(build.binaryArith('div', this, x)); }
  /** Floored modulo: the result has the divisor's sign (like Python's `%`); integer x mod 0 is 0. */
  mod(x: Operand): Expr { return wrap(build.binaryArith('mod', this, x)); }
  /** floor(a / b); integer when both are integers (integer division by 0 gives 0). */
  floorDiv(x: Operand): Expr { return wrap(build.binaryArith('floordiv', this, x)); }
  pow(x: Operand): Expr { return wrap(build.binaryArith('pow', this, x)); }
  min(x: Operand): Expr { return wrap(build.binaryArith('min', this, x)); }
  max(x: Operand): Expr { return wrap(build.binaryArith('max', this, x)); }
  clamp(lo: Operand, hi: Operand): Expr { return this.max(lo).min(hi); }
  neg(): Expr { return wrap(build.unaryArith('neg', this)); }
  abs(): Expr { return wrap(build.unaryArith('abs', this)); }
  /** −1, 0 or 1 in the input's dtype (floats: ±0 and NaN pass through). */
  sign(): Expr { return wrap(build.unaryArith('sign', this)); }
  floor(): Expr { return wrap(build.unaryArith('floor', this)); }
  ceil(): Expr { return wrap(build.unaryArith('ceil', this)); }
  /** To the nearest integer, ties to even (2.5 → 2, 3.5 → 4; not JS Math.round). Identity on i32. */
  round(): Expr { return wrap(build.unaryArith('round', this)); }

  lt(x: Operand): Expr { return wrap(build.compare('lt', this, x)); }
  le(x: Operand): Expr { return wrap(build.compare('le', this, x)); }
  gt(x: Operand): Expr { return wrap(build.compare('gt', this, x)); }
  ge(x: Operand): Expr { return wrap(build.compare('ge', this, x)); }
  eq(x: Operand): Expr { return wrap(build.compare('eq', this, x)); }
  ne(x: Operand): Expr { return wrap(build.compare('ne', this, x)); }
  and(x: Operand): Expr { return wrap(build.logic('and', this, x)); }
  or(x: Operand): Expr { return wrap(build.logic('or', this, x)); }
  not(): Expr { return wrap(build.not(this)); }

  exp(): Expr { return wrap(build.math('exp', this)); }
  exp2(): Expr { return wrap(build.math('exp2', this)); }
  log(): Expr { return wrap(build.math('log', this)); }
  log2(): Expr { return wrap(build.math('log2', this)); }
  tanh(): Expr { return wrap(build.math('tanh', this)); }
  /** tanh that backends may compute with a fast hardware approximation (e.g. tanh.approx.f32). */
  tanhApprox(): Expr { return wrap(build.math('tanh_approx', this)); }
  sigmoid(): Expr { return wrap(build.math('sigmoid', this)); }
  sqrt(): Expr { return wrap(build.math('sqrt', this)); }
  rsqrt(): Expr { return wrap(build.math('rsqrt', this)); }
  sin(): Expr { return wrap(build.math('sin', this)); }
  cos(): Expr { return wrap(build.math('cos', this)); }
  /** The error function (GELU's building block); WGSL evaluates it with a documented approximation. */
  erf(): Expr { return wrap(build.math('erf', this)); }
  toFloat(): Expr { return wrap(build.cast('tofloat', this)); }
  /** Truncates toward zero, saturating at the i32 range (NaN → 0). */
  toInt(): Expr { return wrap(build.cast('toint', this)); }

  /** A readable dump of the expression graph. */
  dump(): string {
    return formatNode(this.node);
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Expr<${this.dtype}>\n${this.dump()}`;
  }
  [Symbol.toPrimitive](hint: string): never {
    throw new TraceError(`an Expr was used as a plain JS value (${hint} conversion). ${OPERATOR_HELP}`);
  }
}

export const wrap = (node: Node): Expr => new Expr(node);

// Free-function forms, for code that reads better as math: where(c, a, b), tanh(x), min(a, b)…
export const where = (cond: Operand, a: Operand, b: Operand): Expr => wrap(build.where(cond, a, b));
const mathFn = (op: Parameters<typeof build.math>[0]) => (x: Operand): Expr => wrap(build.math(op, x));
export const exp = mathFn('exp');
export const exp2 = mathFn('exp2');
export const log = mathFn('log');
export const log2 = mathFn('log2');
export const tanh = mathFn('tanh');
export const tanhApprox = mathFn('tanh_approx');
export const sigmoid = mathFn('sigmoid');
export const sqrt = mathFn('sqrt');
export const rsqrt = mathFn('rsqrt');
export const sin = mathFn('sin');
export const cos = mathFn('cos');
export const erf = mathFn('erf');
export const sign = (x: Operand): Expr => wrap(build.unaryArith('sign', x));
export const round = (x: Operand): Expr => wrap(build.unaryArith('round', x));
export const abs = (x: Operand): Expr => wrap(build.unaryArith('abs', x));
export const floor = (x: Operand): Expr => wrap(build.unaryArith('floor', x));
export const ceil = (x: Operand): Expr => wrap(build.unaryArith('ceil', x));
export const neg = (x: Operand): Expr => wrap(build.unaryArith('neg', x));
export const min = (a: Operand, b: Operand): Expr => wrap(build.binaryArith('min', a, b));
export const max = (a: Operand, b: Operand): Expr => wrap(build.binaryArith('max', a, b));
export const pow = (a: Operand, b: Operand): Expr => wrap(build.binaryArith('pow', a, b));
export const clamp = (x: Operand, lo: Operand, hi: Operand): Expr => max(x, lo).min(hi);
export const and = (a: Operand, b: Operand): Expr => wrap(build.logic('and', a, b));
export const or = (a: Operand, b: Operand): Expr => wrap(build.logic('or', a, b));
export const not = (a: Operand): Expr => wrap(build.not(a));
export const toFloat = (x: Operand): Expr => wrap(build.cast('tofloat', x));
export const toInt = (x: Operand): Expr => wrap(build.cast('toint', x));
/** Lifts a number/boolean/Scalar to an Expr (an i32 constant for integers, f32 otherwise). */
export const constant = (x: Operand, dtype?: 'f32' | 'i32'): Expr => {
  const n = build.lift(x, dtype);
  return wrap(dtype === 'f32' ? build.toF32(n) : n);
};
