/**
 * Test-only helpers (not exported by the package, not a test file itself): a fast-check grammar of
 * random mod graphs, as small typed ASTs that are turned into Exprs while a mod is traced. Shared by
 * evaluate.test.ts, interval.test.ts and derive.test.ts.
 */
import fc from 'fast-check';
import { type Expr, constant, where } from './expr';
import { type CapturedTensor, type Scalar, capture, scalar } from './params';
import { type TracedMod, traceMaskMod, traceScoreMod } from './trace';

/** A node of a random graph: an op name and its children (or a leaf value / name). */
export interface Ast {
  op: string;
  args?: Ast[];
  value?: number | boolean | string;
}

export interface GraphOptions {
  /** Float graphs may read `score` (score mods). */
  score?: boolean;
  /** Loads from captured tensors and scalars. */
  params?: boolean;
  /** Integer constants near the i32 limits (wraparound) and float NaN/±Infinity constants. */
  extremes?: boolean;
  /** Only ops that are smooth almost everywhere with guarded domains (for derivative checks). */
  smooth?: boolean;
  maxDepth?: number;
}

const n = (op: string, ...args: Ast[]): Ast => ({ op, args });

export function graphArbitraries(o: GraphOptions = {}) {
  const depth = { maxDepth: o.maxDepth ?? 5, depthIdentifier: fc.createDepthIdentifier(), depthSize: 'medium' as const };
  /** Weighted choice: the first entry (a leaf) is what fast-check falls back to at maxDepth. */
  const w = (weight: number, arbitrary: fc.Arbitrary<Ast>) => ({ weight, arbitrary });
  const intConst = o.extremes
    ? fc.oneof(fc.integer({ min: -6, max: 40 }), fc.constantFrom(2147483647, -2147483648, 1073741824, 65536, -65536, 46341))
    : fc.integer({ min: -6, max: 40 });
  const floatConst = o.extremes
    ? fc.oneof(
        fc.constantFrom(0, 0.5, -1.5, 2, 3.25, 1e-3, 7, -0, NaN, Infinity, -Infinity, 1e30),
        fc.double({ min: -50, max: 50, noNaN: true }),
      )
    : fc.oneof(fc.constantFrom(0, 0.5, -1.5, 2, 3.25, 0.125, 7), fc.integer({ min: -400, max: 400 }).map((x) => x / 100));
  const argLeaf = fc.constantFrom('b', 'h', 'q', 'kv').map((a): Ast => ({ op: 'arg', value: a }));
  const intLeaves: fc.Arbitrary<Ast>[] = [argLeaf, intConst.map((v): Ast => ({ op: 'iconst', value: v }))];
  if (o.params) intLeaves.push(fc.constant<Ast>({ op: 'iscalar' }));
  const floatLeaves: fc.Arbitrary<Ast>[] = [floatConst.map((v): Ast => ({ op: 'fconst', value: v }))];
  if (o.score) floatLeaves.push(fc.constant<Ast>({ op: 'score' }), fc.constant<Ast>({ op: 'score' }));
  if (o.params) floatLeaves.push(fc.constant<Ast>({ op: 'fscalar' }));

  return fc.letrec<{ int: Ast; float: Ast; bool: Ast }>((tie) => {
    const int = tie('int');
    const float = tie('float');
    const bool = tie('bool');
    const intNodes = [
      w(4, fc.tuple(fc.constantFrom('add', 'sub', 'mul', 'mod', 'floorDiv', 'min', 'max'), int, int).map(([op, a, b]) => n(op, a, b))),
      w(1, fc.tuple(fc.constantFrom('neg', 'abs', 'sign'), int).map(([op, a]) => n(op, a))),
      w(1, float.map((a) => n('toInt', a))),
      w(1, bool.map((a) => n('toInt', a))),
      w(1, fc.tuple(bool, int, int).map(([c, a, b]) => n('where', c, a, b))),
    ];
    if (o.params) {
      intNodes.push(w(1, int.map((i) => n('iload1', i))), w(1, fc.tuple(int, int).map(([i, j]) => n('iload2', i, j))));
    }
    const floatBinary = o.smooth ? ['add', 'sub', 'mul', 'sdiv', 'min', 'max', 'spow'] : ['add', 'sub', 'mul', 'div', 'mod', 'floorDiv', 'pow', 'min', 'max'];
    const floatUnary = o.smooth
      ? ['neg', 'abs', 'exp', 'exp2', 'slog', 'slog2', 'tanh', 'tanhApprox', 'sigmoid', 'ssqrt', 'srsqrt', 'floor', 'sin', 'cos', 'erf']
      : ['neg', 'abs', 'floor', 'ceil', 'exp', 'exp2', 'log', 'log2', 'tanh', 'tanhApprox', 'sigmoid', 'sqrt', 'rsqrt', 'sin', 'cos', 'erf', 'round', 'sign'];
    const floatNodes = [
      w(4, fc.tuple(fc.constantFrom(...floatBinary), float, float).map(([op, a, b]) => n(op, a, b))),
      w(4, fc.tuple(fc.constantFrom(...floatUnary), float).map(([op, a]) => n(op, a))),
      w(1, fc.tuple(bool, float, float).map(([c, a, b]) => n('where', c, a, b))),
      w(1, int.map((a) => n('toFloat', a))),
    ];
    if (!o.smooth) floatNodes.push(w(1, bool.map((a) => n('toFloat', a))));
    if (o.params) floatNodes.push(w(1, int.map((i) => n('fload1', i))), w(1, fc.tuple(int, int).map(([i, j]) => n('fload2', i, j))));
    const boolNodes = [
      w(3, fc.tuple(fc.constantFrom('lt', 'le', 'gt', 'ge', 'eq', 'ne'), int, int).map(([op, a, b]) => n(op, a, b))),
      w(2, fc.tuple(fc.constantFrom('lt', 'le', 'gt', 'ge', 'eq', 'ne'), float, float).map(([op, a, b]) => n(op, a, b))),
      w(2, fc.tuple(fc.constantFrom('and', 'or', 'eq', 'ne'), bool, bool).map(([op, a, b]) => n(op, a, b))),
      w(1, bool.map((a) => n('not', a))),
      w(1, fc.tuple(bool, bool, bool).map(([c, a, b]) => n('where', c, a, b))),
    ];
    const leaves = (list: fc.Arbitrary<Ast>[]) => list.map((a) => w(1, a));
    return {
      int: fc.oneof(depth, ...leaves(intLeaves), ...intNodes),
      float: fc.oneof(depth, ...leaves(floatLeaves), ...floatNodes),
      bool: fc.oneof(depth, w(1, fc.boolean().map((v): Ast => ({ op: 'bconst', value: v }))), ...boolNodes),
    };
  });
}

