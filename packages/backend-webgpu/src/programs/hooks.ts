/**
 * The contract between generated mod code and the kernel templates. The functions are rendered by
 * ir's hook assembler (renderKernelHooks) in WGSL's dialect (../renderer.ts); this file holds what
 * the templates see of them, the binding declarations, and the identity hooks the templates' own
 * tests start from.
 *
 * A mod arrives as WGSL functions with fixed signatures:
 *   fn score_mod(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32
 *   fn mask_mod(b: i32, h: i32, q: i32, kv: i32) -> bool
 *   fn score_mod_grad(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32      (backward)
 *   fn score_mod_capture_grads(dpost: f32, score: f32, b: i32, h: i32, q: i32, kv: i32)  (backward)
 * Captured tensors are read-only storage bindings `cap_<name>` in bind group 1 (binding 1..n);
 * scalars are fields of the uniform `S` (group 1, binding 0), so new values reuse the pipeline.
 * Gradients of captured tensors are `array<atomic<u32>>` bindings `capgrad_<name>` in group 2,
 * added to with `capgrad_add_<name>(index: i32, value: f32)` (a compare-exchange loop on f32 bits).
 */
export type HookDType = 'f32' | 'i32';

export interface CaptureBinding {
  name: string;
  dtype: HookDType;
  /** receives gradients in backward (`capgrad_<name>`) */
  grad: boolean;
}

export interface ScalarBinding {
  name: string;
  dtype: HookDType;
}

export interface WgslHooks {
  /** cache key: equal keys mean equal WGSL */
  key: string;
  /** helper functions the mods call (flex_imod, …); may be empty */
  prelude?: string;
  scoreMod: string;
  maskMod: string;
  scoreModGrad: string;
  captureGrads: string;
  captures: readonly CaptureBinding[];
  scalars: readonly ScalarBinding[];
  /**
   * ∂score′/∂score is a finite constant (no score mod, or score + f(b, h, q, kv)) and no captured
   * tensor takes a gradient: in the backward, a −∞ post's weight p = +0 then makes dpost and every
   * term after it exactly 0 wherever the operands are finite, with no test. Absent: false (the
   * backward zeroes a −∞ post's dscore with a select).
   */
  constantGrad?: boolean;
  /**
   * The forward kernel's row/column split of the same mods (the contract: see PLAIN_ROW_COL);
   * absent: PLAIN_ROW_COL, which calls score_mod / mask_mod per element.
   */
  rowCol?: string;
}

/**
 * What `WgslHooks.rowCol` defines (the row/column form, `_rc`): the parts of a mod that depend only
 * on (b, h, q) are computed once per query row (`flex_row_*`), those of (b, h, kv) only once per key
 * column per tile (`flex_col_*`), and the `_rc` forms take both instead of recomputing them. A
 * document mask `doc[q] == doc[kv]` then reads its table once per row and once per column instead
 * of twice per element. The score mod's values are planned with its derivative (ir's plan).
 *   struct FlexRowS, FlexRowM, FlexColS, FlexColM   (s: score mod, m: mask mod; never empty)
 *   fn flex_row_s(b: i32, h: i32, q: i32) -> FlexRowS       fn flex_row_m(…) -> FlexRowM
 *   fn flex_col_s(b: i32, h: i32, kv: i32) -> FlexColS      fn flex_col_m(…) -> FlexColM
 *   fn score_mod_rc(score: f32, b: i32, h: i32, q: i32, kv: i32, rs: FlexRowS, cs: FlexColS) -> f32
 *   fn score_mod_grad_rc(…same…) -> f32                     (for a backward template that hoists)
 *   fn mask_mod_rc(b: i32, h: i32, q: i32, kv: i32, rm: FlexRowM, cm: FlexColM) -> bool
 * Column values take the query head h: kernels whose rows have different heads use PLAIN_ROW_COL.
 * PLAIN_ROW_COL itself is the form with nothing hoisted (per element, as score_mod / mask_mod).
 */
export const PLAIN_ROW_COL = /* wgsl */ `struct FlexRowS { unused: u32 }
struct FlexRowM { unused: u32 }
struct FlexColS { unused: u32 }
struct FlexColM { unused: u32 }
fn flex_row_s(b: i32, h: i32, q: i32) -> FlexRowS { return FlexRowS(0u); }
fn flex_row_m(b: i32, h: i32, q: i32) -> FlexRowM { return FlexRowM(0u); }
fn flex_col_s(b: i32, h: i32, kv: i32) -> FlexColS { return FlexColS(0u); }
fn flex_col_m(b: i32, h: i32, kv: i32) -> FlexColM { return FlexColM(0u); }
fn score_mod_rc(score: f32, b: i32, h: i32, q: i32, kv: i32, rs: FlexRowS, cs: FlexColS) -> f32 { return score_mod(score, b, h, q, kv); }
fn mask_mod_rc(b: i32, h: i32, q: i32, kv: i32, rm: FlexRowM, cm: FlexColM) -> bool { return mask_mod(b, h, q, kv); }`;

