/**
 * The conformance cases: small problems that together cover api.md's semantics — score and mask
 * mods, captured tensors (with gradients), scalars, odd lengths, Lq ≠ Lkv, GQA, Ev ≠ E, per-batch and
 * per-head masks, fully masked rows and a custom scale. Backends, the bench and the reference's own
 * tests all draw from this one list.
 */
import { blockMaskByEvaluation, type BlockMask } from '../block-mask';
import { where } from '../expr';
import { capture, scalar } from '../params';
import type { AttentionShape } from '../kernel';
import type { BackendFeature } from '../options';
import type { DType } from '../tensor';
import type { Tolerance } from './compare';
import type { MaskMod, ScoreMod, TracedMod } from '../trace';
import { traceMaskMod } from '../trace';
import { seededRandom } from './random';

export interface ConformanceCase extends AttentionShape {
  name: string;
  scale?: number;
  /** Built fresh per use (captured tensors are part of the mod). */
  scoreMod?: () => ScoreMod | TracedMod;
  mask?: () => { mod: MaskMod; B?: number; H?: number; blockSize?: number | [number, number] };
  /** The case reads learnable captured tensors (capture gradients are checked). */
  learnable?: boolean;
  /**
   * Optional features the case exercises: 'maxScores' asks for returnAux.maxScores (checked), 'dLse'
   * passes a random dLse to the backward. A backend that does not declare a feature must reject
   * the call with an UnsupportedError instead (that is what the case then checks).
   */
  requires?: readonly BackendFeature[];
  /** Special values written into the random inputs (index: [b, h, row, column]). */
  poison?: readonly Poison[];
  /**
   * Per-dtype tolerances of this case, over the suite's (a case whose gradients are large, where one
   * rounding of a large term in a low-precision product exceeds the default absolute tolerance).
   */
  tolerance?: Partial<Record<DType, { forward?: Tolerance; backward?: Tolerance }>>;
}

export interface Poison {
  tensor: 'q' | 'k' | 'v' | 'dOut';
  index: readonly [number, number, number, number];
  value: number;
}

export type BlockMaskFactory = (mod: TracedMod, opts: { B?: number; H?: number; qLen: number; kvLen: number; blockSize?: number | [number, number] }) => BlockMask;

export function buildBlockMask(c: ConformanceCase, factory: BlockMaskFactory = blockMaskByEvaluation): BlockMask | undefined {
  if (!c.mask) return undefined;
  const m = c.mask();
  return factory(traceMaskMod(m.mod), { B: m.B, H: m.H, qLen: c.Lq, kvLen: c.Lkv, blockSize: m.blockSize ?? 16 });
}

const docIds = (L: number, seed: number, batches = 1): Int32Array => {
  const rnd = seededRandom(seed);
  const ids = new Int32Array(L * batches);
  for (let b = 0; b < batches; b++) {
    let doc = 0;
    for (let i = 0; i < L; i++) {
      if (i > 0 && rnd() < 0.12) doc++;
      ids[b * L + i] = doc;
    }
  }
  return ids;
};

