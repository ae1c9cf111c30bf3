/**
 * Tracing: a mod (a plain TS function over Exprs) is run once with symbolic arguments and becomes
 * a TracedMod — an IR graph plus the parameters (captured tensors, scalars) it reads, by slot.
 */
import { lift } from './build';
import { FlexAttnError, TraceError } from './errors';
import { Expr } from './expr';
import { formatNode } from './format';
import { hashString } from './hash';
import { guardTracedSource } from './js/guard';
import { Node } from './node';
import type { ArgName } from './ops';
import type { ModParam } from './params';
import { CapturedTensor } from './params';
import { checkTracedMod } from './trace-check';
import { TraceContext, runInTrace } from './trace-context';

export type ScoreMod = (score: Expr, b: Expr, h: Expr, qIdx: Expr, kvIdx: Expr) => Expr | number;
export type MaskMod = (b: Expr, h: Expr, qIdx: Expr, kvIdx: Expr) => Expr | boolean;

/** Set by rebound() for the one constructor call it makes (JS is single-threaded; the constructor clears it). */
let reboundFrom: TracedMod | undefined;

/**
 * `mod` over other parameters of the same signatures, without re-checking its graph or re-hashing:
 * a decode step rebinds its query offset every token (rebindParams), and the checks cost more than
 * the rest of the step. The caller guarantees that every parameter is genuine (capture / scalar) and
 * has the signature of the one it replaces (kind, dtype, shape, gradient need).
 */
export function rebound(mod: TracedMod, captures: readonly ModParam[]): TracedMod {
  // a look-alike mod (not from this constructor) takes the checked path, like any new mod
  reboundFrom = TracedMod.isTracedMod(mod) ? mod : undefined;
  try {
    return new TracedMod(mod.kind, mod.root, captures, mod.name);
  } finally {
    reboundFrom = undefined;
  }
}

export class TracedMod {
  /** Only mods built by this (checking) constructor carry it; `Object.create(TracedMod.prototype)` does not. */
  readonly #genuine = true;
  readonly hash: string;

  constructor(
    readonly kind: 'score' | 'mask',
    /** The result: f32 for score mods, bool for masks. */
    readonly root: Node,
    readonly captures: readonly ModParam[],
    readonly name: string,
  ) {
    const sameAs = reboundFrom;
    reboundFrom = undefined;
    if (sameAs && sameAs.root === root && sameAs.kind === kind) {
      // rebound(): the graph was checked when `sameAs` was built and every parameter has the same
      // signature (checked there), so the checks and the hash would come out the same.
      this.hash = sameAs.hash;
    } else {
      checkTracedMod(kind, root, captures, name);
      // Parameters enter the hash by kind, dtype, shape and gradient need — never by their values.
      // Shapes are in because generated code bakes in a tensor's strides (compileToJs, kernels).
      const signature = captures
        .map((c) => (c instanceof CapturedTensor ? `T${c.dtype}[${c.shape.join('x')}]${c.requiresGrad ? 'g' : ''}` : `S${c.dtype}`))
        .join(',');
      this.hash = hashString(`${kind}|${root.hash}|${signature}`);
    }
    this.captures = Object.freeze([...captures]);
    // compileToJs and the renderers trust root and captures: they may not be swapped afterwards
    Object.freeze(this);
  }

  /**
   * True for mods made by the constructor (checked, frozen). Hashes key kernel caches and appear in
   * generated source, so a look-alike object must never pass for a mod.
   */
  static isTracedMod(x: unknown): x is TracedMod {
    return typeof x === 'object' && x !== null && #genuine in x;
  }

  /** The captured tensors that need gradients, with their slots. */
  get gradTensors(): { slot: number; tensor: CapturedTensor }[] {
    const out: { slot: number; tensor: CapturedTensor }[] = [];
    this.captures.forEach((c, slot) => {
      if (c instanceof CapturedTensor && c.requiresGrad) out.push({ slot, tensor: c });
    });
    return out;
  }

  toString(): string {
    const sig = this.kind === 'score' ? '(score, b, h, q, kv)' : '(b, h, q, kv)';
    const params = this.captures.map((c, i) => `  #${i} = ${c.kind === 'tensor' ? `tensor ${c.name} ${c.dtype}[${(c as CapturedTensor).shape.join(',')}]` : `scalar ${c.name} ${c.dtype}`}`);
    return [formatNode(this.root, `${this.kind}_mod ${this.name}${sig} #${this.hash}`), ...params].join('\n');
  }
}