/** The identity hooks (what the renderer gives for no score mod / no mask), for hand-written test hooks. */
export const NOOP_SCORE_MOD = /* wgsl */ `fn score_mod(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 { return score; }`;
export const NOOP_MASK_MOD = /* wgsl */ `fn mask_mod(b: i32, h: i32, q: i32, kv: i32) -> bool { return true; }`;
export const NOOP_SCORE_GRAD = /* wgsl */ `fn score_mod_grad(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 { return 1.0; }`;
export const NOOP_CAPTURE_GRADS = /* wgsl */ `fn score_mod_capture_grads(dpost: f32, score: f32, b: i32, h: i32, q: i32, kv: i32) {}`;

/** The bind group 1 declarations (scalars uniform + captured tensors). Empty when the mod has none. */
export function captureDecls(h: WgslHooks): string {
  const out: string[] = [];
  if (h.scalars.length) {
    out.push(`struct Scalars {\n${h.scalars.map((s) => `  ${s.name}: ${s.dtype},`).join('\n')}\n}`);
    out.push('@group(1) @binding(0) var<uniform> S: Scalars;');
  }
  h.captures.forEach((c, i) => {
    out.push(`@group(1) @binding(${i + 1}) var<storage, read> cap_${c.name}: array<${c.dtype}>;`);
  });
  return out.join('\n');
}

/** Group 2: gradient accumulators of captured tensors that require grad. */
export function captureGradDecls(h: WgslHooks): string {
  return h.captures
    .filter((c) => c.grad)
    .map(
      (c, i) => `@group(2) @binding(${i}) var<storage, read_write> capgrad_${c.name}: array<atomic<u32>>;
fn capgrad_add_${c.name}(i: i32, v: f32) {
  var old = atomicLoad(&capgrad_${c.name}[i]);
  loop {
    let r = atomicCompareExchangeWeak(&capgrad_${c.name}[i], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}`,
    )
    .join('\n');
}

export function hasCaptureGroup(h: WgslHooks): boolean {
  return h.scalars.length > 0 || h.captures.length > 0;
}

/** `n` copies of a statement, `i` substituted: the kernels unroll their register tiles with it. */
export function unroll(n: number, f: (i: number) => string, sep = '\n'): string {
  return Array.from({ length: n }, (_, i) => f(i)).join(sep);
}

/**
 * Masking and special values in the kernels (docs/architecture.md §4), made explicit rather than
 * left to a finite stand-in: a masked score is −∞, and "nothing visible yet" is a running max of
 * exactly −∞ (a finite −3e38 / "≤ −1e30" before, which took a row of NaN scores, or of genuine
 * scores below −1e30, for an empty row). NaN and +∞ scores are not tested for per element: they
 * reach l (exp(NaN) and exp(∞ − ∞) are NaN) and from there out and lse, so their row is NaN at no
 * cost to the common path. Tests on special values look at the bits, as WGSL lets an implementation
 * assume there are no NaNs or infinities (and Tint's `!=` is an ordered compare).
 */
export const WGSL_CONSTS = /* wgsl */ `
const NEG_INF_BITS: u32 = 0xff800000u;
// −∞: WGSL has no ∞ literal and a constant expression may not produce one; a let's value is a run-time one
fn neg_inf() -> f32 { let bits = NEG_INF_BITS; return bitcast<f32>(bits); }
// what a running max m is subtracted as: m, or 0 while nothing is visible (m = −∞), so that
// exp(−∞ − 0) = 0 instead of exp(−∞ + ∞) = NaN; NaN and +∞ pass (their row is NaN)
fn max_shift(m: f32) -> f32 { return select(m, 0.0, bitcast<u32>(m) == NEG_INF_BITS); }
// l = Σ exp(post − max) over the visible keys is +0 exactly when there were none; NaN counts as seen
fn seen(l: f32) -> bool { return bitcast<u32>(l) != 0u; }
// neither ±∞ nor NaN
fn is_finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
// a vec4 holding ±∞ or NaN
fn non_finite4(x: vec4<f32>) -> bool { return any((bitcast<vec4<u32>>(x) & vec4<u32>(0x7f800000u)) == vec4<u32>(0x7f800000u)); }
// p·v, or 0 where the weight p is +0 (a masked key, a −∞ score, an underflowed weight): a masked
// key's v is never read into out, where 0·NaN and 0·∞ would be NaN
fn weighted(p: f32, v: vec4<f32>) -> vec4<f32> { return select(p * v, vec4<f32>(0.0), bitcast<u32>(p) == 0u); }`;
