// IR → CUDA C++: the generated prelude that kernels/*.cuh are compiled after. The hooks come from
// ir's one hook assembler (planKernelHooks + renderKernelHooks); this file is CUDA's dialect (the
// few op-table rows CUDA spells differently, signatures, params structs passed by reference,
// atomicAdd) and the glue: the kernel-selection macros, the helpers the op table calls, the params
// structs and the hooks in the order kernels/common.cuh expects.
import {
  additiveBias,
  C_OP_TABLE,
  f32Text,
  planKernelHooks,
  renderKernelHooks,
  type DType,
  type HookDialect,
  type HookType,
  type IRDType,
  type KernelHookPlan,
  type Node,
  type OpTable,
  type ParamBlock,
  type ParamField,
  type TracedMod,
} from '@flexattn/ir';

export { isIdentityScoreMod } from '@flexattn/ir';

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

/** The params struct of each mod: kernels take them by value, hooks by const reference. */
const PARAMS_STRUCT = { score: 'FlexScoreParams', mask: 'FlexMaskParams' } as const;

const typeText = (t: HookType, asParam: boolean): string =>
  typeof t === 'object' ? (asParam ? `const ${t.struct}&` : t.struct) : t === 'void' ? 'void' : CTYPE[t];

export const CUDA_DIALECT: HookDialect = {
  ops: CUDA_OP_TABLE,
  declare: (dtype, name, expr) => `const ${CTYPE[dtype]} ${name} = ${expr};`,
  literal,
  arg: (name) => name,
  names: {
    scoreMod: 'flex_score_mod',
    scoreModGrad: 'flex_score_mod_grad',
    captureGrads: 'flex_score_mod_capture_grads',
    maskMod: 'flex_mask_mod',
    scoreModRowCol: 'flex_score_mod_rc',
    scoreModGradRowCol: 'flex_score_mod_grad_rc',
    maskModRowCol: 'flex_mask_mod_rc',
    biasKvSlope: 'flex_bias_kv_slope',
    hoisted: (side) => (side === 'row' ? { struct: 'FlexRowVals', builder: 'flex_row_vals' } : { struct: 'FlexColVals', builder: 'flex_col_vals' }),
  },
  hoistGroups: 'per-side',
  paramsType: PARAMS_STRUCT,
  func: (f) => {
    const head = `__device__ __forceinline__ ${typeText(f.returns, false)} ${f.name}(${f.params.map((p) => `${typeText(p.type, true)} ${p.name}`).join(', ')})`;
    if (f.result === undefined && !f.body.length) return `${head} {}`;
    return [`${head} {`, ...f.body, ...(f.result === undefined ? [] : [`  return ${f.result};`]), '}'].join('\n');
  },
  struct: (name, fields) => [`struct ${name} {`, ...fields.map((f) => `  ${CTYPE[f.dtype]} ${f.name};`), '};'].join('\n'),
  construct: (struct, values) => `${struct}{${values.join(', ')}}`,
  param: (a) => `${a.via}.${a.field.name}`,
  clampIndex: (index, dim) => `flex_clampi(${index}, ${dim.via}.${dim.field.name})`,
  atomicAdd: (grad, index, value) => `atomicAdd(&${grad.via}.${grad.field.name}[${index}], ${value});`,
  // exact for |x| < 2^22 without the int→float unit, which has the exp unit's low throughput
  smallIntToFloat: (x) => `flex_i2f_small(${x})`,
};

/** The C declaration type of a params field. */
function fieldType(f: ParamField): string {
  if (f.role === 'tensor') return f.dtype === 'f32' ? 'const float*' : 'const int*';
  if (f.role === 'grad') return 'float*';
  return CTYPE[f.dtype];
}

export function renderParamsStruct(block: ParamBlock): string {
  const lines = block.fields.map((f) => `  ${`${fieldType(f)} ${f.name};`.padEnd(28)}// offset ${f.offset}`);
  return [`struct ${PARAMS_STRUCT[block.owner]} {  // ${block.size} bytes`, ...lines, '};'].join('\n');
}

export interface RenderOptions {
  /**
   * Every b, h, q and kv of the launches is below this (the backend passes 2^22 when the shape
   * allows): lets int→float casts of index arithmetic take the fast path. Part of the source, so
   * part of the compile-cache key.
   */
  indexLimit?: number;
  /** Plan the row/column hoisting (default true; the harness turns it off for comparison). */
  hoist?: boolean;
}

export interface RenderedMods {
  plan: KernelHookPlan;
  /** The prelude's mod part: params structs and hooks (FLEX_HAS_ROW_COL and the row/column form last). */
  source: string;
  scoreLayout: ParamBlock;
  maskLayout: ParamBlock;
  identityScore: boolean;
  trueMask: boolean;
  hasCaptureGrads: boolean;
  /** d(score mod)/d(score) is the constant 1 (FLEX_SCORE_MOD_GRAD_IS_ONE): no per-element derivative. */
  gradIsOne: boolean;
  /**
   * The score mod is `score + bias(b, h, q, kv)` with a bias that does not read the score
   * (FLEX_SCORE_MOD_ADDITIVE): flex_score_mod_rc(-0.f, …) is then the bias exactly (x + -0 = x),
   * which the Hopper forward can write into its S accumulator before QKᵀ (Fa3Cfg::BACC).
   */
  additiveScore: boolean;
  /**
   * Besides additive, the bias is affine in kv along a row (ir's plan.score.biasKvSlope: ALiBi,
   * relative position, a head bias), with the slope rendered as flex_bias_kv_slope
   * (FLEX_BIAS_KV_AFFINE): the Hopper forward computes the bias at one column per row and tile
   * through flex_score_mod_rc(-0.f, …) and the rest with one FMA each.
   */
  biasKvAffine: boolean;
}

