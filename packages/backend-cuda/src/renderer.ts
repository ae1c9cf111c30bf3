// IR → CUDA C++: the generated prelude that kernels/*.cuh are compiled after. It holds the
// kernel-selection macros, the params structs (captured tensors and scalars become fields: new
// scalar values never change the source) and the four __device__ hooks of the fixed signatures.
// The op table is ir's C table with CUDA's few differences; everything else is the base renderer.
import {
  C_OP_TABLE,
  CapturedTensor,
  captureGradTerms,
  f32Text,
  gradScore,
  indexRange,
  planHoist,
  renderCStyle,
  type IndexBounds,
  type CStyleDialect,
  type DType,
  type IRDType,
  type LoadArg,
  type Node,
  type OpTable,
  type ScalarArg,
  type TracedMod,
} from '@flexattn/ir';

/** CUDA's rows of the op table: hardware tanh, and rounding that keeps integers integral. */
export const CUDA_OP_TABLE: OpTable = {
  ...C_OP_TABLE,
  tanh_approx: ([a]) => `flex_tanh_approx(${a})`,
  floor: ([a], n) => (n.dtype === 'i32' ? a! : `floorf(${a})`),
  ceil: ([a], n) => (n.dtype === 'i32' ? a! : `ceilf(${a})`),
};

/** |x| below this converts exactly with one integer add and one float subtract (flex_i2f_small). */
const SMALL_INT = 2 ** 22;

/**
 * The op table for one launch class: with index bounds known (every b, h, q, kv below
 * `indexLimit`), an int→float cast of index arithmetic (`kv - q` of ALiBi / relative position) is
 * proven to fit flex_i2f_small and skips the conversion unit, which has the exp unit's low
 * throughput and sits on every element of the tile.
 */
function cudaOps(indexLimit: number | undefined): OpTable {
  if (indexLimit === undefined) return CUDA_OP_TABLE;
  const bounds: IndexBounds = { b: [0, indexLimit - 1], h: [0, indexLimit - 1], q: [0, indexLimit - 1], kv: [0, indexLimit - 1] };
  return {
    ...CUDA_OP_TABLE,
    tofloat: (args, n) => {
      const r = n.src[0]!.dtype === 'i32' ? indexRange(n.src[0]!, bounds) : undefined;
      return r && r[0] > -SMALL_INT && r[1] < SMALL_INT ? `flex_i2f_small(${args[0]})` : CUDA_OP_TABLE.tofloat(args, n);
    },
  };
}

const CTYPE: Record<IRDType, string> = { f32: 'float', i32: 'int', bool: 'bool' };

function literal(value: number | boolean, dtype: IRDType): string {
  if (typeof value === 'boolean' || dtype === 'bool') return value ? 'true' : 'false';
  if (dtype === 'i32') {
    if (value === -2147483648) return '(-2147483647 - 1)';
    return value < 0 ? `(${value})` : String(value);
  }
  if (Number.isNaN(value)) return '__int_as_float(0x7fffffff)';
  if (value === Infinity) return '__int_as_float(0x7f800000)';
  if (value === -Infinity) return '__int_as_float(0xff800000)';
  const t = `${f32Text(value)}f`;
  return value < 0 || Object.is(value, -0) ? `(${t})` : t;
}

// ---------------------------------------------------------------------------------------------
// params structs
// ---------------------------------------------------------------------------------------------

/** Where a field's value comes from at launch time. */
export type ParamSource =
  | { type: 'tensor'; slot: number }
  | { type: 'grad'; slot: number }
  | { type: 'dim'; slot: number; dim: number }
  | { type: 'scalar'; slot: number }
  | { type: 'pad' };

export interface ParamField {
  name: string;
  kind: 'ptr' | 'i32' | 'f32';
  /** C declaration type, e.g. `const float*`. */
  ctype: string;
  offset: number;
  source: ParamSource;
}

/** The byte layout of a generated params struct: pointers first (8 bytes), then 4-byte fields. */
export interface ParamLayout {
  struct: 'FlexScoreParams' | 'FlexMaskParams';
  fields: ParamField[];
  /** A multiple of 8. */
  size: number;
}