export const CONFORMANCE_CASES: readonly ConformanceCase[] = [
  { name: 'noop', B: 1, Hq: 2, Hkv: 2, Lq: 16, Lkv: 16, E: 16, Ev: 16 },
  { name: 'causal, odd lengths', B: 1, Hq: 2, Hkv: 2, Lq: 37, Lkv: 37, E: 16, Ev: 16, mask: () => ({ mod: (_b, _h, q, kv) => q.ge(kv) }) },
  {
    name: 'sliding window (scalar) + causal, block 8',
    B: 2, Hq: 2, Hkv: 2, Lq: 45, Lkv: 45, E: 16, Ev: 16,
    mask: () => {
      const w = scalar(6, { dtype: 'i32', name: 'window' });
      return { mod: (_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).le(w)), blockSize: 8 };
    },
  },
  {
    name: 'alibi (captured slopes) with GQA',
    B: 1, Hq: 4, Hkv: 2, Lq: 24, Lkv: 29, E: 16, Ev: 16,
    scoreMod: () => {
      const slopes = capture(Float32Array.from([0.5, 0.25, 0.125, 0.0625]), [4], { name: 'slopes' });
      return (s, _b, h, q, kv) => s.add(slopes.at(h).mul(kv.sub(q)));
    },
  },
  { name: 'softcap (exact tanh)', B: 1, Hq: 2, Hkv: 2, Lq: 19, Lkv: 23, E: 32, Ev: 32, scale: 1.7, scoreMod: () => (s) => s.div(2).tanh().mul(2) },
  {
    // kernels divide through reciprocals (render/reciprocal.ts): a scalar's, once per row, and a constant's that is not a power of two
    name: 'softcap by a scalar cap, then a temperature constant',
    B: 1, Hq: 2, Hkv: 2, Lq: 21, Lkv: 26, E: 64, Ev: 64,
    scoreMod: () => {
      const cap = scalar(2.7, { name: 'cap' });
      return (s) => s.div(cap).tanh().mul(cap).div(0.7);
    },
  },
  { name: 'softcap (approximate tanh) + causal', B: 1, Hq: 1, Hkv: 1, Lq: 33, Lkv: 33, E: 16, Ev: 16, scoreMod: () => (s) => s.div(2).tanhApprox().mul(2), mask: () => ({ mod: (_b, _h, q, kv) => q.ge(kv) }) },
  {
    name: 'document mask (captured ids, per batch)',
    B: 2, Hq: 2, Hkv: 2, Lq: 40, Lkv: 40, E: 16, Ev: 16,
    mask: () => {
      const ids = capture(docIds(40, 7, 2), [2, 40], { name: 'docIds' });
      return { mod: (b, _h, q, kv) => ids.at(b, q).eq(ids.at(b, kv)), B: 2, blockSize: 8 };
    },
  },
  {
    name: 'learnable relative bias table',
    B: 1, Hq: 2, Hkv: 2, Lq: 21, Lkv: 26, E: 16, Ev: 16, learnable: true,
    scoreMod: () => {
      const table = capture(Float32Array.from({ length: 17 }, (_, i) => Math.sin(i) * 0.5), [17], { name: 'relTable', requiresGrad: true });
      return (s, _b, _h, q, kv) => s.add(table.at(q.sub(kv).clamp(-8, 8).add(8)));
    },
  },
  {
    name: 'learnable per-head scale (2-D table) + where',
    B: 1, Hq: 2, Hkv: 1, Lq: 12, Lkv: 18, E: 8, Ev: 8, learnable: true,
    scoreMod: () => {
      const t = capture(Float32Array.from([0.9, 1.1, 1.3, 0.7]), [2, 2], { name: 'headScale', requiresGrad: true });
      return (s, _b, h, q, kv) => where(q.ge(kv), s.mul(t.at(h, 0)), s.mul(t.at(h, 1)).sub(0.5));
    },
  },
  {
    name: 'fully masked rows',
    B: 1, Hq: 2, Hkv: 2, Lq: 20, Lkv: 20, E: 16, Ev: 16,
    mask: () => ({ mod: (_b, _h, q, kv) => q.ge(5).and(kv.le(q)), blockSize: 4 }),
  },
  {
    name: 'per-head mask, H=Hq, with score mod',
    B: 1, Hq: 3, Hkv: 3, Lq: 17, Lkv: 30, E: 16, Ev: 16,
    scoreMod: () => (s, _b, h) => s.mul(h.add(1).toFloat().mul(0.5)),
    mask: () => ({ mod: (_b, h, q, kv) => kv.mod(h.add(2)).ne(0).or(q.eq(kv)), H: 3, blockSize: [4, 8] }),
  },
  { name: 'Ev differs from E', B: 2, Hq: 2, Hkv: 2, Lq: 11, Lkv: 13, E: 24, Ev: 8 },
  {
    name: 'decode-like: Lq small, Lkv long, causal with offset, GQA',
    B: 1, Hq: 4, Hkv: 1, Lq: 3, Lkv: 150, E: 16, Ev: 16,
    mask: () => ({ mod: (_b, _h, q, kv) => q.add(147).ge(kv), blockSize: 16 }),
  },
  { name: 'head dim 64, unaligned lengths', B: 1, Hq: 1, Hkv: 1, Lq: 70, Lkv: 65, E: 64, Ev: 64, mask: () => ({ mod: (_b, _h, q, kv) => q.sub(kv).abs().le(40) }) },
  // any finite scale (PyTorch's rule): kernels that fold scale into exp2 after the row max must not
  // take the max of the unscaled scores, and 0·(−inf) of masked entries must not become NaN
  { name: 'negative scale, no score mod, causal', B: 1, Hq: 2, Hkv: 2, Lq: 21, Lkv: 21, E: 16, Ev: 16, scale: -0.6, mask: () => ({ mod: (_b, _h, q, kv) => q.ge(kv), blockSize: 8 }) },
  { name: 'zero scale (uniform weights), causal', B: 1, Hq: 1, Hkv: 1, Lq: 19, Lkv: 19, E: 16, Ev: 16, scale: 0, mask: () => ({ mod: (_b, _h, q, kv) => q.ge(kv), blockSize: 8 }) },
  // the decode kernels (split-KV) too: the shape and mask of the decode-like case above
  { name: 'negative scale, decode-like', B: 1, Hq: 4, Hkv: 1, Lq: 3, Lkv: 150, E: 16, Ev: 16, scale: -0.7, mask: () => ({ mod: (_b, _h, q, kv) => q.add(147).ge(kv), blockSize: 16 }) },
];

const base = (name: string): ConformanceCase => {
  const c = CONFORMANCE_CASES.find((x) => x.name === name);
  if (!c) throw new Error(`no conformance case '${name}'`);
  return c;
};
const withFeature = (name: string, feature: BackendFeature): ConformanceCase => ({ ...base(name), name: `${feature}: ${name}`, requires: [feature] });

/**
 * Cases of the optional features (backends declare them on `features`): run in full where declared,
 * checked to be rejected with an UnsupportedError where not. Each is an ordinary case plus the
 * feature, so a backend's kernels for it are already compiled (cheap on a software GPU in CI).
 */
