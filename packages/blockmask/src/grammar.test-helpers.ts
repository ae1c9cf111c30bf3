/**
 * A small fast-check grammar of mask mods over q, kv, b, h, constants, scalars and captured tensors
 * (1-D and 2-D int, 1-D float), as data (so failures print readably) plus a builder to a MaskMod.
 */
import fc from 'fast-check';
import { argsRead, capture, constant, scalar, traceMaskMod, where, type CapturedTensor, type Expr, type MaskMod, type Scalar, type TracedMod } from '@flexattn/ir';

export type IntAst =
  | { k: 'arg'; name: 'q' | 'kv' | 'b' | 'h' }
  | { k: 'const'; v: number }
  | { k: 'scalar' }
  | { k: 'bin'; op: 'add' | 'sub' | 'mul' | 'min' | 'max' | 'floorDiv' | 'mod'; a: IntAst; b: IntAst }
  | { k: 'un'; op: 'abs' | 'neg'; a: IntAst }
  | { k: 'load'; a: IntAst }
  | { k: 'load2'; a: IntAst; b: IntAst }
  | { k: 'where'; c: BoolAst; a: IntAst; b: IntAst }
  | { k: 'toInt'; a: FloatAst };
export type FloatAst =
  | { k: 'toFloat'; a: IntAst }
  | { k: 'fconst'; v: number }
  | { k: 'fscalar' }
  | { k: 'fload'; a: IntAst }
  | { k: 'fbin'; op: 'add' | 'sub' | 'mul' | 'div'; a: FloatAst; b: FloatAst }
  | { k: 'fun'; op: 'tanh' | 'exp' | 'sqrt' | 'floor' | 'abs' | 'sigmoid' | 'log'; a: FloatAst };
export type BoolAst =
  | { k: 'cmp'; op: Cmp; a: IntAst; b: IntAst }
  | { k: 'fcmp'; op: Cmp; a: FloatAst; b: FloatAst }
  | { k: 'and' | 'or'; a: BoolAst; b: BoolAst }
  | { k: 'not'; a: BoolAst }
  | { k: 'bconst'; v: boolean };
type Cmp = 'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'ne';

const cmp = fc.constantFrom<Cmp>('lt', 'le', 'gt', 'ge', 'eq', 'ne');
/** Small constants, and a few that make i32 arithmetic wrap at these lengths. */
const intConst = fc.oneof(fc.integer({ min: -6, max: 24 }), fc.constantFrom(46341, 65536, 1_000_000_007, 2147483647, -2147483648));

const { bool } = fc.letrec<{ int: IntAst; float: FloatAst; bool: BoolAst }>((tie) => ({
  int: fc.oneof(
    { depthSize: 'small', withCrossShrink: true, maxDepth: 5 },
    fc.record({ k: fc.constant('arg' as const), name: fc.constantFrom('q' as const, 'kv' as const, 'q' as const, 'kv' as const, 'b' as const, 'h' as const) }),
    fc.record({ k: fc.constant('const' as const), v: intConst }),
    fc.record({ k: fc.constant('scalar' as const) }),
    fc.record({ k: fc.constant('bin' as const), op: fc.constantFrom('add' as const, 'sub' as const, 'mul' as const, 'min' as const, 'max' as const, 'floorDiv' as const, 'mod' as const), a: tie('int'), b: tie('int') }),
    fc.record({ k: fc.constant('un' as const), op: fc.constantFrom('abs' as const, 'neg' as const), a: tie('int') }),
    fc.record({ k: fc.constant('load' as const), a: tie('int') }),
    fc.record({ k: fc.constant('load2' as const), a: tie('int'), b: tie('int') }),
    fc.record({ k: fc.constant('where' as const), c: tie('bool'), a: tie('int'), b: tie('int') }),
    fc.record({ k: fc.constant('toInt' as const), a: tie('float') }),
  ) as fc.Arbitrary<IntAst>,
  float: fc.oneof(
    { depthSize: 'small', withCrossShrink: true, maxDepth: 4 },
    fc.record({ k: fc.constant('toFloat' as const), a: tie('int') }),
    fc.record({ k: fc.constant('fconst' as const), v: fc.constantFrom(-2.5, -1, 0, 0.5, 1, 3.25, 7, 1e30) }),
    fc.record({ k: fc.constant('fscalar' as const) }),
    fc.record({ k: fc.constant('fload' as const), a: tie('int') }),
    fc.record({ k: fc.constant('fbin' as const), op: fc.constantFrom('add' as const, 'sub' as const, 'mul' as const, 'div' as const), a: tie('float'), b: tie('float') }),
    fc.record({ k: fc.constant('fun' as const), op: fc.constantFrom('tanh' as const, 'exp' as const, 'sqrt' as const, 'floor' as const, 'abs' as const, 'sigmoid' as const, 'log' as const), a: tie('float') }),
  ) as fc.Arbitrary<FloatAst>,
  bool: fc.oneof(
    { depthSize: 'small', withCrossShrink: true, maxDepth: 4 },
    fc.record({ k: fc.constant('cmp' as const), op: cmp, a: tie('int'), b: tie('int') }),
    fc.record({ k: fc.constant('cmp' as const), op: cmp, a: tie('int'), b: tie('int') }),
    fc.record({ k: fc.constant('fcmp' as const), op: cmp, a: tie('float'), b: tie('float') }),
    fc.record({ k: fc.constantFrom('and' as const, 'or' as const), a: tie('bool'), b: tie('bool') }),
    fc.record({ k: fc.constant('not' as const), a: tie('bool') }),
    fc.record({ k: fc.constant('bconst' as const), v: fc.boolean() }),
  ) as fc.Arbitrary<BoolAst>,
}));
export const boolAst = bool;

