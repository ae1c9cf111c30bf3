/**
 * The simplifier: one small rewrite engine (a list of rules tried in order whenever a node is built)
 * doing constant folding, algebraic identities and where/boolean rules. Rules only fire when the
 * result means exactly the same for every input (e.g. x*0 → 0 only for integers, since NaN*0 ≠ 0).
 */
import { Node } from './node';
import type { DType, Op } from './ops';
import { opFunction } from './semantics';

type Rule = (op: Op, dtype: DType, src: readonly Node[]) => Node | undefined;

const isConst = (n: Node | undefined, value?: number | boolean): boolean =>
  n !== undefined && n.op === 'const' && (value === undefined || n.arg === value);
export const constNode = (value: number | boolean, dtype: DType): Node => Node.make('const', dtype, [], value);

const foldConstants: Rule = (op, dtype, src) => {
  if (src.length === 0 || !src.every((s) => s.op === 'const')) return undefined;
  const value = opFunction(op, dtype, src[0]!.dtype)(...src.map((s) => s.arg as number | boolean));
  return constNode(value, dtype);
};

const arithmeticIdentities: Rule = (op, dtype, [a, b]) => {
  switch (op) {
    case 'add':
      if (isConst(b, 0)) return a;
      if (isConst(a, 0)) return b;
      return undefined;
    case 'sub':
      if (isConst(b, 0)) return a;
      if (dtype === 'i32' && a === b) return constNode(0, 'i32');
      return undefined;
    case 'mul':
      if (isConst(b, 1)) return a;
      if (isConst(a, 1)) return b;
      if (dtype === 'i32' && (isConst(a, 0) || isConst(b, 0))) return constNode(0, 'i32');
      return undefined;
    case 'div':
      return isConst(b, 1) ? a : undefined;
    case 'min':
    case 'max':
      return a === b ? a : undefined;
    case 'neg':
      return a!.op === 'neg' ? a!.src[0] : undefined;
    case 'abs':
      return a!.op === 'abs' ? a : undefined;
    case 'floor':
    case 'ceil':
    case 'round':
      return dtype === 'i32' ? a : undefined;
    case 'sign':
      return a!.op === 'sign' ? a : undefined;
    case 'tofloat':
      return a!.dtype === 'f32' ? a : undefined;
    case 'toint':
      return a!.dtype === 'i32' ? a : undefined;
    default:
      return undefined;
  }
};

const booleanRules: Rule = (op, _dtype, [a, b, c]) => {
  switch (op) {
    case 'not':
      return a!.op === 'not' ? a!.src[0] : undefined;
    case 'and':
      if (isConst(a, false) || isConst(b, false)) return constNode(false, 'bool');
      if (isConst(a, true)) return b;
      if (isConst(b, true) || a === b) return a;
      return undefined;
    case 'or':
      if (isConst(a, true) || isConst(b, true)) return constNode(true, 'bool');
      if (isConst(a, false)) return b;
      if (isConst(b, false) || a === b) return a;
      return undefined;
    case 'where':
      if (isConst(a, true)) return b;
      if (isConst(a, false)) return c;
      if (b === c) return b;
      if (a!.op === 'not') return Node.make('where', b!.dtype, [a!.src[0]!, c!, b!]);
      return undefined;
    default:
      return undefined;
  }
};

/** x < x etc. are decidable for integers (floats could be NaN, so they are left alone). */
const reflexiveComparisons: Rule = (op, _dtype, [a, b]) => {
  if (a !== b || a === undefined || a.dtype === 'f32') return undefined;
  if (op === 'eq' || op === 'le' || op === 'ge') return constNode(true, 'bool');
  if (op === 'ne' || op === 'lt' || op === 'gt') return constNode(false, 'bool');
  return undefined;
};

const RULES: readonly Rule[] = [foldConstants, arithmeticIdentities, booleanRules, reflexiveComparisons];

/** Builds a node, rewriting it to a simpler equal node when a rule applies. */
export function makeSimplified(op: Op, dtype: DType, src: readonly Node[]): Node {
  for (const rule of RULES) {
    const replacement = rule(op, dtype, src);
    if (replacement) return replacement;
  }
  return Node.make(op, dtype, src);
}