export function paramLayout(struct: ParamLayout['struct'], mod: TracedMod | undefined, withGrads: boolean): ParamLayout {
  const ptrs: Omit<ParamField, 'offset'>[] = [];
  const words: Omit<ParamField, 'offset'>[] = [];
  mod?.captures.forEach((c, slot) => {
    if (c instanceof CapturedTensor) {
      ptrs.push({ name: `t${slot}`, kind: 'ptr', ctype: c.dtype === 'f32' ? 'const float*' : 'const int*', source: { type: 'tensor', slot } });
      if (withGrads && c.requiresGrad) ptrs.push({ name: `g${slot}`, kind: 'ptr', ctype: 'float*', source: { type: 'grad', slot } });
      c.shape.forEach((_, dim) => words.push({ name: `t${slot}_d${dim}`, kind: 'i32', ctype: 'int', source: { type: 'dim', slot, dim } }));
    } else {
      const kind = c.dtype === 'f32' ? 'f32' : 'i32';
      words.push({ name: `s${slot}`, kind, ctype: kind === 'f32' ? 'float' : 'int', source: { type: 'scalar', slot } });
    }
  });
  if (ptrs.length + words.length === 0) words.push({ name: 'unused', kind: 'i32', ctype: 'int', source: { type: 'pad' } });
  if (words.length % 2 === 1) words.push({ name: 'pad', kind: 'i32', ctype: 'int', source: { type: 'pad' } });
  const fields: ParamField[] = [];
  let offset = 0;
  for (const f of ptrs) {
    fields.push({ ...f, offset });
    offset += 8;
  }
  for (const f of words) {
    fields.push({ ...f, offset });
    offset += 4;
  }
  return { struct, fields, size: offset };
}

function renderStruct(layout: ParamLayout): string {
  const lines = layout.fields.map((f) => `  ${`${f.ctype} ${f.name};`.padEnd(28)}// offset ${f.offset}`);
  return [`struct ${layout.struct} {  // ${layout.size} bytes`, ...lines, '};'].join('\n');
}

// ---------------------------------------------------------------------------------------------
// hooks
// ---------------------------------------------------------------------------------------------

function flatIndex(slot: number, indices: readonly string[]): string {
  // clamped per dimension (ir's rule: out-of-range indices read the nearest edge element)
  let expr = '';
  indices.forEach((ix, d) => {
    const clamped = `flex_clampi(${ix}, p.t${slot}_d${d})`;
    expr = d === 0 ? clamped : `(${expr} * p.t${slot}_d${d} + ${clamped})`;
  });
  return expr;
}

function cudaDialect(ops: OpTable): CStyleDialect {
  return {
    ops,
    declare: (dtype, name, expr) => `const ${CTYPE[dtype]} ${name} = ${expr};`,
    literal,
    arg: (name) => name,
    scalar: (arg: ScalarArg) => `p.s${arg.slot}`,
    load: (arg: LoadArg, indices) => `p.t${arg.slot}[${flatIndex(arg.slot, indices)}]`,
  };
}

function body(roots: readonly Node[], dialect: CStyleDialect, bound?: ReadonlyMap<Node, string>): { lines: string[]; results: string[] } {
  const r = renderCStyle(roots, dialect, 'v', bound);
  return { lines: r.lines.map((l) => `  ${l}`), results: r.results };
}

const SCORE_SIG = '(float score, int b, int h, int q, int kv, const FlexScoreParams& p)';
const MASK_SIG = '(int b, int h, int q, int kv, const FlexMaskParams& p)';
const SCORE_RC_SIG = '(float score, int b, int h, int q, int kv, const FlexRowVals& rv, const FlexColVals& cv, const FlexScoreParams& p)';
const MASK_RC_SIG = '(int b, int h, int q, int kv, const FlexRowVals& rv, const FlexColVals& cv, const FlexMaskParams& p)';

function fn(ret: string, name: string, sig: string, lines: string[], result: string): string {
  return [`__device__ __forceinline__ ${ret} ${name}${sig} {`, ...lines, `  return ${result};`, '}'].join('\n');
}

export function isIdentityScoreMod(mod: TracedMod | undefined): boolean {
  return !mod || (mod.root.op === 'arg' && mod.root.arg === 'score');
}
export function isTrueMask(mod: TracedMod | undefined): boolean {
  return !mod || (mod.root.op === 'const' && mod.root.arg === true);
}

/**
 * The row/column split of the forward kernel's hooks (see ir's planHoist): per query row a
 * FlexRowVals, per key column a FlexColVals, and flex_score_mod_rc / flex_mask_mod_rc that read
 * them instead of recomputing. Score and mask graphs are planned apart: their captures are
 * separate slot lists (equal load nodes may read different tensors).
 */
