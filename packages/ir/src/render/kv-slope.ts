/**
 * Additive biases that are affine in the key index. ALiBi (`score + slope[h]·(kv − q)`) and
 * relative position (`score + (q − kv)`) add a bias that, for a fixed (b, h, q), is
 * base + slope·kv. A kernel that walks a row's keys in order can then compute the bias once per
 * row and tile and every other key's with one fused multiply-add, instead of evaluating the mod per
 * element (CUDA's FA3-class forward: FLEX_BIAS_KV_AFFINE).
 *
 * `additiveBias` finds the bias of a score mod of the form `score + B`; `kvSlope` is the symbolic
 * derivative of B with respect to kv, defined only where B is affine in kv: it returns an
 * expression of (b, h, q) and the parameters (never kv) or null. It is deliberately conservative —
 * only +, −, negation, multiplication and division by kv-independent factors, and exact int→float
 * casts keep affinity; anything else that touches kv (kv·kv, a division by or a comparison, select,
 * rounding, modulo, min/max, abs or table load of a kv-dependent value, a float→int cast) is null.
 *
 * Exactness. Integer +, −, × and negation wrap modulo 2^32 and wrapping is a ring homomorphism, so
 * an i32 expression affine in kv stays affine as computed, overflow included. The conversion to
 * float is where that could break: a wrapped value converted is not the affine value, and a value
 * past 2^24 rounds. So a cast of a kv-dependent integer keeps affinity only under `exactCasts`: the
 * caller's promise that every such cast converts a value of magnitude below 2^24 (the hook plan
 * gives it when the launch's index bounds prove each cast's operand within ±2^22, its
 * `smallIntToFloat`). Float arithmetic is affine up to rounding, which the use below tolerates.
 *
 * Rounding (what a kernel may rely on). Per element a mod computes B(kv) in f32, rounding at each
 * op; the fast path computes fmaf(slope, Δ, B(kv0)) with Δ = kv − kv0 a small integer (below the
 * tile width). Both are within a few ulps of the largest intermediate magnitude of the exact
 * affine value: for ALiBi B(kv0) = slope·(kv0 − q) is one rounding of an exact product, slope·Δ + it
 * one more (fused), against the per-element one rounding of slope·(kv − q) — at most about 1.5 ulp of
 * |slope|·max(|kv0 − q|, |kv − q|) apart. A logit error ε moves a softmax weight by a factor e^ε, so
 * for biases below ~10^4 the difference (≲ 10^-3 absolute) is under the bf16/f16 output rounding
 * the conformance tolerance already allows. The kernel checks base and slope for finiteness and
 * falls back to the per-element mod otherwise (an infinite slope times Δ = 0 would be NaN).
 */
import { binaryArith, cast, unaryArith } from '../build';
import { TraceError } from '../errors';
import { Node, topoOrder } from '../node';
import { constNode } from '../simplify';

const isScoreArg = (n: Node): boolean => n.op === 'arg' && n.arg === 'score';

function readsScore(root: Node): boolean {
  return topoOrder([root]).some(isScoreArg);
}

/**
 * The bias B of a score mod root `score + B` or `B + score` (f32) whose B does not read the score;
 * undefined for any other form (a scaled score, the identity, a bias that reads the score). For
 * such a root the mod evaluated at score = −0 is B exactly (−0 + x = x for every x, −0 and NaN
 * included), which is how a kernel computes a row's base value through the mod's own hook.
 */
export function additiveBias(root: Node): Node | undefined {
  // a look-alike's fields could be getters: nothing of it is read
  if (!Node.isNode(root)) throw new TraceError('additiveBias: not a node made by Node.make');
  if (root.op !== 'add' || root.dtype !== 'f32' || root.src.length !== 2) return undefined;
  const [a, b] = root.src as [Node, Node];
  if (isScoreArg(a) && !readsScore(b)) return b;
  if (isScoreArg(b) && !readsScore(a)) return a;
  return undefined;
}

/** A node's derivative in kv: ZERO where the node does not depend on kv, NONAFFINE where it is not affine. */
const ZERO = 'zero';
const NONAFFINE = 'nonaffine';
type Slope = Node | typeof ZERO | typeof NONAFFINE;

/**
 * d bias / d kv as an expression of (b, h, q) and the parameters, when `bias` is affine in kv:
 * bias(kv0 + Δ) = bias(kv0) + slope·Δ for every integer Δ (up to f32 rounding: see the file's
 * comment); null when it is not (or not provably). The slope has the bias's dtype; a bias that does
 * not depend on kv has the constant slope 0. `exactCasts`: every int→float cast of a kv-dependent
 * value converts a value of magnitude below 2^24 (the caller proves it; false: such a cast is null).
 */
export function kvSlope(bias: Node, exactCasts: boolean): Node | null {
  if (!Node.isNode(bias)) throw new TraceError('kvSlope: not a node made by Node.make');
  const d = new Map<Node, Slope>();
  for (const n of topoOrder([bias])) d.set(n, slopeOf(n, d, exactCasts));
  const r = d.get(bias)!;
  if (r === NONAFFINE) return null;
  return r === ZERO ? constNode(0, bias.dtype === 'i32' ? 'i32' : 'f32') : r;
}

function slopeOf(n: Node, d: ReadonlyMap<Node, Slope>, exactCasts: boolean): Slope {
  if (n.op === 'arg') return n.arg === 'kv' ? constNode(1, 'i32') : ZERO;
  const src = n.src.map((s) => d.get(s)!);
  if (src.includes(NONAFFINE)) return NONAFFINE;
  // a value of (b, h, q), the score and the parameters only: a constant along the row, whatever the op
  if (src.every((s) => s === ZERO)) return ZERO;
  const [a, b] = n.src;
  const [da, db] = src;
  switch (n.op) {
    case 'add':
    case 'sub': {
      if (db === ZERO) return da!;
      const sb = n.op === 'sub' ? unaryArith('neg', db as Node) : (db as Node);
      return da === ZERO ? sb : binaryArith('add', da as Node, sb);
    }
    case 'neg':
      return unaryArith('neg', da as Node);
    case 'mul':
      // a product of two kv-dependent factors is quadratic in kv (or worse)
      if (da !== ZERO && db !== ZERO) return NONAFFINE;
      return da === ZERO ? binaryArith('mul', a!, db as Node) : binaryArith('mul', da as Node, b!);
    case 'div':
      // f32 only (the IR's div is true division); by a kv-dependent divisor: not affine
      if (db !== ZERO || n.dtype !== 'f32') return NONAFFINE;
      return binaryArith('div', da as Node, b!);
    case 'tofloat':
      // i32 → f32 of a kv-dependent value: exact (hence affine) only under the caller's bound;
      // bool → f32 of a kv-dependent condition is a step function
      if (a!.dtype !== 'i32' || !exactCasts) return NONAFFINE;
      return cast('tofloat', da as Node);
    default:
      // floordiv, mod, pow, min, max, abs, sign, comparisons, logic, where, math, rounding of a
      // float, toint, loads indexed by kv: not affine in general, and never assumed so
      return NONAFFINE;
  }
}
