/**
 * Division by a constant or a runtime scalar, in the per-element hooks, becomes multiplication by
 * the divisor's reciprocal: softcap's `score / cap` costs a multiply per score instead of a
 * division (on CUDA `div.full.f32` is a MUFU.RCP and a multiply per element; H100 session 14:
 * softcap's forward ×1.12 faster with the multiply). A scalar's reciprocal is a row value of the
 * hoist plan, computed once per query row; a constant's is folded here.
 *
 * Only divisions of values that depend on the score are rewritten: those are the per-element
 * ones, and they carry the kernels' floating-point tolerance already (the score is a bf16/f16/f32
 * GEMM result), so x·(1/c) and x/c — at most an ulp or two apart — are the same answer. A
 * division of indices only (a mask's `q / 3 <= kv`) is left exact: a flipped comparison there
 * would be a wrong mask, not a rounding.
 *
 * The rewrite keeps the full range only where 1/c is a normal f32: constants are rewritten only
 * then, and a scalar divisor's slot is reported (`reciprocalScalars`): a value outside [2⁻¹²⁶, 2¹²⁶]
 * in magnitude (0 and ±∞ are exact) is refused with a typed error when a call is resolved, before
 * any GPU work (`checkReciprocalScalars`), and again by the parameter packers.
 */
import { OptionError } from '../errors';
import { Node, topoOrder } from '../node';
import type { Scalar } from '../params';
import { constNode } from '../simplify';
import type { TracedMod } from '../trace';
import { argDependence } from './hoist';

const SCORE_BIT = 1;
const MIN_NORMAL = 2 ** -126;
const MAX_SAFE = 2 ** 126;

/** True where x·(1/v) equals x/v to within rounding for every finite x: v is 0, ±∞, or |v| within [2⁻¹²⁶, 2¹²⁶] (as f32). */
export function isReciprocalSafe(v: number): boolean {
  const f = Math.abs(Math.fround(v));
  return f === 0 || f === Infinity || (f >= MIN_NORMAL && f <= MAX_SAFE);
}

export interface ReciprocalRewrite {
  /** The roots, in order, with divisions by constants and scalars rewritten. */
  roots: Node[];
  /** Slots of the scalars now used through their reciprocal (their values must be reciprocal-safe). */
  reciprocalScalars: ReadonlySet<number>;
}

/** Rewrites score-dependent f32 divisions by a constant or a scalar into multiplications by its reciprocal. */
export function divisionsAsReciprocals(roots: readonly Node[]): ReciprocalRewrite {
  const deps = argDependence(roots);
  const mapped = new Map<Node, Node>();
  const reciprocalScalars = new Set<number>();
  const one = constNode(1, 'f32');
  for (const n of topoOrder(roots)) {
    const src = n.src.map((s) => mapped.get(s)!);
    let out: Node | undefined;
    if (n.op === 'div' && n.dtype === 'f32' && (deps.get(n.src[0]!)! & SCORE_BIT) !== 0) {
      const d = n.src[1]!;
      const c = d.arg as number;
      // 0 and ±∞ divide exactly as they are: only a finite, nonzero constant gains
      if (d.op === 'const' && c !== 0 && Number.isFinite(c) && isReciprocalSafe(c)) {
        out = Node.make('mul', 'f32', [src[0]!, constNode(Math.fround(1 / Math.fround(c)), 'f32')]);
      } else if (d.op === 'scalar' && d.dtype === 'f32') {
        reciprocalScalars.add((d.arg as { slot: number }).slot);
        out = Node.make('mul', 'f32', [src[0]!, Node.make('div', 'f32', [one, d])]);
      }
    }
    mapped.set(n, out ?? (src.every((s, i) => s === n.src[i]) ? n : Node.make(n.op, n.dtype, src, n.arg)));
  }
  return { roots: roots.map((r) => mapped.get(r)!), reciprocalScalars };
}

/** A scalar's value, refused (OptionError naming the range) when the kernels cannot divide by it through its reciprocal. */
export function reciprocalScalarValue(c: Scalar): number {
  const v = c.value;
  if (!isReciprocalSafe(v)) {
    throw new OptionError(`scalar ${c.name} = ${v}: the score mod divides by it, which the kernels compute as a multiplication by its f32 reciprocal; use a value of magnitude within [2^-126, 2^126] (about 1.2e-38 to 8.5e37), or 0 or ±Infinity`);
  }
  return v;
}

const scalarSlots = new WeakMap<TracedMod, ReadonlySet<number>>();

/** Checks the current values of the scalars a score mod divides the score by (the rewrite above). */
export function checkReciprocalScalars(mod: TracedMod): void {
  let slots = scalarSlots.get(mod);
  if (!slots) {
    slots = divisionsAsReciprocals([mod.root]).reciprocalScalars;
    scalarSlots.set(mod, slots);
  }
  for (const slot of slots) reciprocalScalarValue(mod.captures[slot] as Scalar);
}