export const argNode = (name: ArgName): Node => Node.make('arg', name === 'score' ? 'f32' : 'i32', [], name);
const argExpr = (name: ArgName): Expr => new Expr(argNode(name));

function modName(fn: (...args: never[]) => unknown, fallback: string, given?: string): string {
  return given ?? (fn.name && fn.name !== 'anonymous' ? fn.name : fallback);
}

function runTrace(kind: 'score' | 'mask', name: string, call: () => unknown): { result: unknown; ctx: TraceContext } {
  const ctx = new TraceContext();
  try {
    return { result: runInTrace(ctx, call), ctx };
  } catch (err) {
    if (err instanceof FlexAttnError) {
      const wrapped = new TraceError(`while tracing ${kind} mod "${name}": ${err.message}`);
      (wrapped as { cause?: unknown }).cause = err;
      throw wrapped;
    }
    throw err;
  }
}

const describeResult = (r: unknown): string => (r instanceof Expr ? `an ${r.dtype} expression:\n${r.dump()}` : `${typeof r} ${String(r)}`);

export function traceScoreMod(fn: ScoreMod | TracedMod, opts: { name?: string } = {}): TracedMod {
  if (TracedMod.isTracedMod(fn)) {
    if (fn.kind !== 'score') throw new TraceError(`expected a score mod but got the mask mod "${fn.name}"; pass it as a block mask (createBlockMask) or wrap it with maskAsScoreMod`);
    return fn;
  }
  if (typeof fn !== 'function') throw new TraceError(`a score mod must be a function (score, b, h, qIdx, kvIdx) => Expr, got ${typeof fn}`);
  const name = modName(fn, 'scoreMod', opts.name);
  fn = guardTracedSource(fn, 'score', name);
  if (fn.length > 5) throw new TraceError(`score mod "${name}" declares ${fn.length} parameters; a score mod takes (score, b, h, qIdx, kvIdx)`);
  const { result, ctx } = runTrace('score', name, () => fn(argExpr('score'), argExpr('b'), argExpr('h'), argExpr('q'), argExpr('kv')));
  let root: Node;
  if (result instanceof Expr) root = result.node;
  else if (typeof result === 'number') root = lift(result, 'f32');
  else throw new TraceError(`score mod "${name}" returned ${describeResult(result)}; it must return the new score (an Expr or a number)`);
  if (root.dtype === 'bool') {
    throw new TraceError(`score mod "${name}" returned a boolean (${describeResult(result)}); a score mod returns a score — for masking write a mask mod, or use where(cond, score, -Infinity)`);
  }
  if (root.dtype === 'i32') root = Node.make('tofloat', 'f32', [root]);
  return new TracedMod('score', root, ctx.params as ModParam[], name);
}

export function traceMaskMod(fn: MaskMod | TracedMod, opts: { name?: string } = {}): TracedMod {
  if (TracedMod.isTracedMod(fn)) {
    if (fn.kind !== 'mask') throw new TraceError(`expected a mask mod but got the score mod "${fn.name}"`);
    return fn;
  }
  if (typeof fn !== 'function') throw new TraceError(`a mask mod must be a function (b, h, qIdx, kvIdx) => Expr, got ${typeof fn}`);
  const name = modName(fn, 'maskMod', opts.name);
  fn = guardTracedSource(fn, 'mask', name);
  if (fn.length > 4) throw new TraceError(`mask mod "${name}" declares ${fn.length} parameters; a mask mod takes (b, h, qIdx, kvIdx) — is it a score mod?`);
  const { result, ctx } = runTrace('mask', name, () => fn(argExpr('b'), argExpr('h'), argExpr('q'), argExpr('kv')));
  let root: Node;
  if (result instanceof Expr) root = result.node;
  else if (typeof result === 'boolean') root = lift(result);
  else throw new TraceError(`mask mod "${name}" returned ${describeResult(result)}; it must return a boolean Expr such as q.ge(kv)`);
  if (root.dtype !== 'bool') {
    throw new TraceError(`mask mod "${name}" returned ${describeResult(result)}; a mask mod returns a boolean — compare, e.g. x.ne(0) or q.ge(kv)`);
  }
  return new TracedMod('mask', root, ctx.params as ModParam[], name);
}
