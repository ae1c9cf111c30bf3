/**
 * Random attention problems for the fuzz suite, as plain data (a `ProblemSpec`: shapes, dtype,
 * seeds, which mod of a small family with which parameter, block sizes, special values) so fast-check
 * can shrink them and print a failing one readably; `buildProblem` turns a spec into tensors and
 * options. fast-check is passed in (it is an optional peer dependency, loaded only under vitest).
 */
import type * as FastCheck from 'fast-check';
import { argsRead } from '../args-read';
import { blockMaskByEvaluation } from '../block-mask';
import { where } from '../expr';
import type { AttentionShape, FlexAttentionOptions } from '../kernel';
import { capture, scalar } from '../params';
import type { DType, Tensor } from '../tensor';
import { fromFloats } from '../tensor';
import { type MaskMod, type ScoreMod, traceMaskMod, traceScoreMod } from '../trace';
import { randomNormal, randomTensor, seededRandom } from './random';

type FC = typeof FastCheck;

export interface ProblemSpec extends AttentionShape {
  /** 1 when kvShared, else B. */
  kvBatch: number;
  dtype: DType;
  seed: number;
  /** Standard deviation of q, k and v (large values make one-hot rows). */
  std: number;
  /** Undefined: the default 1/sqrt(E). */
  scale?: number;
  /** Index into SCORE_FAMILY, and the family's parameter. */
  score: number;
  scoreParam: number;
  /** Index into MASK_FAMILY (0: no block mask), its parameter, block size and broadcast. */
  mask: number;
  maskParam: number;
  blockSize: [number, number];
  maskPerBatch: boolean;
  maskPerHead: boolean;
  /** One K/V for every query batch (k/v of batch 1, a paged KV cache's layout). */
  kvShared: boolean;
  /** Special values written into the inputs: tensor, flat index (taken modulo its size), value. */
  poison: { tensor: 'q' | 'k' | 'v' | 'dOut'; at: number; value: number }[];
}

/** Score mods: index → a mod of one float parameter p (0 is no score mod). */
export const SCORE_FAMILY: readonly ((p: number, seed: number) => ScoreMod | undefined)[] = [
  () => undefined,
  (p) => (s) => s.mul(p),
  (p) => (s, _b, _h, q, kv) => s.add(kv.sub(q).toFloat().mul(p)),
  (p) => (s) => s.div(1 + Math.abs(p) * 4).tanh().mul(1 + Math.abs(p) * 4),
  (p) => (s, _b, _h, q, kv) => where(q.ge(kv), s, s.mul(p)),
  (_p, seed) => {
    const table = capture(randomNormal(9, seed), [9], { name: 'relBias' });
    return (s, _b, _h, q, kv) => s.add(table.at(q.sub(kv).clamp(-4, 4).add(4)));
  },
  (p) => (s, _b, h) => s.mul(h.add(1).toFloat().mul(p)),
  (p) => {
    const bias = scalar(p, { name: 'bias' });
    return (s) => s.add(bias);
  },
];

/** Mask mods: index → a mod of one integer parameter p (0 is no block mask). */
export const MASK_FAMILY: readonly ((p: number, spec: ProblemSpec) => MaskMod | undefined)[] = [
  () => undefined,
  () => (_b, _h, q, kv) => q.ge(kv),
  (p) => (_b, _h, q, kv) => q.sub(kv).abs().le(p),
  (p) => (_b, _h, q, kv) => kv.le(p).or(q.ge(kv)),
  (_p, spec) => {
    const L = Math.max(spec.Lq, spec.Lkv);
    const rnd = seededRandom(spec.seed + 5);
    let doc = 0;
    const ids = Int32Array.from({ length: L }, (_, i) => (i > 0 && rnd() < 0.3 ? ++doc : doc));
    const t = capture(ids, [L], { name: 'docIds' });
    return (_b, _h, q, kv) => t.at(q).eq(t.at(kv));
  },
  () => (_b, h, q, kv) => kv.mod(h.add(2)).ne(0).or(q.eq(kv)),
  (p) => (_b, _h, q, kv) => q.ge(p).and(kv.le(q)), // rows below p see nothing
  (_p, spec) => (_b, _h, q, kv) => q.add(spec.Lkv - spec.Lq).ge(kv),
];

