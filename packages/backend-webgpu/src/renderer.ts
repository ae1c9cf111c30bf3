/**
 * IR → WGSL: WGSL's dialect for ir's one hook assembler (planKernelHooks + renderKernelHooks) — the
 * op rows WGSL spells differently, literals, signatures, structs, parameter reads — and the glue
 * into `WgslHooks` for the programs/*.ts templates. Captured tensors become `cap_<p><slot>` storage
 * bindings and scalars fields `S.<p><slot>` of one uniform (p = 's' for the score mod, 'm' for the
 * mask mod); tensor shapes are baked into the source (the mods' hashes, hence the key, include them).
 */
import {
  C_OP_TABLE,
  CapturedTensor,
  f32BitPattern,
  f32Text,
  packScalarBlock,
  planKernelHooks,
  renderKernelHooks,
  type HookDialect,
  type HookType,
  type ModOwner,
  type Node,
  type OpTable,
  type ParamAccess,
  type TracedMod,
} from '@flexattn/ir';
import type { WgslHooks } from './programs/hooks.js';

const isInt = (n: Node) => n.dtype === 'i32';
const srcIs = (n: Node, d: string) => n.src[0]!.dtype === d;

/** The rows WGSL spells differently from C. */
export const WGSL_OP_TABLE: OpTable = {
  ...C_OP_TABLE,
  mod: ([a, b], n) => (isInt(n) ? `flex_imod(${a}, ${b})` : `flex_fmod(${a}, ${b})`),
  floordiv: ([a, b], n) => (isInt(n) ? `flex_ifloordiv(${a}, ${b})` : `floor(${a} / ${b})`),
  pow: ([a, b]) => `flex_pow(${a}, ${b})`,
  // WGSL's min/max leave NaN and the order of ±0 to the implementation (lavapipe drops the NaN)
  min: ([a, b], n) => (isInt(n) ? `min(${a}, ${b})` : `flex_fmin(${a}, ${b})`),
  max: ([a, b], n) => (isInt(n) ? `max(${a}, ${b})` : `flex_fmax(${a}, ${b})`),
  abs: ([a]) => `abs(${a})`,
  // WGSL's sign() leaves ±0 and NaN unspecified; the selects give the ir's meaning (they pass through)
  sign: ([a], n) => (isInt(n) ? `select(select(0i, -1i, ${a} < 0i), 1i, ${a} > 0i)` : `select(select(${a}, -1.0, ${a} < 0.0), 1.0, ${a} > 0.0)`),
  // Tint emits f32 `!=` as an ordered compare (false for NaN); `!(a == b)` is the IEEE ≠ the ir means
  ne: ([a, b], n) => (srcIs(n, 'f32') ? `(!(${a} == ${b}))` : `(${a} != ${b})`),
  where: ([c, a, b]) => `select(${b}, ${a}, ${c})`,
  exp: ([a]) => `exp(${a})`,
  exp2: ([a]) => `exp2(${a})`,
  log: ([a]) => `log(${a})`,
  log2: ([a]) => `log2(${a})`,
  tanh: ([a]) => `flex_tanh(${a})`,
  tanh_approx: ([a]) => `flex_tanh(${a})`,
  sigmoid: ([a]) => `(1.0 / (1.0 + exp(-${a})))`,
  sqrt: ([a]) => `sqrt(${a})`,
  rsqrt: ([a]) => `flex_rsqrt(${a})`,
  sin: ([a]) => `sin(${a})`,
  cos: ([a]) => `cos(${a})`,
  erf: ([a]) => `flex_erf(${a})`,
  floor: ([a], n) => (isInt(n) ? a! : `floor(${a})`),
  ceil: ([a], n) => (isInt(n) ? a! : `ceil(${a})`),
  round: ([a], n) => (isInt(n) ? a! : `round(${a})`), // WGSL's round: ties to even, like the ir
  tofloat: ([a], n) => (srcIs(n, 'bool') ? `select(0.0, 1.0, ${a})` : `f32(${a})`),
  toint: ([a], n) => (srcIs(n, 'bool') ? `select(0i, 1i, ${a})` : srcIs(n, 'f32') ? `flex_f2i(${a})` : a!),
};

/** The largest |flex_erf(x) − erf(x)| measured on lavapipe (see ops.test.ts); documented in the prelude. */
export const WGSL_ERF_MAX_ERROR = 3e-7; // measured 2.74e-7 (at x ≈ 0.5, where A&S 7.1.26 takes over)

/**
 * Helpers the op rows call; semantics as in the ir's semantics.ts (x mod 0 = 0, floored modulo;
 * NaN propagates, −0 < +0 in min/max, pow is C's powf, toInt(NaN) = 0). NaN tests look at the bits:
 * WGSL lets an implementation assume there are no NaNs, and Tint's f32 `!=` is an ordered compare
 * (`x != x` is false for NaN on lavapipe). NaN and ±∞ constants come through `flex_f32_bits`: WGSL
 * has no literal for them, and a constant expression may not evaluate to one (a shader-creation
 * error), so the bits pass through a function parameter, a run-time value.
 */
