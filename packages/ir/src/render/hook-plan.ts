/**
 * The kernel-hook plan: everything a kernel template needs from a score mod and a mask mod, worked
 * out once for every backend. It holds IR, never text: the roots of the score mod, its derivative,
 * the mask and the capture-gradient terms; which subexpressions are hoisted to once per query row
 * or key column; where each runtime parameter lives (param-layout.ts); flags that let a template
 * skip work; and the cache key. A backend turns it into source with `renderKernelHooks` and a
 * dialect (hooks.ts); a target that is not C-like (a graph API, a CPU loop) walks the roots itself.
 */
import { type CaptureGradTerm, captureGradTerms, gradScore } from '../derive';
import { type Node, topoOrder } from '../node';
import type { ModParam } from '../params';
import { constNode } from '../simplify';
import { TraceError } from '../errors';
import { argNode, TracedMod } from '../trace';
import { ARG_BIT, argDependence, type HoistPlan, type IndexBounds, indexRange, planHoist } from './hoist';
import { additiveBias, kvSlope } from './kv-slope';
import { divisionsAsReciprocals } from './reciprocal';
import { type ParamBlock, paramBlock, type ScalarBlock, scalarBlock, type TensorBinding, tensorBindings } from './param-layout';

export interface KernelHookOptions {
  /**
   * Every b, h, q and kv of the launches lies in [0, indexLimit): int→float casts of index
   * arithmetic proven to stay within ±2^22 are listed in `smallIntToFloat`, for targets with an
   * exact fast conversion (CUDA's flex_i2f_small). Part of the key.
   */
  indexLimit?: number;
  /** Plan the row/column hoisting (default true); false leaves every `_rc` hook fully per element. */
  hoist?: boolean;
}

export interface ScoreHooks {
  /** Absent: the identity. */
  mod: TracedMod | undefined;
  captures: readonly ModParam[];
  /**
   * score′(score, b, h, q, kv); the `score` argument itself for the identity. Divisions by constants
   * and scalars are multiplications by reciprocals here (reciprocal.ts), in `grad` and the terms too.
   */
  root: Node;
  /** ∂score′/∂score (the backward pass's dS factor); the constant 1 for the identity. */
  grad: Node;
  /** grad[slot][indices] += dPost · partial, for each learnable captured tensor the mod reads. */
  captureGrads: readonly CaptureGradTerm[];
  /**
   * Hoisting of `root` and `grad` planned together: the backward pass evaluates both per element,
   * so a value they share is computed once per row / column for both (see hoist.ts).
   */
  hoist: HoistPlan;
  params: ParamBlock;
  /**
   * B where `root` is `score + B` (either order) with a B that does not read the score (ALiBi,
   * relative position, a head bias: kv-slope.ts additiveBias); the mod at score = −0 is B exactly.
   * Undefined for any other mod and for the identity.
   */
  bias: Node | undefined;
  /**
   * dB/dkv where B is affine in kv (kv-slope.ts kvSlope): an expression of (b, h, q) and the
   * parameters, so B(kv0 + Δ) = B(kv0) + biasKvSlope·Δ along a row. Casts of kv-dependent integers
   * count as exact only where `smallIntToFloat` proves them so (the launch's index bounds).
   */
  biasKvSlope: Node | undefined;
}

export interface MaskHooks {
  /** Absent: every position visible. */
  mod: TracedMod | undefined;
  captures: readonly ModParam[];
  /** visible(b, h, q, kv); the constant true when absent. */
  root: Node;
  /** Planned apart from the score mod: its captures are a separate slot list. */
  hoist: HoistPlan;
  params: ParamBlock;
}

/** What a template may skip. */
export interface HookFlags {
  /** score′ = score: no score-mod work at all. */
  identityScore: boolean;
  /** The mask is the constant true. */
  trueMask: boolean;
  /** ∂score′/∂score is the constant 1 (score + f(b, h, q, kv): ALiBi, relative position), the identity excepted. */
  gradIsOne: boolean;
  /** The backward pass scatter-adds gradients into captured tensors. */
  hasCaptureGrads: boolean;
}

export interface KernelHookPlan {
  score: ScoreHooks;
  mask: MaskHooks;
  /** Captured tensors of both mods as buffer bindings (score mod's first). */
  tensors: readonly TensorBinding[];
  /** Scalars of both mods as one block of 4-byte words (score mod's first). */
  scalars: ScalarBlock;
  flags: HookFlags;
  /** The index bounds the launches promise (from `indexLimit`), if any. */
  indexBounds: IndexBounds | undefined;
  /** `tofloat` nodes whose i32 operand provably lies strictly within ±2^22 (exact with a fast conversion). */
  smallIntToFloat: ReadonlySet<Node>;
  /**
   * Equal keys ⇒ equal rendered hooks in every dialect: the mods' hashes (structure, parameter
   * kinds, dtypes and shapes, never values) and the options.
   */
  key: string;
}

/** |x| below this converts to f32 exactly through the mantissa trick (see CUDA's flex_i2f_small). */
export const SMALL_INT_LIMIT = 2 ** 22;

export function isIdentityScoreMod(mod: TracedMod | undefined): boolean {
  return !mod || (mod.root.op === 'arg' && mod.root.arg === 'score');
}

