/**
 * Tunable parameters, the same way for every mod: a factory returns a plain `MaskMod`/`ScoreMod`
 * function that also carries `params`, a record of its runtime parameters — `Scalar`s for sizes,
 * offsets, caps and temperatures, `CapturedTensor`s for tables. Changing `params.x.value` (or a
 * tensor's `data`, then `invalidate()`) takes effect on the next call without re-tracing: the
 * traced hash and every compiled kernel stay the same.
 *
 * ```ts
 * const m = slidingWindow(128);
 * m.params.left.value = 256;          // checked: a negative or fractional window throws
 * ```
 */
import { type CapturedTensor, Expr, type MaskMod, Scalar, type ScoreMod } from '@flexattn/ir';
import { ModOptionError } from './errors';

export type ModParams = Readonly<Record<string, Scalar | CapturedTensor>>;
/** A mask mod with its runtime parameters. */
export type TunableMaskMod<P extends ModParams = ModParams> = MaskMod & { readonly params: P };
/** A score mod with its runtime parameters. */
export type TunableScoreMod<P extends ModParams = ModParams> = ScoreMod & { readonly params: P };

function named<F extends object>(fn: F, name: string): F {
  Object.defineProperty(fn, 'name', { value: name, configurable: true });
  return fn;
}

/** Attaches `params` (frozen) and a readable name (used by traces and dumps) to a mask mod. */
export function defineMaskMod<P extends ModParams>(name: string, fn: MaskMod, params: P): TunableMaskMod<P> {
  return Object.assign(named(fn, name), { params: Object.freeze(params) });
}
export function defineScoreMod<P extends ModParams>(name: string, fn: ScoreMod, params: P): TunableScoreMod<P> {
  return Object.assign(named(fn, name), { params: Object.freeze(params) });
}

/** What a parameter's values must satisfy (checked at creation and on every `.value =`). */
export interface Rule {
  dtype: 'i32' | 'f32';
  /** Inclusive lower bound (exclusive when `positive` is set for floats). */
  min?: number;
  /** Floats only: the value must be > 0. */
  positive?: boolean;
  /** Integers only: the value must be odd. */
  odd?: boolean;
}

/** A value for an error message (never calls toPrimitive, which throws on Scalars). */
export function show(v: unknown): string {
  if (v instanceof Scalar) return `a Scalar (pass a plain number; the mod makes its own scalar, reachable on .params)`;
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? `an array` : Object.prototype.toString.call(v);
  return String(v);
}

/** Why `value` breaks `rule`, or undefined when it is fine. */
export function ruleViolation(value: unknown, rule: Rule): string | undefined {
  const kind = rule.dtype === 'i32' ? 'an integer' : 'a finite number';
  const bound = rule.positive ? ' > 0' : rule.min !== undefined ? ` ≥ ${rule.min}` : '';
  const want = `must be ${rule.odd ? 'an odd integer' : kind}${bound}, got ${show(value)}`;
  if (typeof value !== 'number' || !Number.isFinite(value)) return want;
  if (rule.dtype === 'i32' && (!Number.isInteger(value) || Math.abs(value) > 2147483647)) return want;
  if (rule.min !== undefined && value < rule.min) return want;
  if (rule.positive && value <= 0) return want;
  if (rule.odd && Math.abs(value) % 2 !== 1) return want;
  return undefined;
}

export function check(mod: string, param: string, value: unknown, rule: Rule): number {
  notAnExpr(mod, value, param);
  const problem = ruleViolation(value, rule);
  if (problem) throw new ModOptionError(mod, param, problem);
  return value as number;
}

/** A Scalar whose setter keeps enforcing the factory's rule, so a bad runtime value throws too. */
export class CheckedScalar extends Scalar {
  constructor(
    readonly mod: string,
    readonly param: string,
    value: number,
    readonly rule: Rule,
  ) {
    super(check(mod, param, value, rule), rule.dtype, `${mod}.${param}`);
  }
  override get value(): number {
    return super.value;
  }
  override set value(v: number) {
    super.value = check(this.mod, this.param, v, this.rule);
  }
}

/** A runtime parameter of a mod, validated now and on every later assignment. */
export const param = (mod: string, name: string, value: number, rule: Rule): CheckedScalar => new CheckedScalar(mod, name, value, rule);

/**
 * Rejects a traced value where a parameter was expected: what happens when a factory itself
 * (`causal`) is passed as a mod instead of its result (`causal()`) and then gets traced.
 */
export function notAnExpr(mod: string, x: unknown, param = 'options'): void {
  if (x instanceof Expr) {
    throw new ModOptionError(mod, param, `got a traced value: ${mod} is a factory — pass ${mod}(…) (its result) as the mod, not ${mod} itself`);
  }
}