/** `score + bias` (either order) with a bias that does not read the score; never the identity (ir's additiveBias). */
export function isAdditiveScoreRoot(root: Node): boolean {
  return additiveBias(root) !== undefined;
}

/** Renders the hooks for a score mod and a mask mod (either may be absent: identity / all-true). */
export function renderMods(scoreMod: TracedMod | undefined, maskMod: TracedMod | undefined, options: RenderOptions = {}): RenderedMods {
  const plan = planKernelHooks(scoreMod, maskMod, options);
  const h = renderKernelHooks(plan, CUDA_DIALECT);
  const source = [
    renderParamsStruct(plan.score.params),
    renderParamsStruct(plan.mask.params),
    h.scoreMod,
    h.scoreModGrad,
    h.captureGrads,
    h.maskMod,
    '#define FLEX_HAS_ROW_COL 1',
    ...h.rowCol,
    // only where the fast path applies: the sources of every other mod stay as they were
    ...(h.biasKvSlope === undefined ? [] : [h.biasKvSlope]),
  ].join('\n');
  // the plan found the bias already (ir's additiveBias; undefined for the identity)
  const additiveScore = plan.score.bias !== undefined;
  // rendered only where the plan has a slope, which it takes of an additive bias alone
  const biasKvAffine = h.biasKvSlope !== undefined;
  return { plan, source, scoreLayout: plan.score.params, maskLayout: plan.mask.params, ...plan.flags, additiveScore, biasKvAffine };
}

/**
 * ir's integer semantics in C (index clamping, floored modulo, x mod 0 = 0, floor division), as
 * functions declared `decl` and named `<prefix>_…`: the device prelude's and the harness's host
 * reference's.
 */
export function cIntegerHelpers(decl: string, prefix: string): string {
  return `${decl} int ${prefix}_clampi(int i, int n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }
${decl} int ${prefix}_imod(int a, int b) {
  if (b == 0) return 0;
  const int r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
${decl} int ${prefix}_ifloordiv(int a, int b) {
  if (b == 0) return 0;
  const int q = a / b;
  return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;
}`;
}

/** Helpers the op table and loads call (ir's semantics: floored modulo, x mod 0 = 0, saturating casts). */
export const PRELUDE_HELPERS = `${cIntegerHelpers('__device__ __forceinline__', 'flex')}
__device__ __forceinline__ float flex_fmod(float a, float b) { return a - b * floorf(a / b); }
__device__ __forceinline__ int flex_f2i(float x) { return __float2int_rz(x); }  // saturating, NaN -> 0
// exact for |x| < 2^22: x lands in the mantissa of 1.5 * 2^23 (integer add and float subtract, no I2F)
__device__ __forceinline__ float flex_i2f_small(int x) { return __int_as_float(x + 0x4B400000) - 12582912.0f; }
__device__ __forceinline__ float flex_tanh_approx(float x) {
  float y;
  asm("tanh.approx.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}`;

/** The kernel-selection macros of the mods (FLEX_SCORE_MOD_IS_IDENTITY, …). */
export function modMacros(m: Pick<RenderedMods, 'identityScore' | 'trueMask' | 'hasCaptureGrads' | 'gradIsOne' | 'additiveScore' | 'biasKvAffine'>): string[] {
  return [
    `#define FLEX_SCORE_MOD_IS_IDENTITY ${m.identityScore ? 1 : 0}`,
    `#define FLEX_MASK_MOD_IS_TRUE ${m.trueMask ? 1 : 0}`,
    `#define FLEX_HAS_CAPTURE_GRADS ${m.hasCaptureGrads ? 1 : 0}`,
    `#define FLEX_SCORE_MOD_GRAD_IS_ONE ${m.gradIsOne ? 1 : 0}`,
    // only where it holds: the preludes of every other mod stay as they were (compile-cache keys)
    ...(m.additiveScore ? ['#define FLEX_SCORE_MOD_ADDITIVE 1'] : []),
    ...(m.biasKvAffine ? ['#define FLEX_BIAS_KV_AFFINE 1'] : []),
  ];
}

export interface PreludeOptions extends RenderOptions {
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
  const mods = renderMods(o.scoreMod, o.maskMod, { indexLimit: o.indexLimit, hoist: o.hoist });
  const head = [
    `// generated by @flexattn/backend-cuda (src/renderer.ts)`,
    `// score mod ${o.scoreMod ? `#${o.scoreMod.hash}` : 'identity'}, mask mod ${o.maskMod ? `#${o.maskMod.hash}` : 'none'}`,
    `#define ${DTYPE_MACRO[o.dtype]} 1`,
    `#define FLEX_HEAD_DIM ${o.E}`,
    `#define FLEX_HEAD_DIM_V ${o.Ev}`,
    ...modMacros(mods),
    ...Object.entries(o.defines ?? {}).map(([k, v]) => `#define ${k} ${v}`),
    '#include <cuda_bf16.h>',
    '#include <cuda_fp16.h>',
  ];
  return { ...mods, prelude: [...head, PRELUDE_HELPERS, mods.source, ''].join('\n') };
}
