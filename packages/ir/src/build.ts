/**
 * Smart constructors: the dtype rules of the IR. Operands are lifted (numbers become constants of
 * the other operand's type, booleans bool constants), mixed i32/f32 promote to f32, and misuse
 * (`tanh` of a bool, `and` of numbers) raises a TraceError saying what to write instead.
 */
import { TraceError } from './errors';
import { Node } from './node';
import type { BinaryArithOp, CompareOp, DType, MathOp, Op } from './ops';
import { constNode, makeSimplified } from './simplify';

/** Anything that can stand for a value in a mod: an Expr, a Scalar, a plain number or boolean. */
export interface NodeSource {
  toNode(): Node;
}
export type Operand = NodeSource | number | boolean;

const describe = (n: Node): string => `${n.op}${n.op === 'const' ? `(${String(n.arg)})` : ''} : ${n.dtype}`;

export function liftNumber(value: number, like: DType | undefined): Node {
  if (typeof value !== 'number') throw new TraceError(`expected a number, Expr or boolean, got ${typeof value}`);
  // The i32 range is [-2^31, 2^31 - 1] (asymmetric: -2147483648 is an i32 too).
  const isI32 = Number.isInteger(value) && value >= -2147483648 && value <= 2147483647;
  // (-0 becomes 0: integers have no negative zero, and equal constants must hash equal.)
  if ((like === 'i32' || like === undefined) && isI32) return constNode(value === 0 ? 0 : value, 'i32');
  return constNode(value, 'f32');
}

/** Lifts an operand; `like` is the dtype of the other side, which bare numbers adopt. */
export function lift(x: Operand, like?: DType): Node {
  if (typeof x === 'boolean') return constNode(x, 'bool');
  if (typeof x === 'number') return liftNumber(x, like);
  if (x && typeof (x as NodeSource).toNode === 'function') return (x as NodeSource).toNode();
  throw new TraceError(`cannot use ${x === null ? 'null' : typeof x} in a mod: operands are Expr, Scalar, number or boolean`);
}

/** Lifts two operands so that a bare number takes the dtype of the other side. */
function liftPair(a: Operand, b: Operand): [Node, Node] {
  if (typeof a === 'number' || typeof a === 'boolean') {
    const nb = lift(b);
    return [lift(a, nb.dtype), nb];
  }
  const na = lift(a);
  return [na, lift(b, na.dtype)];
}

export const toF32 = (n: Node): Node => (n.dtype === 'f32' ? n : makeSimplified('tofloat', 'f32', [n]));

function requireNumeric(op: string, n: Node): void {
  if (n.dtype === 'bool') {
    throw new TraceError(
      `${op} needs a number but got a boolean (${describe(n)}); convert it with .toFloat() / .toInt(), or use where(cond, a, b)`,
    );
  }
}

function promote(op: string, a: Node, b: Node): [Node, Node, DType] {
  requireNumeric(op, a);
  requireNumeric(op, b);
  if (a.dtype === 'i32' && b.dtype === 'i32') return [a, b, 'i32'];
  return [toF32(a), toF32(b), 'f32'];
}

export function binaryArith(op: BinaryArithOp, x: Operand, y: Operand): Node {
  const [a0, b0] = liftPair(x, y);
  const [a, b, dtype] = promote(op, a0, b0);
  // True division and powers are float ops whatever the inputs (as in PyTorch's `/` and `**`).
  if (op === 'div' || op === 'pow') return makeSimplified(op, 'f32', [toF32(a), toF32(b)]);
  return makeSimplified(op, dtype, [a, b]);
}

export function unaryArith(op: 'neg' | 'abs' | 'sign' | 'floor' | 'ceil' | 'round', x: Operand): Node {
  const a = lift(x);
  requireNumeric(op, a);
  return makeSimplified(op, a.dtype, [a]);
}

export function compare(op: CompareOp, x: Operand, y: Operand): Node {
  const [a, b] = liftPair(x, y);
  if (a.dtype === 'bool' || b.dtype === 'bool') {
    if ((op === 'eq' || op === 'ne') && a.dtype === 'bool' && b.dtype === 'bool') return makeSimplified(op, 'bool', [a, b]);
    throw new TraceError(`${op} compares numbers (eq/ne also compare two booleans); got ${describe(a)} and ${describe(b)}`);
  }
  const [pa, pb] = promote(op, a, b);
  return makeSimplified(op, 'bool', [pa, pb]);
}

function requireBool(op: string, n: Node): void {
  if (n.dtype !== 'bool') {
    throw new TraceError(`${op} needs booleans but got ${describe(n)}; compare first, e.g. x.ne(0) or q.ge(kv)`);
  }
}

export function logic(op: 'and' | 'or', x: Operand, y: Operand): Node {
  const a = lift(x, 'bool');
  const b = lift(y, 'bool');
  requireBool(op, a);
  requireBool(op, b);
  return makeSimplified(op, 'bool', [a, b]);
}

export function not(x: Operand): Node {
  const a = lift(x, 'bool');
  requireBool('not', a);
  return makeSimplified('not', 'bool', [a]);
}

export function where(cond: Operand, x: Operand, y: Operand): Node {
  const c = lift(cond);
  if (c.dtype !== 'bool') throw new TraceError(`where(cond, a, b) needs a boolean condition but got ${describe(c)}; compare first, e.g. x.ne(0)`);
  let [a, b] = liftPair(x, y);
  if (a.dtype !== b.dtype) {
    if (a.dtype === 'bool' || b.dtype === 'bool') {
      throw new TraceError(`where(cond, a, b): a and b must both be booleans or both numbers; got ${describe(a)} and ${describe(b)}`);
    }
    [a, b] = [toF32(a), toF32(b)];
  }
  return makeSimplified('where', a.dtype, [c, a, b]);
}

export function math(op: MathOp, x: Operand): Node {
  const a = lift(x, 'f32');
  requireNumeric(op, a);
  return makeSimplified(op, 'f32', [toF32(a)]);
}

export function cast(op: 'tofloat' | 'toint', x: Operand): Node {
  const a = lift(x);
  return makeSimplified(op, op === 'tofloat' ? 'f32' : 'i32', [a]);
}

/** Generic rebuild used by passes (derivative, legalization) that reconstruct nodes op by op. */
export function rebuild(op: Op, dtype: DType, src: readonly Node[]): Node {
  return makeSimplified(op, dtype, src);
}