export const WGSL_PRELUDE = /* wgsl */ `fn flex_f32_bits(bits: u32) -> f32 { return bitcast<f32>(bits); }
fn flex_is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn flex_imod(a: i32, b: i32) -> i32 {
  if (b == 0i) { return 0i; }
  let r = a % b;
  return select(r, r + b, r != 0i && ((r < 0i) != (b < 0i)));
}
fn flex_ifloordiv(a: i32, b: i32) -> i32 {
  if (b == 0i) { return 0i; }
  let q = a / b;
  return select(q, q - 1i, (a % b != 0i) && ((a < 0i) != (b < 0i)));
}
fn flex_fmod(a: f32, b: f32) -> f32 { return a - b * floor(a / b); }
// 754-2019 minimum/maximum: NaN wins; of equal values (±0) the bits' OR is −0 if either is, AND is +0
fn flex_fmin(a: f32, b: f32) -> f32 {
  if (flex_is_nan(a) || flex_is_nan(b)) { return flex_f32_bits(0x7fc00000u); }
  return select(min(a, b), bitcast<f32>(bitcast<u32>(a) | bitcast<u32>(b)), a == b);
}
fn flex_fmax(a: f32, b: f32) -> f32 {
  if (flex_is_nan(a) || flex_is_nan(b)) { return flex_f32_bits(0x7fc00000u); }
  return select(max(a, b), bitcast<f32>(bitcast<u32>(a) & bitcast<u32>(b)), a == b);
}
// C's powf. WGSL's pow is exp2(b·log2(a)), defined only for a > 0 (lavapipe: pow(1, ∞) = NaN,
// pow(NaN, 0) = ∞, pow(0, −1) = 0), so signs, zeros and the exact cases are done here
fn flex_pow(a: f32, b: f32) -> f32 {
  if (b == 0.0 || a == 1.0) { return 1.0; }                  // even for a NaN operand
  if (flex_is_nan(a) || flex_is_nan(b)) { return flex_f32_bits(0x7fc00000u); }
  let ab = abs(a);
  let b_int = floor(b) == b;                                   // ±∞ count as even integers
  if (ab == 1.0 && (bitcast<u32>(b) & 0x7fffffffu) == 0x7f800000u) { return 1.0; }   // (−1)^±∞
  if (a < 0.0 && !b_int && (bitcast<u32>(a) & 0x7fffffffu) < 0x7f800000u) { return flex_f32_bits(0x7fc00000u); }   // (−∞)^y is ±∞ or ±0
  let odd = b_int && abs(b) < 16777216.0 && (i32(b) & 1) == 1;
  var r = pow(ab, b);
  if (ab == 0.0) { r = select(0.0, flex_f32_bits(0x7f800000u), b < 0.0); }
  return select(r, -r, odd && (bitcast<u32>(a) >> 31u) == 1u);  // a negative base (−0 too) to an odd power
}
fn flex_rsqrt(x: f32) -> f32 { return select(inverseSqrt(x), 1.0 / x, x == 0.0); }   // 1/±0 = ±∞
// clamped: tanh of a large |x| is ∞/∞ on some drivers; the clamp alone would turn NaN into ±15
fn flex_tanh(x: f32) -> f32 { return select(tanh(clamp(x, -15.0, 15.0)), x, flex_is_nan(x)); }
// truncation saturating to the i32 range (2^31 and beyond: 2^31 − 1, which no f32 is), NaN → 0
fn flex_f2i(x: f32) -> i32 {
  if (flex_is_nan(x)) { return 0i; }
  if (x >= 2147483648.0) { return 2147483647i; }
  return i32(max(x, -2147483648.0));
}
// WGSL has no erf. |x| < 0.5: its Taylor series to x^11 (truncation < 2e-8, relative accuracy kept
// near 0); otherwise Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7). Measured against the
// float64 erf on lavapipe: max absolute error ${WGSL_ERF_MAX_ERROR} (ops.test.ts checks it).
fn flex_erf(x: f32) -> f32 {
  let ax = abs(x);
  if (ax < 0.5) {
    let x2 = x * x;
    return x * (1.1283791671 + x2 * (-0.3761263890 + x2 * (0.1128379167 + x2 * (-0.0268661706 + x2 * (0.0052239776 - x2 * 0.0008548327)))));
  }
  let t = 1.0 / (1.0 + 0.3275911 * ax);
  let p = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - p * exp(-ax * ax));
}`;

const WGSL_TYPE = { f32: 'f32', i32: 'i32', bool: 'bool' } as const;

function literal(value: number | boolean, dtype: string): string {
  if (typeof value === 'boolean' || dtype === 'bool') return value ? 'true' : 'false';
  if (dtype === 'i32') return value === -2147483648 ? '(-2147483647i - 1i)' : `${value}i`;
  // no WGSL literal for NaN and ±∞: their bits, through flex_f32_bits (a run-time value, see the
  // prelude); −0 too, as lavapipe's compiler turns the constant −0.0 into +0
  if (!Number.isFinite(value) || Object.is(value, -0)) return `flex_f32_bits(0x${f32BitPattern(value).toString(16).padStart(8, '0')}u)`;
  const t = f32Text(value);
  return t.startsWith('-') ? `(${t})` : t;
}

