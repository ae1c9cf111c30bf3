/**
 * Mods in plain JavaScript: `jsMod(fn, freeVariables)` reads `fn`'s source, and when the mod is
 * traced it lowers that source to the IR (lower.ts) instead of running it — so operators, `? :`,
 * `&&`, `||`, `!` and `if/else` with returns mean what they say, with the same IR and hash as the
 * method-chain form. The names the mod reads from outside are passed explicitly: no closure is
 * guessed at (a closure's values are not visible in `fn.toString()`).
 *
 * ```ts
 * const slopes = capture(new Float32Array([0.5, 0.25]), [2]);
 * const alibi = jsMod((s, b, h, q, kv) => s + slopes[h] * (kv - q), { slopes });
 * const causal = jsMod((b, h, q, kv) => q >= kv);
 * ```
 */
import type { Operand } from '../build';
import { TraceError } from '../errors';
import type { Expr } from '../expr';
import { CapturedTensor, Scalar, capture } from '../params';
import { IR_FUNCTIONS, Lowering, type Value } from './lower';
import { errorAt, type FunctionNode, type ParsedFunction, parseFunctionSource } from './source';

/** What a mod may read from outside: tensors, scalars, numbers, booleans, IR functions (where, erf…). */
export type FreeVariable = CapturedTensor | Scalar | Float32Array | Int32Array | number | boolean | ((...args: never[]) => unknown);
export type FreeVariables = Readonly<Record<string, FreeVariable>>;

/**
 * A mod written with JavaScript operators over numbers: parameters are `any` so `s + 1`, `q >= kv`
 * and `table[h]` type-check (the function is read, never called).
 */
export type PlainMod = (...args: any[]) => unknown;

/** A mod lowered from JavaScript source; pass it wherever a score or mask mod goes. */
// (typed as returning an Expr so it fits both ScoreMod and MaskMod; a constant result is a number
// or boolean at run time, which tracing accepts)
export type JsMod = ((...args: Expr[]) => Expr) & { readonly source: string };

/** Functions made by jsMod: tracing calls them directly (their source is the wrapper's, not the mod's). */
const jsMods = new WeakSet<object>();
export const isJsMod = (f: unknown): boolean => typeof f === 'function' && jsMods.has(f);

// One capture per typed array, so tracing the same mod twice reads the same parameter slot.
const autoCaptures = new WeakMap<Float32Array | Int32Array, CapturedTensor>();

function freeValue(name: string, v: FreeVariable): Value {
  if (v instanceof CapturedTensor || v instanceof Scalar || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (Number.isNaN(v)) throw new TraceError(`jsMod: free variable '${name}' is NaN`);
    return v;
  }
  if (v instanceof Float32Array || v instanceof Int32Array) {
    let t = autoCaptures.get(v);
    if (!t) autoCaptures.set(v, (t = capture(v, [v.length], { name })));
    return t;
  }
  if (typeof v === 'function' && IR_FUNCTIONS.has(v)) return { fn: v as (...a: Operand[]) => Expr };
  const what = typeof v === 'function' ? 'a function that is not one of @flexattn/ir\'s (where, exp, erf, min, …)' : v === null ? 'null' : Array.isArray(v) ? 'an array (use a Float32Array or capture(...))' : typeof v;
  throw new TraceError(`jsMod: free variable '${name}' is ${what}; a mod can read captured tensors, scalars, Float32Array/Int32Array tables, numbers, booleans and IR functions`);
}

function paramNames(parsed: ParsedFunction): string[] {
  const fn: FunctionNode = parsed.node;
  if (fn.async || fn.generator) throw errorAt(parsed, fn, 'jsMod', 'a mod is a plain function, not async or a generator');
  if (fn.params.length > 5) throw errorAt(parsed, fn, 'jsMod', `${fn.params.length} parameters; a score mod takes (score, b, h, q, kv), a mask mod (b, h, q, kv)`);
  return fn.params.map((p) => {
    if (p.type !== 'Identifier') throw errorAt(parsed, p, 'jsMod', 'parameters must be plain names (no defaults, destructuring or rest)');
    return p.name;
  });
}

/**
 * Parses `fn` (a function, or its source text) now — syntax and unsupported constructs in the
 * parameter list fail here — and returns a mod that lowers the source each time it is traced.
 */
export function jsMod(fn: PlainMod | string, freeVariables: FreeVariables = {}): JsMod {
  const source = typeof fn === 'string' ? fn.trim() : typeof fn === 'function' ? fn.toString() : undefined;
  if (source === undefined) throw new TraceError(`jsMod needs a function or its source text, got ${typeof fn}`);
  const parsed = parseFunctionSource(source);
  if (!parsed) throw new TraceError(`jsMod: could not read a function from ${source.length > 80 ? `${source.slice(0, 80)}…` : source} (bound and native functions have no source; pass an arrow or function expression)`);
  const params = paramNames(parsed);
  const free = new Map<string, Value>();
  for (const [name, v] of Object.entries(freeVariables)) {
    if (params.includes(name)) throw new TraceError(`jsMod: free variable '${name}' has the name of a parameter of the mod`);
    free.set(name, freeValue(name, v));
  }
  const name = typeof fn === 'function' && fn.name ? fn.name : 'jsMod';
  const lowering = new Lowering(parsed, `jsMod "${name}"`);
  const mod = (...args: Expr[]) => {
    const env = new Map(free);
    params.forEach((p, i) => {
      if (args[i] !== undefined) env.set(p, args[i]!);
    });
    const r = lowering.run(env);
    return r instanceof Scalar ? r.expr() : (r as Expr);
  };
  Object.defineProperty(mod, 'length', { value: params.length });
  Object.defineProperty(mod, 'name', { value: name });
  Object.defineProperty(mod, 'source', { value: source });
  jsMods.add(mod);
  return mod as JsMod;
}
