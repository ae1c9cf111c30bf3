import type { Expr, Scalar } from '@flexattn/ir';
import { ModOptionError } from '../errors';
import { defineMaskMod, notAnExpr, param, show, type TunableMaskMod } from '../params';

const MOD = 'neighborhood2d';

export interface Neighborhood2dOptions {
  /** Grid rows. */
  height: number;
  /** Grid columns; token t sits at row ⌊t / width⌋, column t mod width. */
  width: number;
  /** [kh, kw]: odd kernel sizes along rows and columns. */
  kernel: readonly [number, number];
  /** [dh, dw], default [1, 1]. */
  dilation?: readonly [number, number];
}
export type Neighborhood2dMask = TunableMaskMod<{ height: Scalar; width: Scalar; kernelH: Scalar; kernelW: Scalar; dilationH: Scalar; dilationW: Scalar }>;

/** One axis: same residue mod d, and within k/2 of the query's clamped centre in the sub-grid. */
function axis(qc: Expr, kc: Expr, size: Scalar, k: Scalar, d: Scalar): Expr {
  const r = qc.mod(d);
  const n = size.expr().sub(r).sub(1).floorDiv(d).add(1); // length of residue class r
  const half = k.expr().floorDiv(2);
  const centre = qc.floorDiv(d).clamp(half, n.sub(1).sub(half));
  return kc.mod(d).eq(r).and(centre.sub(kc.floorDiv(d)).abs().le(half));
}

/**
 * Neighborhood attention over an H×W token grid (NATTEN): token `t` sits at (⌊t/W⌋, t mod W),
 * row-major. Along each axis (size n, kernel k odd, dilation d) a query at coordinate i sees the k
 * keys j with `j ≡ i (mod d)` whose index in that residue class lies within ⌊k/2⌋ of the query's
 * window centre, where the centre is the query's own index clamped to [⌊k/2⌋, n_r − 1 − ⌊k/2⌋]
 * (n_r = the class's length): windows are shifted, never shrunk, at the edges — exactly NATTEN's
 * window-start rule. A key must pass both axes; tokens at t ≥ H·W (padding) see and are seen by
 * nothing.
 *
 * All sizes are i32 scalars (tunable); need k·d ≤ size on each axis. Sources: "Neighborhood
 * Attention Transformer" (Hassani et al., 2023), "Dilated Neighborhood Attention Transformer"
 * (Hassani & Shi, 2022); the NATTEN library.
 *
 * ```ts
 * const m = neighborhood2d({ height: 32, width: 32, kernel: [7, 7], dilation: [2, 2] });
 * ```
 */
export function neighborhood2d(options: Neighborhood2dOptions): Neighborhood2dMask {
  notAnExpr(MOD, options);
  if (typeof options !== 'object' || options === null) throw new ModOptionError(MOD, 'options', 'must be { height, width, kernel: [kh, kw], dilation?: [dh, dw] }');
  const { height, width, kernel, dilation = [1, 1] } = options;
  if (!Array.isArray(kernel) || kernel.length !== 2) throw new ModOptionError(MOD, 'kernel', `must be [kh, kw], got ${show(kernel)}`);
  if (!Array.isArray(dilation) || dilation.length !== 2) throw new ModOptionError(MOD, 'dilation', `must be [dh, dw], got ${show(dilation)}`);
  const H = param(MOD, 'height', height, { dtype: 'i32', min: 1 });
  const W = param(MOD, 'width', width, { dtype: 'i32', min: 1 });
  const kh = param(MOD, 'kernel[0]', kernel[0], { dtype: 'i32', min: 1, odd: true });
  const kw = param(MOD, 'kernel[1]', kernel[1], { dtype: 'i32', min: 1, odd: true });
  const dh = param(MOD, 'dilation[0]', dilation[0], { dtype: 'i32', min: 1 });
  const dw = param(MOD, 'dilation[1]', dilation[1], { dtype: 'i32', min: 1 });
  if (kernel[0] * dilation[0] > height) throw new ModOptionError(MOD, 'kernel', `kernel[0]·dilation[0] = ${kernel[0] * dilation[0]} exceeds height = ${height}`);
  if (kernel[1] * dilation[1] > width) throw new ModOptionError(MOD, 'kernel', `kernel[1]·dilation[1] = ${kernel[1] * dilation[1]} exceeds width = ${width}`);
  return defineMaskMod(
    MOD,
    (_b, _h, q, kv) => {
      const n = H.expr().mul(W);
      const rows = axis(q.floorDiv(W), kv.floorDiv(W), H, kh, dh);
      const cols = axis(q.mod(W), kv.mod(W), W, kw, dw);
      return q.lt(n).and(kv.lt(n)).and(rows).and(cols);
    },
    { height: H, width: W, kernelH: kh, kernelW: kw, dilationH: dh, dilationW: dw },
  );
}