function renderRowCol(score: Node | undefined, grad: Node | undefined, mask: Node | undefined, dialect: CStyleDialect): string[] {
  // the score mod and its derivative share captures (one slot list) and are evaluated together
  const plans = { s: planHoist(score && grad ? [score, grad] : []), m: planHoist(mask ? [mask] : []) };
  const fields = (side: 'row' | 'col') =>
    (['s', 'm'] as const).flatMap((g) => plans[g][side].map((n, i) => ({ g, n, name: `${g}${i}`, ctype: CTYPE[n.dtype] })));
  const parts: string[] = ['#define FLEX_HAS_ROW_COL 1'];
  for (const side of ['row', 'col'] as const) {
    const struct = side === 'row' ? 'FlexRowVals' : 'FlexColVals';
    const f = fields(side);
    parts.push([`struct ${struct} {`, ...f.map((x) => `  ${x.ctype} ${x.name};`), '};'].join('\n'));
    const lines: string[] = [`  ${struct} r;`];
    for (const g of ['s', 'm'] as const) {
      const nodes = plans[g][side];
      if (!nodes.length) continue;
      const r = renderCStyle(nodes, dialect, `${g}${side[0]}`);
      lines.push(`  {`, `    const ${g === 's' ? 'FlexScoreParams& p = sp' : 'FlexMaskParams& p = mp'};`, ...r.lines.map((l) => `    ${l}`));
      nodes.forEach((_, i) => lines.push(`    r.${g}${i} = ${r.results[i]};`));
      lines.push('  }');
    }
    const index = side === 'row' ? 'q' : 'kv';
    parts.push(
      [`__device__ __forceinline__ ${struct} flex_${side}_vals(int b, int h, int ${index}, const FlexScoreParams& sp, const FlexMaskParams& mp) {`, ...lines, '  return r;', '}'].join('\n'),
    );
  }
  const bound = (g: 's' | 'm') =>
    new Map<Node, string>([...plans[g].row.map((n, i) => [n, `rv.${g}${i}`] as const), ...plans[g].col.map((n, i) => [n, `cv.${g}${i}`] as const)]);
  if (score && grad) {
    const b = body([score], dialect, bound('s'));
    parts.push(fn('float', 'flex_score_mod_rc', SCORE_RC_SIG, b.lines, b.results[0]!));
    const g = body([grad], dialect, bound('s'));
    parts.push(fn('float', 'flex_score_mod_grad_rc', SCORE_RC_SIG, g.lines, g.results[0]!));
  } else {
    parts.push(fn('float', 'flex_score_mod_rc', SCORE_RC_SIG, [], 'score'));
    parts.push(fn('float', 'flex_score_mod_grad_rc', SCORE_RC_SIG, [], '1.0f'));
  }
  if (mask) {
    const b = body([mask], dialect, bound('m'));
    parts.push(fn('bool', 'flex_mask_mod_rc', MASK_RC_SIG, b.lines, b.results[0]!));
  } else parts.push(fn('bool', 'flex_mask_mod_rc', MASK_RC_SIG, [], 'true'));
  return parts;
}

export interface RenderOptions {
  /**
   * Every b, h, q and kv of the launches is below this (the backend passes 2^22 when the shape
   * allows): lets int→float casts of index arithmetic take the fast path. Part of the source, so
   * part of the compile-cache key.
   */
  indexLimit?: number;
}

export interface RenderedMods {
  /** The prelude's mod part: helpers, params structs, hooks. */
  source: string;
  scoreLayout: ParamLayout;
  maskLayout: ParamLayout;
  identityScore: boolean;
  trueMask: boolean;
  hasCaptureGrads: boolean;
  /** d(score mod)/d(score) is the constant 1 (FLEX_SCORE_MOD_GRAD_IS_ONE): no per-element derivative. */
  gradIsOne: boolean;
}

/**
 * Renders the hooks for a score mod and a mask mod (either may be absent: identity / all-true).
 * Captured tensors that require grad get gradient buffers and a scatter-add in
 * flex_score_mod_capture_grads.
 */