export const AUX_CONFORMANCE_CASES: readonly ConformanceCase[] = [
  withFeature('fully masked rows', 'maxScores'),
  withFeature('softcap (exact tanh)', 'maxScores'),
  withFeature('learnable relative bias table', 'dLse'),
  withFeature('fully masked rows', 'dLse'),
];

const causal: ConformanceCase['mask'] = () => ({ mod: (_b, _h, q, kv) => q.ge(kv), blockSize: 4 });

/**
 * Special values (docs/architecture.md §4): an input NaN propagates to the rows that see it (it is
 * not a mask), a masked key's values never reach out, NaN and +∞ post-mod scores make their row NaN,
 * −∞ masks, `pow` follows IEEE. Compared with NaN matching NaN: a NaN where the reference has a
 * number still fails.
 */
export const SPECIAL_VALUE_CASES: readonly ConformanceCase[] = [
  { name: 'special: NaN in a query row', B: 1, Hq: 2, Hkv: 2, Lq: 12, Lkv: 12, E: 16, Ev: 16, poison: [{ tensor: 'q', index: [0, 1, 5, 3], value: NaN }] },
  {
    name: 'special: NaN in k and v at masked and visible keys (causal)',
    B: 1, Hq: 2, Hkv: 2, Lq: 14, Lkv: 14, E: 16, Ev: 16, mask: causal,
    poison: [{ tensor: 'k', index: [0, 0, 6, 2], value: NaN }, { tensor: 'v', index: [0, 1, 13, 0], value: NaN }],
  },
  {
    // the capture gradient of a learnable bias: masked keys' NaN k and v must not reach the table
    // entries only masked positions use (they stay 0), as they do not reach out, dq, dk or dv
    name: 'special: NaN in k and v at masked keys under a learnable bias (causal)',
    B: 1, Hq: 2, Hkv: 2, Lq: 14, Lkv: 14, E: 16, Ev: 16, mask: causal, learnable: true,
    poison: [{ tensor: 'k', index: [0, 0, 6, 2], value: NaN }, { tensor: 'v', index: [0, 1, 13, 0], value: NaN }],
    scoreMod: () => {
      const table = capture(Float32Array.from({ length: 27 }, (_, i) => Math.cos(i) * 0.25), [27], { name: 'biasTable', requiresGrad: true });
      return (s, _b, _h, q, kv) => s.add(table.at(q.sub(kv).add(13)));
    },
  },
  {
    name: 'special: NaN and ±Infinity constants in a score mod',
    B: 1, Hq: 2, Hkv: 2, Lq: 10, Lkv: 10, E: 16, Ev: 16,
    scoreMod: () => (s, _b, _h, q, kv) => where(q.eq(2).and(kv.eq(1)), NaN, where(q.eq(4).and(kv.eq(0)), Infinity, where(kv.eq(3), -Infinity, s))),
  },
  {
    name: 'special: pow of negative scores',
    B: 1, Hq: 1, Hkv: 1, Lq: 9, Lkv: 11, E: 16, Ev: 16,
    scoreMod: () => (s, _b, _h, q) => where(q.lt(3), s.pow(0.5), s.pow(3)),
  },
  {
    name: 'special: a score mod of −∞ for a whole row (causal)',
    B: 1, Hq: 2, Hkv: 2, Lq: 12, Lkv: 12, E: 16, Ev: 16, mask: causal,
    scoreMod: () => (s, _b, h, q) => where(q.eq(h.add(3)), -Infinity, s),
  },
  {
    name: 'special: an infinite key (±∞ scores)',
    B: 1, Hq: 1, Hkv: 1, Lq: 10, Lkv: 10, E: 16, Ev: 16,
    poison: [{ tensor: 'k', index: [0, 0, 0, 0], value: Infinity }],
  },
];

/** Options that pick a suite's cases. */
export interface CaseSelection {
  /** Cases to run (default: all). */
  filter?: (c: ConformanceCase) => boolean;
  extraCases?: readonly ConformanceCase[];
  /**
   * Cases this backend does not pass yet, by name, each with the reason naming its issue
   * (e.g. 'issue 19: WGSL spells NaN as 0.0'). They are left out of the run; an unknown name or a
   * reason without an issue number is an error, so the list cannot go stale silently.
   */
  optOut?: Readonly<Record<string, string>>;
}

/** The conformance and special-value cases (plus extras), filtered, minus the opt-outs. */
export function selectCases(opts: CaseSelection = {}): ConformanceCase[] {
  const all = [...CONFORMANCE_CASES, ...SPECIAL_VALUE_CASES, ...AUX_CONFORMANCE_CASES, ...(opts.extraCases ?? [])];
  const optOut = opts.optOut ?? {};
  for (const [name, reason] of Object.entries(optOut)) {
    if (!all.some((c) => c.name === name)) throw new Error(`optOut names no conformance case: '${name}'`);
    if (!/issue \d+/i.test(reason)) throw new Error(`optOut '${name}': the reason must name the issue that fixes it ('issue N: …'), got '${reason}'`);
  }
  return all.filter((c) => !Object.hasOwn(optOut, c.name) && (opts.filter?.(c) ?? true));
}
