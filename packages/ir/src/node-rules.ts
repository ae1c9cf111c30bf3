/**
 * What a node may hold. `Node.make` is public (passes such as legalisation build with it), and
 * renderers turn a node's `arg` into kernel text (a constant's literal, an argument's name, a slot
 * number), so every payload is checked here before a node exists: an `arg` is one of the five hook
 * arguments, a `const` a number or boolean of the declared dtype, a slot a small integer. A payload
 * object is copied into a fresh frozen one, so a getter or proxy cannot change it after the check.
 */
import { TraceError } from './errors';
import type { ArgName, DType, Op } from './ops';
import {
  BINARY_ARITH_OPS, CAST_OPS, COMPARE_OPS, LEAF_OPS, LOGIC_OPS, MATH_OPS, ROUND_OPS, SELECT_OPS, UNARY_ARITH_OPS,
  isBinaryArith, isCompare, isMath, isRound, isUnaryArith,
} from './ops';

/** A load from a captured tensor: which parameter slot, its element dtype and rank. */
export interface LoadArg {
  readonly slot: number;
  readonly dtype: 'f32' | 'i32';
  readonly rank: number;
}
/** A runtime scalar parameter: its slot and dtype. Its value is not part of the graph. */
export interface ScalarArg {
  readonly slot: number;
  readonly dtype: 'f32' | 'i32';
}
export type NodeArg = number | boolean | ArgName | LoadArg | ScalarArg | undefined;

const ALL_OPS: readonly string[] = [
  ...LEAF_OPS, ...BINARY_ARITH_OPS, ...UNARY_ARITH_OPS, ...COMPARE_OPS, ...LOGIC_OPS, ...SELECT_OPS, ...MATH_OPS, ...ROUND_OPS, ...CAST_OPS,
];
const DTYPES: readonly string[] = ['bool', 'i32', 'f32'];
const ARG_DTYPE: Record<ArgName, DType> = { score: 'f32', b: 'i32', h: 'i32', q: 'i32', kv: 'i32' };
/** Captured tensors have rank 1 to 4 (params.ts); parameter slots are array indices. */
const MAX_RANK = 4;
const MAX_SLOT = 1 << 16;

/** Structural view of a source node: rules read only its dtype. */
interface Typed {
  readonly dtype: DType;
}

const fail = (op: string, why: string): never => {
  throw new TraceError(`Node.make('${op}'): ${why}`);
};
const show = (x: unknown): string => (typeof x === 'string' ? JSON.stringify(x) : typeof x === 'object' && x !== null ? 'an object' : String(x));

function checkSlot(op: string, slot: unknown): number {
  if (typeof slot !== 'number' || !Number.isInteger(slot) || slot < 0 || slot >= MAX_SLOT) fail(op, `slot must be an integer in [0, ${MAX_SLOT}), got ${show(slot)}`);
  return slot as number;
}
function checkParamDtype(op: string, dtype: unknown, declared: DType): 'f32' | 'i32' {
  if (dtype !== 'f32' && dtype !== 'i32') fail(op, `the parameter dtype must be 'f32' or 'i32', got ${show(dtype)}`);
  if (dtype !== declared) fail(op, `the parameter dtype ${String(dtype)} differs from the node's dtype ${declared}`);
  return dtype as 'f32' | 'i32';
}

