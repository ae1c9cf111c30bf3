/**
 * IR → WGSL over the ir's C-style renderer base: only the op rows WGSL spells differently, the
 * dialect (types, literals, loads, scalars) and the hook wrappers are here. Each mod becomes a WGSL
 * function with a fixed signature; captured tensors become `cap_<p><slot>` storage bindings and
 * scalars fields `S.<p><slot>` of one uniform (p = 's' for the score mod, 'm' for the mask mod).
 */
import {
  C_OP_TABLE,
  CapturedTensor,
  captureGradTerms,
  f32Text,
  gradScore,
  renderCStyle,
  type CStyleDialect,
  type ModParam,
  type Node,
  type Scalar,
  type OpTable,
  type TracedMod,
} from '@flexattn/ir';
import {
  NOOP_CAPTURE_GRADS,
  NOOP_MASK_MOD,
  NOOP_SCORE_GRAD,
  NOOP_SCORE_MOD,
  type CaptureBinding,
  type ScalarBinding,
  type WgslHooks,
} from './programs/hooks.js';
import { renderRowCol } from './row-col.js';

const isInt = (n: Node) => n.dtype === 'i32';
const srcIs = (n: Node, d: string) => n.src[0]!.dtype === d;

/** The rows WGSL spells differently from C. */
export const WGSL_OP_TABLE: OpTable = {
  ...C_OP_TABLE,
  mod: ([a, b], n) => (isInt(n) ? `flex_imod(${a}, ${b})` : `flex_fmod(${a}, ${b})`),
  floordiv: ([a, b], n) => (isInt(n) ? `flex_ifloordiv(${a}, ${b})` : `floor(${a} / ${b})`),
  pow: ([a, b]) => `flex_pow(${a}, ${b})`,
  min: ([a, b]) => `min(${a}, ${b})`,
  max: ([a, b]) => `max(${a}, ${b})`,
  abs: ([a]) => `abs(${a})`,
  // WGSL's sign() leaves ±0 and NaN unspecified; the selects give the ir's meaning (they pass through)
  sign: ([a], n) => (isInt(n) ? `select(select(0i, -1i, ${a} < 0i), 1i, ${a} > 0i)` : `select(select(${a}, -1.0, ${a} < 0.0), 1.0, ${a} > 0.0)`),
  where: ([c, a, b]) => `select(${b}, ${a}, ${c})`,
  exp: ([a]) => `exp(${a})`,
  exp2: ([a]) => `exp2(${a})`,
  log: ([a]) => `log(${a})`,
  log2: ([a]) => `log2(${a})`,
  tanh: ([a]) => `flex_tanh(${a})`,
  tanh_approx: ([a]) => `flex_tanh(${a})`,
  sigmoid: ([a]) => `(1.0 / (1.0 + exp(-${a})))`,
  sqrt: ([a]) => `sqrt(${a})`,
  rsqrt: ([a]) => `inverseSqrt(${a})`,
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

/** Helpers the op rows call; semantics as in the ir's semantics.ts (x mod 0 = 0, floored modulo). */
export const WGSL_PRELUDE = /* wgsl */ `fn flex_imod(a: i32, b: i32) -> i32 {
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
fn flex_pow(a: f32, b: f32) -> f32 {
  if (a >= 0.0) { return pow(a, b); }
  let p = pow(-a, b);
  return select(p, -p, fract(b * 0.5) != 0.0);   // integer exponents of negative bases
}
fn flex_tanh(x: f32) -> f32 { return tanh(clamp(x, -15.0, 15.0)); }
fn flex_f2i(x: f32) -> i32 { return i32(clamp(x, -2147483520.0, 2147483520.0)); }
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
  if (value === Infinity) return '3.0e38'; // WGSL has no infinity literal; the kernels treat ≤ -1e30 as masked
  if (value === -Infinity) return '-3.0e38';
  if (Number.isNaN(value)) return '0.0';
  const t = f32Text(value);
  return t.startsWith('-') ? `(${t})` : t;
}

/** The WGSL dialect for one mod: its captures are `cap_<prefix><slot>`, its scalars `S.<prefix><slot>`. */
export function wgslDialect(prefix: 's' | 'm', captures: readonly ModParam[]): CStyleDialect {
  return {
    ops: WGSL_OP_TABLE,
    declare: (dtype, name, expr) => `  let ${name}: ${WGSL_TYPE[dtype]} = ${expr};`,
    literal,
    arg: (name) => name,
    scalar: (a) => `S.${prefix}${a.slot}`,
    load: (a, indices) => {
      const t = captures[a.slot] as CapturedTensor;
      const terms = indices.map((x, i) => {
        const idx = `clamp(${x}, 0i, ${t.shape[i]! - 1}i)`;
        return t.strides[i] === 1 ? idx : `${idx} * ${t.strides[i]}i`;
      });
      return `cap_${prefix}${a.slot}[${terms.join(' + ')}]`;
    },
  };
}

function flatIndex(t: CapturedTensor, indices: readonly string[]): string {
  return indices
    .map((x, i) => {
      const idx = `clamp(${x}, 0i, ${t.shape[i]! - 1}i)`;
      return t.strides[i] === 1 ? idx : `${idx} * ${t.strides[i]}i`;
    })
    .join(' + ');
}

function fn(signature: string, mod: TracedMod, root: Node, prefix: 's' | 'm', vp: string): string {
  const body = renderCStyle([root], wgslDialect(prefix, mod.captures), vp);
  return `${signature} {\n${body.lines.join('\n')}${body.lines.length ? '\n' : ''}  return ${body.results[0]};\n}`;
}

function bindings(mod: TracedMod | undefined, prefix: 's' | 'm') {
  const caps: CaptureBinding[] = [];
  const scalars: ScalarBinding[] = [];
  mod?.captures.forEach((c, slot) => {
    if (c instanceof CapturedTensor) {
      caps.push({ name: `${prefix}${slot}`, dtype: c.dtype, grad: prefix === 's' && c.requiresGrad });
    } else scalars.push({ name: `${prefix}${slot}`, dtype: c.dtype });
  });
  return { caps, scalars };
}

/** The mod's runtime parameters in binding order (tensors, then scalars by the same order as the hooks). */
export interface RenderedMods {
  hooks: WgslHooks;
  /** captured tensors, in `hooks.captures` order */
  tensors: CapturedTensor[];
  /** scalars' values in `hooks.scalars` order */
  scalarValues(): ArrayBuffer;
}

/** Renders a score mod and a mask mod (either may be absent) into the kernel hooks. */
export function renderMods(scoreMod: TracedMod | undefined, maskMod: TracedMod | undefined): RenderedMods {
  const sig = 'score: f32, b: i32, h: i32, q: i32, kv: i32';
  let scoreText = NOOP_SCORE_MOD;
  let gradText = NOOP_SCORE_GRAD;
  let capGradText = NOOP_CAPTURE_GRADS;
  if (scoreMod) {
    scoreText = fn(`fn score_mod(${sig}) -> f32`, scoreMod, scoreMod.root, 's', 'v');
    const g = gradScore(scoreMod);
    gradText = fn(`fn score_mod_grad(${sig}) -> f32`, g, g.root, 's', 'g');
    const terms = captureGradTerms(scoreMod);
    if (terms.length) {
      const body = renderCStyle(terms.flatMap((t) => [...t.indices, t.partial]), wgslDialect('s', scoreMod.captures), 'c');
      const adds: string[] = [];
      let r = 0;
      for (const t of terms) {
        const idx = body.results.slice(r, r + t.indices.length);
        const partial = body.results[r + t.indices.length]!;
        r += t.indices.length + 1;
        adds.push(`  capgrad_add_s${t.slot}(${flatIndex(t.tensor, idx)}, dpost * ${partial});`);
      }
      capGradText = `fn score_mod_capture_grads(dpost: f32, ${sig}) {\n${body.lines.join('\n')}\n${adds.join('\n')}\n}`;
    }
  }
  const maskText = maskMod ? fn('fn mask_mod(b: i32, h: i32, q: i32, kv: i32) -> bool', maskMod, maskMod.root, 'm', 'w') : NOOP_MASK_MOD;
  const s = bindings(scoreMod, 's');
  const m = bindings(maskMod, 'm');
  const tensors = [
    ...(scoreMod?.captures.filter((c): c is CapturedTensor => c instanceof CapturedTensor) ?? []),
    ...(maskMod?.captures.filter((c): c is CapturedTensor => c instanceof CapturedTensor) ?? []),
  ];
  const scalarParams = [...(scoreMod?.captures ?? []), ...(maskMod?.captures ?? [])].filter((c): c is Scalar => !(c instanceof CapturedTensor));
  const shapes = tensors.map((t) => t.shape.join('x')).join(',');
  const hooks: WgslHooks = {
    key: `${scoreMod?.hash ?? 'id'}/${maskMod?.hash ?? 'all'}/${shapes}`,
    prelude: WGSL_PRELUDE,
    scoreMod: scoreText,
    maskMod: maskText,
    scoreModGrad: gradText,
    captureGrads: capGradText,
    captures: [...s.caps, ...m.caps],
    scalars: [...s.scalars, ...m.scalars],
    rowCol: renderRowCol(scoreMod, maskMod, wgslDialect),
  };
  return {
    hooks,
    tensors,
    scalarValues() {
      const buf = new ArrayBuffer(Math.max(16, Math.ceil((scalarParams.length * 4) / 16) * 16));
      const f = new Float32Array(buf);
      const i = new Int32Array(buf);
      scalarParams.forEach((p, k) => {
        if (p.dtype === 'i32') i[k] = p.value;
        else f[k] = p.value;
      });
      return buf;
    },
  };
}