/** The data a mask reads: tensors and scalars (fresh per case). */
export interface EnvData { ints: number[]; ints2: number[]; floats: number[]; s: number; fs: number }
export const envData = fc.record({
  ints: fc.oneof(
    fc.array(fc.integer({ min: -4, max: 40 }), { minLength: 1, maxLength: 40 }),
    fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 80 }).map((a) => a.sort((x, y) => x - y)), // document-like
  ),
  ints2: fc.array(fc.integer({ min: -3, max: 9 }), { minLength: 12, maxLength: 12 }),
  floats: fc.array(fc.double({ min: -50, max: 50, noNaN: true }), { minLength: 1, maxLength: 30 }),
  s: fc.integer({ min: -5, max: 30 }),
  fs: fc.double({ min: -10, max: 10, noNaN: true }),
});

interface Env { ints: CapturedTensor; ints2: CapturedTensor; floats: CapturedTensor; s: Scalar; fs: Scalar }
export const makeEnv = (d: EnvData): Env => ({
  ints: capture(Int32Array.from(d.ints), undefined, { name: 'ints' }),
  ints2: capture(Int32Array.from(d.ints2), [3, 4], { name: 'ints2' }),
  floats: capture(Float32Array.from(d.floats), undefined, { name: 'floats' }),
  s: scalar(d.s, { dtype: 'i32', name: 's' }),
  fs: scalar(d.fs, { name: 'fs' }),
});

type Args = { b: Expr; h: Expr; q: Expr; kv: Expr };
function int(a: IntAst, env: Env, x: Args): Expr {
  switch (a.k) {
    case 'arg': return x[a.name];
    case 'const': return constant(a.v, 'i32');
    case 'scalar': return env.s.expr();
    case 'bin': return int(a.a, env, x)[a.op](int(a.b, env, x));
    case 'un': return int(a.a, env, x)[a.op]();
    case 'load': return env.ints.at(int(a.a, env, x));
    case 'load2': return env.ints2.at(int(a.a, env, x), int(a.b, env, x));
    case 'where': return where(boolE(a.c, env, x), int(a.a, env, x), int(a.b, env, x));
    case 'toInt': return float(a.a, env, x).toInt();
  }
}
function float(a: FloatAst, env: Env, x: Args): Expr {
  switch (a.k) {
    case 'toFloat': return int(a.a, env, x).toFloat();
    case 'fconst': return constant(a.v, 'f32');
    case 'fscalar': return env.fs.expr();
    case 'fload': return env.floats.at(int(a.a, env, x));
    case 'fbin': return float(a.a, env, x)[a.op](float(a.b, env, x));
    case 'fun': return float(a.a, env, x)[a.op]();
  }
}
function boolE(a: BoolAst, env: Env, x: Args): Expr {
  switch (a.k) {
    case 'cmp': return int(a.a, env, x)[a.op](int(a.b, env, x));
    case 'fcmp': return float(a.a, env, x)[a.op](float(a.b, env, x));
    case 'and': case 'or': return boolE(a.a, env, x)[a.k](boolE(a.b, env, x));
    case 'not': return boolE(a.a, env, x).not();
    case 'bconst': return constant(a.v ? 1 : 0, 'i32').eq(1);
  }
}

export const buildMask = (ast: BoolAst, data: EnvData): MaskMod => {
  const env = makeEnv(data);
  return (b, h, q, kv) => boolE(ast, env, { b, h, q, kv });
};

/** Lengths (often not multiples of the block), block sizes (square or not), B and H. */
export const shapeArb = fc.record({
  B: fc.integer({ min: 1, max: 2 }),
  H: fc.integer({ min: 1, max: 3 }),
  qLen: fc.integer({ min: 1, max: 48 }),
  kvLen: fc.integer({ min: 1, max: 48 }),
  block: fc.oneof(fc.integer({ min: 1, max: 16 }).map((n) => [n, n] as [number, number]), fc.tuple(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 16 }))),
  broadcast: fc.boolean(),
});

/**
 * The B / H options for a shape: omitted (broadcast) when the shape asks for it and the mod does not
 * read that index — createBlockMask refuses a shared plane for a mod that reads it.
 */
export function dimsFor(mod: MaskMod | TracedMod, sh: { B: number; H: number; broadcast: boolean }): { B?: number; H?: number } {
  const reads = argsRead(traceMaskMod(mod));
  return { ...(sh.broadcast && !reads.b ? {} : { B: sh.B }), ...(sh.broadcast && !reads.h ? {} : { H: sh.H }) };
}