/** The leaf payload, checked and copied. */
function leafArg(op: string, dtype: DType, arg: unknown, srcCount: number): NodeArg {
  switch (op) {
    case 'const':
      if (dtype === 'bool') {
        if (typeof arg !== 'boolean') fail(op, `a bool constant must be true or false, got ${show(arg)}`);
      } else if (typeof arg !== 'number') fail(op, `a ${dtype} constant must be a number, got ${show(arg)}`);
      else if (dtype === 'i32' && !(Number.isInteger(arg) && arg >= -2147483648 && arg <= 2147483647 && !Object.is(arg, -0))) {
        fail(op, `an i32 constant must be an integer in the i32 range (no −0), got ${show(arg)}`);
      }
      // f32 constants may be NaN or ±Infinity: every renderer spells those (jsLiteral, the dialects)
      return arg as number | boolean;
    case 'arg':
      if (typeof arg !== 'string' || !Object.hasOwn(ARG_DTYPE, arg)) fail(op, `an argument is one of score, b, h, q, kv; got ${show(arg)}`);
      if (ARG_DTYPE[arg as ArgName] !== dtype) fail(op, `argument ${String(arg)} has dtype ${ARG_DTYPE[arg as ArgName]}, not ${dtype}`);
      return arg as ArgName;
    case 'scalar': {
      if (typeof arg !== 'object' || arg === null) fail(op, `the payload must be { slot, dtype }, got ${show(arg)}`);
      const { slot, dtype: pd } = arg as Record<string, unknown>;
      return Object.freeze({ slot: checkSlot(op, slot), dtype: checkParamDtype(op, pd, dtype) });
    }
    case 'load': {
      if (typeof arg !== 'object' || arg === null) fail(op, `the payload must be { slot, dtype, rank }, got ${show(arg)}`);
      const { slot, dtype: pd, rank } = arg as Record<string, unknown>;
      if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 1 || rank > MAX_RANK) fail(op, `rank must be an integer in [1, ${MAX_RANK}], got ${show(rank)}`);
      if (rank !== srcCount) fail(op, `a rank-${String(rank)} load takes ${String(rank)} index sources, got ${srcCount}`);
      return Object.freeze({ slot: checkSlot(op, slot), dtype: checkParamDtype(op, pd, dtype), rank: rank as number });
    }
  }
  return fail(op, 'unknown leaf');
}

/**
 * Checks (op, dtype, sources, payload) against the IR's typing rules and returns the payload to
 * store. Sources are already known to be genuine nodes (node.ts checks that).
 */
export function checkNode(op: unknown, dtype: unknown, src: readonly Typed[], arg: unknown): NodeArg {
  if (typeof op !== 'string' || !ALL_OPS.includes(op)) return fail(String(show(op)), `unknown op; the ops are ${ALL_OPS.join(', ')}`);
  if (typeof dtype !== 'string' || !DTYPES.includes(dtype)) return fail(op, `dtype must be bool, i32 or f32, got ${show(dtype)}`);
  const d = dtype as DType;
  const o = op as Op;
  const arity = (n: number) => {
    if (src.length !== n) fail(op, `takes ${n} source(s), got ${src.length}`);
  };
  const need = (cond: boolean, why: string) => {
    if (!cond) fail(op, why);
  };
  const s = src.map((x) => x.dtype);
  if (o === 'const' || o === 'arg' || o === 'scalar') {
    arity(0);
    return leafArg(o, d, arg, 0);
  }
  if (o === 'load') {
    need(s.every((x) => x === 'i32'), 'load indices must be i32');
    need(d === 'f32' || d === 'i32', 'a load yields f32 or i32');
    return leafArg(o, d, arg, src.length);
  }
  if (arg !== undefined) fail(op, `only leaves carry a payload, got ${show(arg)}`);
  if (isBinaryArith(o)) {
    arity(2);
    need(s[0] === s[1] && s[0] !== 'bool', 'operands must be two numbers of one dtype');
    need(d === (o === 'div' || o === 'pow' ? 'f32' : s[0]), `result dtype ${d} does not follow from ${s[0]} operands`);
  } else if (isUnaryArith(o) || isRound(o)) {
    arity(1);
    need(s[0] !== 'bool' && d === s[0], 'operand and result must be the same numeric dtype');
  } else if (isCompare(o)) {
    arity(2);
    need(s[0] === s[1] && d === 'bool', 'compares two operands of one dtype into a bool');
    need(s[0] !== 'bool' || o === 'eq' || o === 'ne', 'only eq/ne compare booleans');
  } else if (o === 'and' || o === 'or' || o === 'not') {
    arity(o === 'not' ? 1 : 2);
    need(d === 'bool' && s.every((x) => x === 'bool'), 'logic ops take and give booleans');
  } else if (o === 'where') {
    arity(3);
    need(s[0] === 'bool' && s[1] === s[2] && d === s[1], 'where(cond: bool, a, b) with a, b and the result of one dtype');
  } else if (isMath(o)) {
    arity(1);
    need(s[0] === 'f32' && d === 'f32', 'float math takes and gives f32');
  } else {
    arity(1);
    need(d === (o === 'tofloat' ? 'f32' : 'i32'), `${o} gives ${o === 'tofloat' ? 'f32' : 'i32'}`);
  }
  return undefined;
}
