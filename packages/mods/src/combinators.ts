/**
 * Combinators: build masks and score mods from others. Each returns a plain mod function that
 * calls its parts while tracing, so the result is one fused graph; the parts' `params` stay live
 * (keep a reference to a part to tune it). `parts` lists what went in.
 */
import { and, constant, type Expr, type MaskMod, not, or, type ScoreMod, where } from '@flexattn/ir';
import { ModOptionError } from './errors';

export type CombinedMaskMod = MaskMod & { readonly parts: readonly MaskMod[] };
export type CombinedScoreMod = ScoreMod & { readonly parts: readonly (ScoreMod | MaskMod)[] };

function requireMods<T>(name: string, mods: readonly T[]): void {
  mods.forEach((m, i) => {
    if (typeof m !== 'function') throw new ModOptionError(name, `mods[${i}]`, `must be a mod function, got ${m === null ? 'null' : typeof m}`);
  });
}

const named = <F extends object>(fn: F, name: string, parts: readonly unknown[]): F & { parts: readonly never[] } => {
  Object.defineProperty(fn, 'name', { value: name, configurable: true });
  return Object.assign(fn, { parts: Object.freeze([...parts]) as readonly never[] });
};

/**
 * Intersection: visible iff every mask says visible, `m₁ ∧ m₂ ∧ …` (no masks: everything visible).
 * ```ts
 * const localCausal = andMasks(causal(), slidingWindow(256, 256));
 * ```
 */
export function andMasks(...masks: MaskMod[]): CombinedMaskMod {
  requireMods('andMasks', masks);
  return named((b: Expr, h: Expr, q: Expr, kv: Expr) => masks.reduce<Expr | boolean>((acc, m) => and(acc, m(b, h, q, kv)), true), 'andMasks', masks);
}

/**
 * Union: visible iff any mask says visible, `m₁ ∨ m₂ ∨ …` (no masks: nothing visible).
 * ```ts
 * const sinksOrLocal = orMasks(prefixLm(4), slidingWindow(512));
 * ```
 */
export function orMasks(...masks: MaskMod[]): CombinedMaskMod {
  requireMods('orMasks', masks);
  return named((b: Expr, h: Expr, q: Expr, kv: Expr) => masks.reduce<Expr | boolean>((acc, m) => or(acc, m(b, h, q, kv)), false), 'orMasks', masks);
}

/**
 * Complement: visible iff `mask` hides it, `¬m`.
 * ```ts
 * const future = notMask(causal());   // strictly upper triangle
 * ```
 */
export function notMask(mask: MaskMod): CombinedMaskMod {
  requireMods('notMask', [mask]);
  return named((b: Expr, h: Expr, q: Expr, kv: Expr) => not(mask(b, h, q, kv)), 'notMask', [mask]);
}

/**
 * Function composition of score mods, applied left to right: `composeScoreMods(f, g)` is
 * `g(f(score, …), …)` (no mods: the identity).
 * ```ts
 * const gemma = composeScoreMods(alibi(8), softcap(50));   // cap after the bias
 * ```
 */
export function composeScoreMods(...mods: ScoreMod[]): CombinedScoreMod {
  requireMods('composeScoreMods', mods);
  return named(
    (score: Expr, b: Expr, h: Expr, q: Expr, kv: Expr) => mods.reduce<Expr>((s, m) => constant(m(s, b, h, q, kv), 'f32'), score),
    'composeScoreMods',
    mods,
  );
}

/**
 * A mask as a score mod: `where(mask, score, −∞)`. Prefer a block mask (it skips whole blocks);
 * this is for masks that must live inside a score mod, e.g. composed with others.
 * ```ts
 * const m = composeScoreMods(maskAsScoreMod(causal()), softcap(30));
 * ```
 */
export function maskAsScoreMod(mask: MaskMod): CombinedScoreMod {
  requireMods('maskAsScoreMod', [mask]);
  return named((score: Expr, b: Expr, h: Expr, q: Expr, kv: Expr) => where(mask(b, h, q, kv), score, -Infinity), 'maskAsScoreMod', [mask]);
}
