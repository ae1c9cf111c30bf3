/**
 * The renderer base for C-like kernel languages (CUDA C++, WGSL, …): one SSA statement per IR node,
 * each op rendered by a row of an op → text table. A backend supplies a dialect (types, literals,
 * declarations, loads, scalars) and overrides only the table rows its language spells differently.
 * Only IR content reaches the text: op templates, numeric literals and slot numbers. That holds
 * because nodes can only be made through `Node.make`, which checks every payload (an argument is one
 * of the five names, a constant a number or boolean of its dtype, slots small integers), graphs are
 * walked through `topoOrder`, which refuses look-alike objects, and the names a caller passes here
 * (`prefix`, `bound`) must be identifiers. The dialect's own text is the backend's.
 */
import { TraceError } from '../errors';
import type { LoadArg, Node, ScalarArg } from '../node';
import { topoOrder } from '../node';
import type { ArgName, DType, LeafOp, Op } from '../ops';

export type ComputeOp = Exclude<Op, LeafOp>;
/** Renders one op from its operands' expressions; `node` gives dtypes (node.src[i].dtype). */
export type OpRender = (args: readonly string[], node: Node) => string;
export type OpTable = Record<ComputeOp, OpRender>;

const isInt = (n: Node) => n.dtype === 'i32';
const srcIs = (n: Node, d: DType) => n.src[0]!.dtype === d;

/** C spellings; helper functions flex_imod / flex_ifloordiv / flex_fmod / flex_f2i come from the backend's prelude. */
export const C_OP_TABLE: OpTable = Object.freeze({
  add: ([a, b]) => `(${a} + ${b})`,
  sub: ([a, b]) => `(${a} - ${b})`,
  mul: ([a, b]) => `(${a} * ${b})`,
  div: ([a, b]) => `(${a} / ${b})`,
  mod: ([a, b], n) => (isInt(n) ? `flex_imod(${a}, ${b})` : `flex_fmod(${a}, ${b})`),
  floordiv: ([a, b], n) => (isInt(n) ? `flex_ifloordiv(${a}, ${b})` : `floorf(${a} / ${b})`),
  pow: ([a, b]) => `powf(${a}, ${b})`,
  min: ([a, b], n) => (isInt(n) ? `min(${a}, ${b})` : `fminf(${a}, ${b})`),
  max: ([a, b], n) => (isInt(n) ? `max(${a}, ${b})` : `fmaxf(${a}, ${b})`),
  neg: ([a]) => `(-${a})`,
  abs: ([a], n) => (isInt(n) ? `abs(${a})` : `fabsf(${a})`),
  // ±0 and NaN pass through (the ir's meaning, JS Math.sign), which C's copysign forms would not
  sign: ([a], n) => (isInt(n) ? `((${a} > 0) - (${a} < 0))` : `(${a} > 0.0f ? 1.0f : (${a} < 0.0f ? -1.0f : ${a}))`),
  lt: ([a, b]) => `(${a} < ${b})`,
  le: ([a, b]) => `(${a} <= ${b})`,
  gt: ([a, b]) => `(${a} > ${b})`,
  ge: ([a, b]) => `(${a} >= ${b})`,
  eq: ([a, b]) => `(${a} == ${b})`,
  ne: ([a, b]) => `(${a} != ${b})`,
  and: ([a, b]) => `(${a} && ${b})`,
  or: ([a, b]) => `(${a} || ${b})`,
  not: ([a]) => `(!${a})`,
  where: ([c, a, b]) => `(${c} ? ${a} : ${b})`,
  exp: ([a]) => `expf(${a})`,
  exp2: ([a]) => `exp2f(${a})`,
  log: ([a]) => `logf(${a})`,
  log2: ([a]) => `log2f(${a})`,
  tanh: ([a]) => `tanhf(${a})`,
  tanh_approx: ([a]) => `tanhf(${a})`,
  sigmoid: ([a]) => `(1.0f / (1.0f + expf(-${a})))`,
  sqrt: ([a]) => `sqrtf(${a})`,
  rsqrt: ([a]) => `rsqrtf(${a})`,
  sin: ([a]) => `sinf(${a})`,
  cos: ([a]) => `cosf(${a})`,
  erf: ([a]) => `erff(${a})`,
  floor: ([a]) => `floorf(${a})`,
  ceil: ([a]) => `ceilf(${a})`,
  // rintf rounds ties to even in the default rounding mode (roundf would send them away from zero)
  round: ([a], n) => (isInt(n) ? a! : `rintf(${a})`),
  tofloat: ([a], n) => (srcIs(n, 'bool') ? `(${a} ? 1.0f : 0.0f)` : `((float)${a})`),
  toint: ([a], n) => (srcIs(n, 'bool') ? `(${a} ? 1 : 0)` : srcIs(n, 'f32') ? `flex_f2i(${a})` : a!),
});