/** The runtime parameters a graph may read (fresh per property run, with random data). */
/**
 * A point to evaluate a mod at, (score, b, h, q, kv): by default scores in [-20, 20], 4 batches,
 * 8 heads and positions up to 70; a test narrows them (finite differences) or adds extreme scores.
 */
export function modPointArbitrary(o: { score?: fc.Arbitrary<number>; maxHead?: number; maxPosition?: number } = {}) {
  const position = fc.integer({ min: 0, max: o.maxPosition ?? 70 });
  return fc.record({
    score: o.score ?? fc.double({ min: -20, max: 20, noNaN: true }),
    b: fc.integer({ min: 0, max: 3 }),
    h: fc.integer({ min: 0, max: o.maxHead ?? 7 }),
    q: position,
    kv: position,
  });
}

export interface GraphParams {
  iscalar: Scalar;
  fscalar: Scalar;
  i1: CapturedTensor;
  i2: CapturedTensor;
  f1: CapturedTensor;
  f2: CapturedTensor;
}

/** Random parameter data; with `extremes`, float tables may hold NaN, ±Infinity and −0. */
export function paramsArbitrary(extremes = false): fc.Arbitrary<GraphParams> {
  const f = extremes
    ? fc.oneof({ weight: 6, arbitrary: fc.integer({ min: -8, max: 40 }) }, { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, -0, 0.5) })
    : fc.oneof(fc.integer({ min: -8, max: 40 }), fc.constantFrom(0.5, -2.25));
  return fc
    .record({
      si: fc.integer({ min: -5, max: 30 }),
      sf: fc.oneof(fc.integer({ min: -5, max: 30 }), fc.constantFrom(0.5, -1.25)),
      i1: fc.array(fc.integer({ min: -5, max: 40 }), { minLength: 6, maxLength: 6 }),
      i2: fc.array(fc.integer({ min: -5, max: 40 }), { minLength: 12, maxLength: 12 }),
      f1: fc.array(f, { minLength: 7, maxLength: 7 }),
      f2: fc.array(f, { minLength: 16, maxLength: 16 }),
    })
    .map((r) => ({
      iscalar: scalar(r.si, { dtype: 'i32', name: 'si' }),
      fscalar: scalar(r.sf, { name: 'sf' }),
      i1: capture(Int32Array.from(r.i1), [6], { name: 'i1' }),
      i2: capture(Int32Array.from(r.i2), [3, 4], { name: 'i2' }),
      f1: capture(Float32Array.from(r.f1), [7], { name: 'f1' }),
      f2: capture(Float32Array.from(r.f2), [4, 4], { name: 'f2', requiresGrad: true }),
    }));
}

