/**
 * Derivatives of score mods: with respect to the score (for dS in the backward pass) and with
 * respect to the values loaded from learnable captured tensors (their gradients are scatter-adds:
 * grad[index] += dPost · ∂post/∂load at every (b, h, q, kv) that reads it).
 * Symbolic forward differentiation over the IR; a zero derivative is `null`, so no term is built
 * for it (multiplying by a literal 0 would turn inf/NaN into NaN).
 */
import { binaryArith, compare, math, unaryArith, where as whereNode } from './build';
import { UnsupportedError } from './errors';
import type { LoadArg, Node } from './node';
import { topoOrder } from './node';
import { CapturedTensor } from './params';
import { constNode } from './simplify';
import { TracedMod, argNode } from './trace';

type D = Node | null;
const LN2 = Math.LN2;
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

const add = (a: D, b: D): D => (a && b ? binaryArith('add', a, b) : a ?? b);
const mul = (a: Node, b: D): D => (b ? binaryArith('mul', a, b) : null);
const negD = (a: D): D => (a ? unaryArith('neg', a) : null);
const zeroIfNull = (a: D): Node => a ?? constNode(0, 'f32');

/** d root / d x, where `isVariable(n)` marks the node(s) standing for x. */
export function differentiate(root: Node, isVariable: (n: Node) => boolean): D {
  const d = new Map<Node, D>();
  for (const n of topoOrder([root])) {
    d.set(n, n.dtype === 'f32' ? (isVariable(n) ? constNode(1, 'f32') : derivOf(n, d)) : null);
  }
  return d.get(root) ?? null;
}

function derivOf(n: Node, d: Map<Node, D>): D {
  const [a, b, c] = n.src;
  const da = a ? (d.get(a) ?? null) : null;
  const db = b ? (d.get(b) ?? null) : null;
  switch (n.op) {
    case 'const': case 'arg': case 'scalar': case 'load':
    case 'floor': case 'ceil': case 'round': case 'sign': case 'floordiv': case 'tofloat': case 'toint':
      return null;
    case 'add': return add(da, db);
    case 'sub': return add(da, negD(db));
    case 'mul': return add(mul(b!, da), mul(a!, db));
    case 'div': // d(a/b) = da/b − a·db/b²
      return add(da ? binaryArith('div', da, b!) : null, db ? negD(binaryArith('div', binaryArith('mul', a!, db), binaryArith('mul', b!, b!))) : null);
    case 'mod': // a − b·floor(a/b): the floor is piecewise constant
      return add(da, db ? negD(binaryArith('mul', db, unaryArith('floor', binaryArith('div', a!, b!)))) : null);
    case 'pow': {
      const ta = da ? binaryArith('mul', binaryArith('mul', b!, binaryArith('pow', a!, binaryArith('sub', b!, 1))), da) : null;
      const tb = db ? binaryArith('mul', binaryArith('mul', n, math('log', a!)), db) : null;
      return add(ta, tb);
    }
    case 'min': return da || db ? whereNode(compare('le', a!, b!), zeroIfNull(da), zeroIfNull(db)) : null;
    case 'max': return da || db ? whereNode(compare('ge', a!, b!), zeroIfNull(da), zeroIfNull(db)) : null;
    case 'neg': return negD(da);
    case 'abs': return da ? whereNode(compare('ge', a!, 0), da, unaryArith('neg', da)) : null;
    case 'where': {
      const dt = d.get(b!) ?? null;
      const df = d.get(c!) ?? null;
      return dt || df ? whereNode(a!, zeroIfNull(dt), zeroIfNull(df)) : null;
    }
    case 'exp': return mul(n, da);
    case 'exp2': return mul(binaryArith('mul', n, LN2), da);
    case 'log': return da ? binaryArith('div', da, a!) : null;
    case 'log2': return da ? binaryArith('div', da, binaryArith('mul', a!, LN2)) : null;
    case 'tanh': case 'tanh_approx': return mul(binaryArith('sub', 1, binaryArith('mul', n, n)), da);
    case 'sigmoid': return mul(binaryArith('mul', n, binaryArith('sub', 1, n)), da);
    case 'sqrt': return da ? binaryArith('div', da, binaryArith('mul', 2, n)) : null;
    case 'rsqrt': return mul(binaryArith('mul', -0.5, binaryArith('div', n, a!)), da);
    case 'sin': return mul(math('cos', a!), da);
    case 'cos': return mul(unaryArith('neg', math('sin', a!)), da);
    // d erf(x)/dx = (2/√π)·e^(−x²)
    case 'erf': return mul(binaryArith('mul', TWO_OVER_SQRT_PI, math('exp', unaryArith('neg', binaryArith('mul', a!, a!)))), da);
    case 'lt': case 'le': case 'gt': case 'ge': case 'eq': case 'ne': case 'and': case 'or': case 'not':
      return null;
  }
  throw new UnsupportedError(`no derivative rule for op ${n.op}`);
}

/** d scoreMod / d score, as a score mod with the same parameters. */
export function gradScore(mod: TracedMod): TracedMod {
  if (mod.kind !== 'score') throw new UnsupportedError(`gradScore needs a score mod, got the mask mod "${mod.name}"`);
  const scoreArg = argNode('score');
  const d = differentiate(mod.root, (n) => n === scoreArg);
  return new TracedMod('score', zeroIfNull(d), mod.captures, `d(${mod.name})/dscore`);
}

/** One scatter-add site: grad[slot][indices] += dPost · partial, evaluated per (score, b, h, q, kv). */
export interface CaptureGradTerm {
  slot: number;
  tensor: CapturedTensor;
  indices: readonly Node[];
  partial: Node;
}

/** The gradient terms of every learnable captured tensor read by the mod (one per distinct load). */
export function captureGradTerms(mod: TracedMod): CaptureGradTerm[] {
  if (mod.kind !== 'score') return [];
  const terms: CaptureGradTerm[] = [];
  for (const n of topoOrder([mod.root])) {
    if (n.op !== 'load') continue;
    const { slot } = n.arg as LoadArg;
    const tensor = mod.captures[slot];
    if (!(tensor instanceof CapturedTensor) || !tensor.requiresGrad) continue;
    const partial = differentiate(mod.root, (x) => x === n);
    if (partial) terms.push({ slot, tensor, indices: n.src, partial });
  }
  return terms;
}