export interface CStyleDialect {
  ops: OpTable;
  /** e.g. `const float v3 = …;` or `let v3: f32 = …;` */
  declare(dtype: DType, name: string, expr: string): string;
  literal(value: number | boolean, dtype: DType): string;
  /** The expression naming a hook argument (score, b, h, q, kv). */
  arg(name: ArgName): string;
  scalar(arg: ScalarArg): string;
  /** A load from a captured tensor; indices are i32 expressions, to be clamped per the IR's rule. */
  load(arg: LoadArg, indices: readonly string[]): string;
}

/** Shortest float text that round-trips through f32 (9 significant digits always suffice). */
export function f32Text(value: number): string {
  const f = Math.fround(value);
  if (typeof value !== 'number' || !Number.isFinite(f)) {
    throw new TraceError(`f32Text(${String(value)}): only finite f32 values have a literal; spell NaN and ±Infinity through f32BitPattern and a bit cast`);
  }
  // toPrecision drops the sign of −0, which 1/x or a product's sign can observe (fix). Non-finite
  // values have no portable C literal: dialects spell those themselves.
  if (Object.is(f, -0)) return '-0.0';
  for (let p = 1; p <= 9; p++) {
    const t = f.toPrecision(p);
    if (Math.fround(Number(t)) === f) return /[.e]/.test(t) ? t : `${t}.0`;
  }
  return f.toPrecision(9);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/**
 * The IEEE binary32 bit pattern of a value (rounded to f32): how a dialect spells the constants that
 * have no literal — NaN (0x7fc00000), +Infinity (0x7f800000), −Infinity (0xff800000) — through a
 * bit cast (`bitcast<f32>(0x7fc00000u)` in WGSL, `__int_as_float(0x7fc00000)` in CUDA), instead of
 * a finite stand-in that changes the meaning.
 */
export function f32BitPattern(value: number): number {
  f32Scratch[0] = value;
  return u32Scratch[0]!;
}

/** Names the caller splices into the text (a prefix, hoisted values such as `rv.s0`). */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
function checkName(what: string, name: unknown): void {
  if (typeof name !== 'string' || !NAME.test(name)) throw new TraceError(`renderCStyle: ${what} must be an identifier (or a.b member access), got ${JSON.stringify(String(name))}`);
}

export interface RenderedBody {
  lines: string[];
  results: string[];
}

/**
 * Renders the graphs of `roots` (sharing common nodes) as SSA statements; returns them and the
 * expressions of the roots. `prefix` keeps names of several bodies in one scope apart.
 */
export function renderCStyle(
  roots: readonly Node[],
  dialect: CStyleDialect,
  prefix = 'v',
  /** Nodes whose values already have a name (hoisted subexpressions): used as is, never rendered. */
  bound?: ReadonlyMap<Node, string>,
): RenderedBody {
  checkName('prefix', prefix);
  bound?.forEach((name) => checkName('a bound name', name));
  const names = new Map<Node, string>(bound);
  const lines: string[] = [];
  let counter = 0;
  for (const n of topoOrder(roots, bound)) {
    if (bound?.has(n)) continue;
    let expr: string;
    switch (n.op) {
      case 'const':
        names.set(n, dialect.literal(n.arg as number | boolean, n.dtype));
        continue;
      case 'arg':
        names.set(n, dialect.arg(n.arg as ArgName));
        continue;
      case 'scalar':
        names.set(n, dialect.scalar(n.arg as ScalarArg));
        continue;
      case 'load':
        expr = dialect.load(n.arg as LoadArg, n.src.map((s) => names.get(s)!));
        break;
      default:
        expr = dialect.ops[n.op](n.src.map((s) => names.get(s)!), n);
    }
    const name = `${prefix}${counter++}`;
    names.set(n, name);
    lines.push(dialect.declare(n.dtype, name, expr));
  }
  return { lines, results: roots.map((r) => names.get(r)!) };
}