export interface TraceEnv {
  score?: Expr;
  b: Expr;
  h: Expr;
  q: Expr;
  kv: Expr;
  params?: GraphParams;
}

/** Builds the Expr of an AST with the public Expr methods (call inside a mod being traced). */
export function buildExpr(ast: Ast, env: TraceEnv): Expr {
  const a = (i: number) => buildExpr(ast.args![i]!, env);
  const p = () => {
    if (!env.params) throw new Error('graph reads params but none were given');
    return env.params;
  };
  switch (ast.op) {
    case 'arg': return env[ast.value as 'b' | 'h' | 'q' | 'kv'];
    case 'score': return env.score!;
    case 'iconst': return constant(ast.value as number, 'i32');
    case 'fconst': return constant(ast.value as number, 'f32');
    case 'bconst': return constant(ast.value as boolean);
    case 'iscalar': return p().iscalar.expr();
    case 'fscalar': return p().fscalar.expr();
    case 'iload1': return p().i1.at(a(0));
    case 'iload2': return p().i2.at(a(0), a(1));
    case 'fload1': return p().f1.at(a(0));
    case 'fload2': return p().f2.at(a(0), a(1));
    case 'where': return where(a(0), a(1), a(2));
    // Guarded forms that keep the smooth grammar inside the functions' domains.
    case 'sdiv': return a(0).div(a(1).abs().add(0.5));
    case 'spow': return a(0).abs().add(0.25).pow(a(1).tanh().mul(1.5));
    case 'slog': return a(0).abs().add(0.25).log();
    case 'slog2': return a(0).mul(a(0)).add(0.5).log2();
    case 'ssqrt': return a(0).mul(a(0)).add(0.25).sqrt();
    case 'srsqrt': return a(0).abs().add(0.5).rsqrt();
    default: {
      const self = a(0) as unknown as Record<string, (...x: Expr[]) => Expr>;
      const method = self[ast.op];
      if (typeof method !== 'function') throw new Error(`unknown op ${ast.op}`);
      return method.apply(self, (ast.args ?? []).slice(1).map((_, i) => a(i + 1)));
    }
  }
}

export const traceMaskAst = (ast: Ast, params?: GraphParams): TracedMod =>
  traceMaskMod((b, h, q, kv) => buildExpr(ast, { b, h, q, kv, params }));
export const traceScoreAst = (ast: Ast, params?: GraphParams): TracedMod =>
  traceScoreMod((score, b, h, q, kv) => buildExpr(ast, { score, b, h, q, kv, params }));

/** A readable form of an AST for counterexample reports. */
export function showAst(ast: Ast): string {
  if (!ast.args) return ast.value === undefined ? ast.op : `${ast.op}(${String(ast.value)})`;
  return `${ast.op}(${ast.args.map(showAst).join(', ')})`;
}