/** A random valid problem; `special` adds NaN/±Infinity to the inputs now and then. */
export function problemSpec(fc: FC, o: { dtypes: readonly DType[]; special: boolean; kvShared: boolean; maxLen?: number }): FastCheck.Arbitrary<ProblemSpec> {
  const maxLen = o.maxLen ?? 20;
  return fc
    .record({
      B: fc.integer({ min: 1, max: 2 }),
      Hkv: fc.integer({ min: 1, max: 2 }),
      group: fc.integer({ min: 1, max: 3 }),
      Lq: fc.integer({ min: 1, max: maxLen }),
      Lkv: fc.integer({ min: 1, max: maxLen }),
      E: fc.integer({ min: 1, max: 16 }),
      Ev: fc.integer({ min: 1, max: 16 }),
      dtype: fc.constantFrom(...o.dtypes),
      seed: fc.integer({ min: 1, max: 1 << 30 }),
      std: fc.constantFrom(0.3, 1, 3, 10),
      scale: fc.option(fc.double({ min: 0.05, max: 3, noNaN: true }), { nil: undefined }),
      score: fc.integer({ min: 0, max: SCORE_FAMILY.length - 1 }),
      scoreParam: fc.double({ min: -2, max: 2, noNaN: true }),
      mask: fc.integer({ min: 0, max: MASK_FAMILY.length - 1 }),
      maskParam: fc.integer({ min: 0, max: 8 }),
      blockSize: fc.tuple(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 8 })),
      maskPerBatch: fc.boolean(),
      maskPerHead: fc.boolean(),
      kvShared: o.kvShared ? fc.boolean() : fc.constant(false),
      poison: o.special
        ? fc.array(fc.record({ tensor: fc.constantFrom('q' as const, 'k' as const, 'v' as const, 'dOut' as const), at: fc.nat(), value: fc.constantFrom(NaN, Infinity, -Infinity) }), { maxLength: 2 })
        : fc.constant<ProblemSpec['poison']>([]),
    })
    .map(({ group, ...r }) => ({ ...r, Hq: r.Hkv * group, kvBatch: r.kvShared ? 1 : r.B }));
}

export interface Problem {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  dOut: Tensor;
  options: FlexAttentionOptions;
}

/** The tensors and options of a spec (fresh mods: captured tensors belong to one problem). */
export function buildProblem(spec: ProblemSpec): Problem {
  const t = (shape: number[], seed: number, std: number) => randomTensor(shape, spec.dtype, seed, std);
  const x = {
    q: t([spec.B, spec.Hq, spec.Lq, spec.E], spec.seed, spec.std),
    k: t([spec.kvBatch, spec.Hkv, spec.Lkv, spec.E], spec.seed + 1, spec.std),
    v: t([spec.kvBatch, spec.Hkv, spec.Lkv, spec.Ev], spec.seed + 2, spec.std),
    dOut: t([spec.B, spec.Hq, spec.Lq, spec.Ev], spec.seed + 3, 1),
  };
  for (const p of spec.poison) {
    const target = x[p.tensor];
    target.data[p.at % target.data.length] = fromFloats([p.value], [1], spec.dtype).data[0]!;
  }
  const score = SCORE_FAMILY[spec.score]!(spec.scoreParam, spec.seed);
  const mask = MASK_FAMILY[spec.mask]!(spec.maskParam, spec);
  const options: FlexAttentionOptions = { scale: spec.scale, enableGqa: spec.Hq !== spec.Hkv };
  if (score) options.scoreMod = traceScoreMod(score);
  if (mask) {
    const traced = traceMaskMod(mask);
    // a mask shared across batches / heads (B or H of 1) is valid only when its mod does not read b / h
    const reads = argsRead(traced);
    options.blockMask = blockMaskByEvaluation(traced, {
      B: spec.maskPerBatch || reads.b ? spec.B : 1, H: spec.maskPerHead || reads.h ? spec.Hq : 1, qLen: spec.Lq, kvLen: spec.Lkv, blockSize: spec.blockSize,
    });
  }
  return { ...x, options };
}