export function isTrueMask(mod: TracedMod | undefined): boolean {
  return !mod || (mod.root.op === 'const' && mod.root.arg === true);
}

const NO_HOIST: HoistPlan = { row: [], col: [] };

/** Plans the kernel hooks of a score mod and a mask mod (either may be absent). */
export function planKernelHooks(scoreMod: TracedMod | undefined, maskMod: TracedMod | undefined, options: KernelHookOptions = {}): KernelHookPlan {
  // the mods' hashes become the plan's key (kernel caches) and appear in generated comments
  for (const [mod, kind] of [[scoreMod, 'score'], [maskMod, 'mask']] as const) {
    if (mod !== undefined && (!TracedMod.isTracedMod(mod) || mod.kind !== kind)) throw new TraceError(`planKernelHooks: the ${kind} mod must be a ${kind} mod from trace${kind === 'score' ? 'Score' : 'Mask'}Mod`);
  }
  const hoist = options.hoist ?? true;
  const identityScore = isIdentityScoreMod(scoreMod);
  const trueMask = isTrueMask(maskMod);
  const tracedTerms = scoreMod && !identityScore ? captureGradTerms(scoreMod) : [];
  // the kernels' score hooks divide by constants and scalars through reciprocals (reciprocal.ts);
  // the derivatives are taken first, on the mod as traced
  const rewrite = identityScore
    ? { roots: [argNode('score'), constNode(1, 'f32')], reciprocalScalars: new Set<number>() }
    : divisionsAsReciprocals([scoreMod!.root, gradScore(scoreMod!).root, ...tracedTerms.map((t) => t.partial)]);
  const [scoreRoot, grad] = rewrite.roots as [Node, Node];
  const terms = tracedTerms.map((t, i) => ({ ...t, partial: rewrite.roots[2 + i]! }));
  const maskRoot = trueMask ? constNode(true, 'bool') : maskMod!.root;
  const scoreCaptures = scoreMod?.captures ?? [];
  const maskCaptures = maskMod?.captures ?? [];
  const withGrads = terms.length > 0;

  const indexBounds = boundsBelow(options.indexLimit);
  const smallInt = indexBounds ? smallIntCasts([scoreRoot, grad, maskRoot, ...terms.flatMap((t) => [t.partial, ...t.indices])], indexBounds) : new Set<Node>();
  const bias = identityScore ? undefined : additiveBias(scoreRoot);
  return {
    score: {
      mod: scoreMod, captures: scoreCaptures, root: scoreRoot, grad, captureGrads: terms,
      hoist: hoist && !identityScore ? planHoist([scoreRoot, grad]) : NO_HOIST,
      params: paramBlock('score', scoreCaptures, withGrads, rewrite.reciprocalScalars),
      bias,
      biasKvSlope: bias ? (kvSlope(bias, kvCastsExact(bias, smallInt)) ?? undefined) : undefined,
    },
    mask: {
      mod: maskMod, captures: maskCaptures, root: maskRoot,
      hoist: hoist && !trueMask ? planHoist([maskRoot]) : NO_HOIST,
      params: paramBlock('mask', maskCaptures, false),
    },
    tensors: tensorBindings(scoreCaptures, maskCaptures, withGrads),
    scalars: scalarBlock(scoreCaptures, maskCaptures, rewrite.reciprocalScalars),
    flags: {
      identityScore,
      trueMask,
      gradIsOne: !identityScore && grad.op === 'const' && grad.arg === 1,
      hasCaptureGrads: withGrads,
    },
    indexBounds,
    smallIntToFloat: smallInt,
    key: [scoreMod?.hash ?? 'identity', maskMod?.hash ?? 'all', options.indexLimit ?? '-', hoist ? 'hoist' : 'flat'].join('/'),
  };
}

function boundsBelow(limit: number | undefined): IndexBounds | undefined {
  if (limit === undefined) return undefined;
  const r = [0, limit - 1] as const;
  return { b: r, h: r, q: r, kv: r };
}

/**
 * kvSlope's `exactCasts` for `bias`: every i32 → f32 cast of a kv-dependent value in it is one the
 * index bounds prove within ±2^22 (exact in f32, and no i32 wrap below it). Vacuously true without
 * such casts; false for one the bounds do not cover (no bounds, a load or scalar in the operand).
 */
function kvCastsExact(bias: Node, smallInt: ReadonlySet<Node>): boolean {
  const deps = argDependence([bias]);
  return topoOrder([bias]).every((n) => n.op !== 'tofloat' || n.src[0]!.dtype !== 'i32' || (deps.get(n)! & ARG_BIT.kv) === 0 || smallInt.has(n));
}

function smallIntCasts(roots: readonly Node[], bounds: IndexBounds): Set<Node> {
  const out = new Set<Node>();
  for (const n of topoOrder(roots)) {
    if (n.op !== 'tofloat' || n.src[0]!.dtype !== 'i32') continue;
    const r = indexRange(n.src[0]!, bounds);
    if (r && r[0] > -SMALL_INT_LIMIT && r[1] < SMALL_INT_LIMIT) out.add(n);
  }
  return out;
}