const letter = (owner: ModOwner) => (owner === 'score' ? 's' : 'm');
/** The binding / uniform-field name of a parameter: unique across both mods. */
const bindingName = (a: ParamAccess) => `${letter(a.owner)}${a.field.slot}`;
const dimSize = (a: ParamAccess) => (a.param as CapturedTensor).shape[a.field.dim]!;
const typeText = (t: HookType) => (typeof t === 'object' ? t.struct : WGSL_TYPE[t as keyof typeof WGSL_TYPE]);
const side = { row: 'Row', col: 'Col' } as const;

export const WGSL_DIALECT: HookDialect = {
  ops: WGSL_OP_TABLE,
  declare: (dtype, name, expr) => `let ${name}: ${WGSL_TYPE[dtype]} = ${expr};`,
  literal,
  arg: (name) => name,
  names: {
    scoreMod: 'score_mod',
    scoreModGrad: 'score_mod_grad',
    captureGrads: 'score_mod_capture_grads',
    maskMod: 'mask_mod',
    scoreModRowCol: 'score_mod_rc',
    scoreModGradRowCol: 'score_mod_grad_rc',
    maskModRowCol: 'mask_mod_rc',
    hoisted: (s, owner = 'score') => ({ struct: `Flex${side[s]}${letter(owner).toUpperCase()}`, builder: `flex_${s}_${letter(owner)}` }),
  },
  // the forward template computes the mask's column values in partial tiles only
  hoistGroups: 'per-side-and-mod',
  func: (f) => {
    const head = `fn ${f.name}(${f.params.map((p) => `${p.name}: ${typeText(p.type)}`).join(', ')})${f.returns === 'void' ? '' : ` -> ${typeText(f.returns)}`}`;
    const ret = f.result === undefined ? [] : [`return ${f.result};`];
    if (!f.body.length) return `${head} {${ret.length ? ` ${ret[0]} ` : ''}}`;
    return [`${head} {`, ...f.body, ...ret.map((r) => `  ${r}`), '}'].join('\n');
  },
  // WGSL has no empty structs
  struct: (name, fields) =>
    fields.length ? [`struct ${name} {`, ...fields.map((f) => `  ${f.name}: ${WGSL_TYPE[f.dtype]},`), '}'].join('\n') : `struct ${name} { unused: u32 }`,
  construct: (struct, values) => `${struct}(${values.length ? values.join(', ') : '0u'})`,
  param: (a) => {
    switch (a.field.role) {
      case 'scalar':
        return `S.${bindingName(a)}`;
      case 'tensor':
        return `cap_${bindingName(a)}`;
      case 'grad':
        return `capgrad_${bindingName(a)}`;
      case 'dim':
        return `${dimSize(a)}i`;
      default:
        throw new Error(`internal: no WGSL spelling for a ${a.field.role} field`);
    }
  },
  clampIndex: (index, dim) => `clamp(${index}, 0i, ${dimSize(dim) - 1}i)`,
  // an f32 compare-exchange loop over the u32 bits (captureGradDecls in programs/hooks.ts)
  atomicAdd: (grad, index, value) => `capgrad_add_${bindingName(grad)}(${index}, ${value});`,
};

/** The mods' hooks and how to bind their parameters. */
export interface RenderedMods {
  hooks: WgslHooks;
  /** captured tensors, in `hooks.captures` order */
  tensors: CapturedTensor[];
  /** scalars' values in `hooks.scalars` order */
  scalarValues(): ArrayBuffer;
}

/** Renders a score mod and a mask mod (either may be absent) into the kernel hooks. */
export function renderMods(scoreMod: TracedMod | undefined, maskMod: TracedMod | undefined): RenderedMods {
  const plan = planKernelHooks(scoreMod, maskMod);
  const h = renderKernelHooks(plan, WGSL_DIALECT);
  const hooks: WgslHooks = {
    key: plan.key,
    prelude: WGSL_PRELUDE,
    scoreMod: h.scoreMod,
    maskMod: h.maskMod,
    scoreModGrad: h.scoreModGrad,
    captureGrads: h.captureGrads,
    captures: plan.tensors.map((t) => ({ name: t.name, dtype: t.tensor.dtype, grad: t.grad })),
    scalars: plan.scalars.fields.map((f) => ({ name: f.name, dtype: f.dtype })),
    rowCol: h.rowCol.join('\n'),
    constantGrad: plan.flags.identityScore || (plan.flags.gradIsOne && !plan.flags.hasCaptureGrads),
  };
  return {
    hooks,
    tensors: plan.tensors.map((t) => t.tensor),
    scalarValues: () => packScalarBlock(plan.scalars, plan.score.captures, plan.mask.captures),
  };
}
