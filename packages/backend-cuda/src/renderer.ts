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
  renderCStyle,
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

const dialect: CStyleDialect = {
  ops: CUDA_OP_TABLE,
  declare: (dtype, name, expr) => `const ${CTYPE[dtype]} ${name} = ${expr};`,
  literal,
  arg: (name) => name,
  scalar: (arg: ScalarArg) => `p.s${arg.slot}`,
  load: (arg: LoadArg, indices) => `p.t${arg.slot}[${flatIndex(arg.slot, indices)}]`,
};

function body(roots: readonly Node[]): { lines: string[]; results: string[] } {
  const r = renderCStyle(roots, dialect);
  return { lines: r.lines.map((l) => `  ${l}`), results: r.results };
}

const SCORE_SIG = '(float score, int b, int h, int q, int kv, const FlexScoreParams& p)';
const MASK_SIG = '(int b, int h, int q, int kv, const FlexMaskParams& p)';

function fn(ret: string, name: string, sig: string, lines: string[], result: string): string {
  return [`__device__ __forceinline__ ${ret} ${name}${sig} {`, ...lines, `  return ${result};`, '}'].join('\n');
}

export function isIdentityScoreMod(mod: TracedMod | undefined): boolean {
  return !mod || (mod.root.op === 'arg' && mod.root.arg === 'score');
}
export function isTrueMask(mod: TracedMod | undefined): boolean {
  return !mod || (mod.root.op === 'const' && mod.root.arg === true);
}

export interface RenderedMods {
  /** The prelude's mod part: helpers, params structs, hooks. */
  source: string;
  scoreLayout: ParamLayout;
  maskLayout: ParamLayout;
  identityScore: boolean;
  trueMask: boolean;
  hasCaptureGrads: boolean;
}

/**
 * Renders the hooks for a score mod and a mask mod (either may be absent: identity / all-true).
 * Captured tensors that require grad get gradient buffers and a scatter-add in
 * flex_score_mod_capture_grads.
 */
export function renderMods(scoreMod: TracedMod | undefined, maskMod: TracedMod | undefined): RenderedMods {
  const identityScore = isIdentityScoreMod(scoreMod);
  const trueMask = isTrueMask(maskMod);
  const terms = scoreMod ? captureGradTerms(scoreMod) : [];
  const scoreLayout = paramLayout('FlexScoreParams', scoreMod, terms.length > 0);
  const maskLayout = paramLayout('FlexMaskParams', maskMod, false);
  const parts: string[] = [renderStruct(scoreLayout), renderStruct(maskLayout)];

  if (scoreMod && !identityScore) {
    const s = body([scoreMod.root]);
    parts.push(fn('float', 'flex_score_mod', SCORE_SIG, s.lines, s.results[0]!));
    const g = body([gradScore(scoreMod).root]);
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
    const m = body([maskMod.root]);
    parts.push(fn('bool', 'flex_mask_mod', MASK_SIG, m.lines, m.results[0]!));
  } else {
    parts.push(fn('bool', 'flex_mask_mod', MASK_SIG, [], 'true'));
  }
  return { source: parts.join('\n'), scoreLayout, maskLayout, identityScore, trueMask, hasCaptureGrads: terms.length > 0 };
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
}

export interface RenderedPrelude extends RenderedMods {
  prelude: string;
}

const DTYPE_MACRO: Record<DType, string> = { bf16: 'FLEX_DTYPE_BF16', f16: 'FLEX_DTYPE_F16', f32: 'FLEX_DTYPE_F32' };

/** The whole generated prelude: macros, then helpers, structs and hooks. */
export function renderPrelude(o: PreludeOptions): RenderedPrelude {
  const mods = renderMods(o.scoreMod, o.maskMod);
  const head = [
    `// generated by @flexattn/backend-cuda (src/renderer.ts)`,
    `// score mod ${o.scoreMod ? `#${o.scoreMod.hash}` : 'identity'}, mask mod ${o.maskMod ? `#${o.maskMod.hash}` : 'none'}`,
    `#define ${DTYPE_MACRO[o.dtype]} 1`,
    `#define FLEX_HEAD_DIM ${o.E}`,
    `#define FLEX_HEAD_DIM_V ${o.Ev}`,
    `#define FLEX_SCORE_MOD_IS_IDENTITY ${mods.identityScore ? 1 : 0}`,
    `#define FLEX_MASK_MOD_IS_TRUE ${mods.trueMask ? 1 : 0}`,
    `#define FLEX_HAS_CAPTURE_GRADS ${mods.hasCaptureGrads ? 1 : 0}`,
    ...Object.entries(o.defines ?? {}).map(([k, v]) => `#define ${k} ${v}`),
    '#include <cuda_bf16.h>',
    '#include <cuda_fp16.h>',
  ];
  return { ...mods, prelude: [...head, PRELUDE_HELPERS, mods.source, ''].join('\n') };
}