export function renderMods(scoreMod: TracedMod | undefined, maskMod: TracedMod | undefined, options: RenderOptions = {}): RenderedMods {
  const dialect = cudaDialect(cudaOps(options.indexLimit));
  const identityScore = isIdentityScoreMod(scoreMod);
  const trueMask = isTrueMask(maskMod);
  const terms = scoreMod ? captureGradTerms(scoreMod) : [];
  const scoreLayout = paramLayout('FlexScoreParams', scoreMod, terms.length > 0);
  const maskLayout = paramLayout('FlexMaskParams', maskMod, false);
  const parts: string[] = [renderStruct(scoreLayout), renderStruct(maskLayout)];

  let grad: Node | undefined;
  if (scoreMod && !identityScore) {
    const s = body([scoreMod.root], dialect);
    parts.push(fn('float', 'flex_score_mod', SCORE_SIG, s.lines, s.results[0]!));
    grad = gradScore(scoreMod).root;
    const g = body([grad], dialect);
    parts.push(fn('float', 'flex_score_mod_grad', SCORE_SIG, g.lines, g.results[0]!));
  } else {
    parts.push(fn('float', 'flex_score_mod', SCORE_SIG, [], 'score'));
    parts.push(fn('float', 'flex_score_mod_grad', SCORE_SIG, [], '1.0f'));
  }

  if (terms.length) {
    const roots = terms.flatMap((t) => [t.partial, ...t.indices]);
    const r = renderCStyle(roots, dialect);
    const lines = r.lines.map((l) => `  ${l}`);
    let k = 0;
    for (const t of terms) {
      const partial = r.results[k++]!;
      const idx = t.indices.map(() => r.results[k++]!);
      lines.push(`  atomicAdd(&p.g${t.slot}[${flatIndex(t.slot, idx)}], dpost * ${partial});`);
    }
    parts.push([`__device__ __forceinline__ void flex_score_mod_capture_grads(float dpost, float score, int b, int h, int q, int kv, const FlexScoreParams& p) {`, ...lines, '}'].join('\n'));
  } else {
    parts.push(`__device__ __forceinline__ void flex_score_mod_capture_grads(float dpost, float score, int b, int h, int q, int kv, const FlexScoreParams& p) {}`);
  }

  if (maskMod && !trueMask) {
    const m = body([maskMod.root], dialect);
    parts.push(fn('bool', 'flex_mask_mod', MASK_SIG, m.lines, m.results[0]!));
  } else {
    parts.push(fn('bool', 'flex_mask_mod', MASK_SIG, [], 'true'));
  }
  parts.push(...renderRowCol(grad && scoreMod?.root, grad, maskMod && !trueMask ? maskMod.root : undefined, dialect));
  // score + f(b, h, q, kv) (alibi, relative position): the backward skips the per-element derivative
  const gradIsOne = grad !== undefined && grad.op === 'const' && grad.arg === 1;
  return { source: parts.join('\n'), scoreLayout, maskLayout, identityScore, trueMask, hasCaptureGrads: terms.length > 0, gradIsOne };
}

/** Helpers the op table and loads call (ir's semantics: floored modulo, x mod 0 = 0, saturating casts). */
export const PRELUDE_HELPERS = `__device__ __forceinline__ int flex_clampi(int i, int n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }
__device__ __forceinline__ int flex_imod(int a, int b) {
  if (b == 0) return 0;
  const int r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
__device__ __forceinline__ int flex_ifloordiv(int a, int b) {
  if (b == 0) return 0;
  const int q = a / b;
  return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;
}
__device__ __forceinline__ float flex_fmod(float a, float b) { return a - b * floorf(a / b); }
__device__ __forceinline__ int flex_f2i(float x) { return __float2int_rz(x); }  // saturating, NaN -> 0
// exact for |x| < 2^22: x lands in the mantissa of 1.5 * 2^23 (integer add and float subtract, no I2F)
__device__ __forceinline__ float flex_i2f_small(int x) { return __int_as_float(x + 0x4B400000) - 12582912.0f; }
__device__ __forceinline__ float flex_tanh_approx(float x) {
  float y;
  asm("tanh.approx.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}`;

export interface PreludeOptions {
  dtype: DType;
  E: number;
  Ev: number;
  scoreMod?: TracedMod;
  maskMod?: TracedMod;
  /** Extra macros (the tile config: FLEX_FWD_BM, …). */
  defines?: Record<string, number>;
  /** See RenderOptions.indexLimit. */
  indexLimit?: number;
}

export interface RenderedPrelude extends RenderedMods {
  prelude: string;
}

const DTYPE_MACRO: Record<DType, string> = { bf16: 'FLEX_DTYPE_BF16', f16: 'FLEX_DTYPE_F16', f32: 'FLEX_DTYPE_F32' };

/** The whole generated prelude: macros, then helpers, structs and hooks. */
export function renderPrelude(o: PreludeOptions): RenderedPrelude {
  const mods = renderMods(o.scoreMod, o.maskMod, { indexLimit: o.indexLimit });
  const head = [
    `// generated by @flexattn/backend-cuda (src/renderer.ts)`,
    `// score mod ${o.scoreMod ? `#${o.scoreMod.hash}` : 'identity'}, mask mod ${o.maskMod ? `#${o.maskMod.hash}` : 'none'}`,
    `#define ${DTYPE_MACRO[o.dtype]} 1`,
    `#define FLEX_HEAD_DIM ${o.E}`,
    `#define FLEX_HEAD_DIM_V ${o.Ev}`,
    `#define FLEX_SCORE_MOD_IS_IDENTITY ${mods.identityScore ? 1 : 0}`,
    `#define FLEX_MASK_MOD_IS_TRUE ${mods.trueMask ? 1 : 0}`,
    `#define FLEX_HAS_CAPTURE_GRADS ${mods.hasCaptureGrads ? 1 : 0}`,
    `#define FLEX_SCORE_MOD_GRAD_IS_ONE ${mods.gradIsOne ? 1 : 0}`,
    ...Object.entries(o.defines ?? {}).map(([k, v]) => `#define ${k} ${v}`),
    '#include <cuda_bf16.h>',
    '#include <cuda_fp16.h>',
  ];
  return { ...mods, prelude: [...head, PRELUDE_HELPERS, mods.source, ''].join('\n') };
}
