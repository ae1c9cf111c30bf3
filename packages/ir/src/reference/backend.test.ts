/**
 * The reference backend against definitions written independently: the dense float64 definition of
 * testing/dense.ts (forward) and central finite differences of the reference's forward (backward). Mods are given twice — as a
 * traced mod for the backend and as plain JS for the definition — so the IR is not its own judge.
 */
import { describe, expect, it } from 'vitest';
import { blockMaskByEvaluation, EMPTY, FULL, PARTIAL, TableBlockMask } from '../block-mask';
import type { Expr } from '../expr';
import { where } from '../expr';
import type { AttentionShape, FlexAttentionOptions } from '../kernel';
import { capture, scalar } from '../params';
import type { Tensor } from '../tensor';
import { CONFORMANCE_CASES } from '../testing/cases';
import { denseForward64 } from '../testing/dense';
import { attentionTensors, caseInputs } from '../testing/inputs';
import { compileToJs } from '../evaluate';
import { randomNormal, randomTensor } from '../random';
import { traceMaskMod, traceScoreMod, type MaskMod, type ScoreMod } from '../trace';
import { createReferenceBackend } from './backend';
import { numericGradient } from './finite-differences.test-helpers';

type JsScore = (s: number, b: number, h: number, q: number, kv: number) => number;
type JsMask = (b: number, h: number, q: number, kv: number) => boolean;

type Dims = AttentionShape;

/** The definition (testing/dense.ts) with this file's plain-JS mods and optional block classes. */
function denseAttention(
  d: Dims,
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  o: { scale?: number; score?: JsScore; mask?: JsMask; blockClass?: (b: number, h: number, i: number, j: number) => number } = {},
) {
  const visible = (b: number, h: number, i: number, j: number) => {
    // Without block classes the element mask decides everywhere (every block partial).
    const cls = o.blockClass ? o.blockClass(b, h, i, j) : o.mask ? PARTIAL : FULL;
    return cls === FULL || (cls === PARTIAL && (o.mask ? o.mask(b, h, i, j) : true));
  };
  return denseForward64(d, q, k, v, { scale: o.scale, score: o.score, visible });
}

const f32 = (shape: number[], seed: number, std = 1): Tensor => randomTensor(shape, 'f32', seed, std);

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number, what: string) {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Object.is(a, e) || (a === e)) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) expect.fail(`${what}[${i}]: got ${a}, expected ${e}`);
  }
}

interface FwdCase {
  name: string;
  d: Dims;
  scale?: number;
  score?: [ScoreMod, JsScore];
  mask?: [MaskMod, JsMask, { B?: number; H?: number; blockSize: number | [number, number] }];
}

const slopes = [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625];
const docs = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 5, 6];
const docsB1 = [0, 1, 1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5];

const FORWARD_CASES: FwdCase[] = [
  { name: 'no mods, Ev ≠ E, odd lengths, B = 2', d: { B: 2, Hq: 2, Hkv: 2, Lq: 7, Lkv: 9, E: 5, Ev: 3 } },
  { name: 'custom scale', d: { B: 1, Hq: 1, Hkv: 1, Lq: 5, Lkv: 6, E: 4, Ev: 4 }, scale: 0.9 },
  {
    name: 'GQA (6 query heads on 2 kv heads) with alibi from a captured slope table',
    d: { B: 1, Hq: 6, Hkv: 2, Lq: 6, Lkv: 11, E: 4, Ev: 6 },
    score: [
      (() => {
        const t = capture(Float32Array.from(slopes), [6]);
        return (s: Expr, _b: Expr, h: Expr, q: Expr, kv: Expr) => s.add(t.at(h).mul(kv.sub(q)));
      })(),
      (s, _b, h, q, kv) => s + slopes[h]! * (kv - q),
    ],
  },
  {
    name: 'causal, block 4 over 13 × 13 (partial, full and empty blocks)',
    d: { B: 1, Hq: 2, Hkv: 2, Lq: 13, Lkv: 13, E: 4, Ev: 4 },
    mask: [(_b, _h, q, kv) => q.ge(kv), (_b, _h, q, kv) => q >= kv, { blockSize: 4 }],
  },
  {
    name: 'softcap + sliding window (scalar), blocks [4, 8], Lq ≠ Lkv',
    d: { B: 1, Hq: 2, Hkv: 1, Lq: 13, Lkv: 19, E: 8, Ev: 4 },
    score: [(s) => s.div(1.5).tanh().mul(1.5), (s) => Math.tanh(s / 1.5) * 1.5],
    mask: [
      (() => {
        const w = scalar(3, { dtype: 'i32' });
        return (_b: Expr, _h: Expr, q: Expr, kv: Expr) => q.add(6).sub(kv).abs().le(w);
      })(),
      (_b, _h, q, kv) => Math.abs(q + 6 - kv) <= 3,
      { blockSize: [4, 8] },
    ],
  },
  {
    name: 'per-batch document mask (B = 2) from a 2-D capture, per-head score mod',
    d: { B: 2, Hq: 3, Hkv: 3, Lq: 22, Lkv: 22, E: 4, Ev: 4 },
    score: [(s, _b, h) => s.mul(h.add(1).toFloat().mul(0.5)), (s, _b, h) => s * ((h + 1) * 0.5)],
    mask: [
      (() => {
        const ids = capture(Int32Array.from([...docs, ...docsB1]), [2, 22]);
        return (b: Expr, _h: Expr, q: Expr, kv: Expr) => ids.at(b, q).eq(ids.at(b, kv));
      })(),
      (b, _h, q, kv) => (b === 0 ? docs : docsB1)[q] === (b === 0 ? docs : docsB1)[kv],
      { B: 2, blockSize: 4 },
    ],
  },
  {
    name: 'per-head mask (H = Hq) under GQA',
    d: { B: 1, Hq: 4, Hkv: 2, Lq: 9, Lkv: 14, E: 4, Ev: 4 },
    mask: [(_b, h, q, kv) => kv.mod(h.add(2)).ne(0).or(q.eq(kv)), (_b, h, q, kv) => kv % (h + 2) !== 0 || q === kv, { H: 4, blockSize: [2, 4] }],
  },
];

describe('reference forward = dense softmax definition (float64)', () => {
  const ref = createReferenceBackend();
  for (const c of FORWARD_CASES) {
    it(c.name, async () => {
      const { d } = c;
      const q = f32([d.B, d.Hq, d.Lq, d.E], 1);
      const k = f32([d.B, d.Hkv, d.Lkv, d.E], 2);
      const v = f32([d.B, d.Hkv, d.Lkv, d.Ev], 3);
      const opts: FlexAttentionOptions = { scale: c.scale, enableGqa: d.Hq !== d.Hkv, returnLse: true };
      if (c.score) opts.scoreMod = traceScoreMod(c.score[0]);
      if (c.mask) opts.blockMask = blockMaskByEvaluation(traceMaskMod(c.mask[0]), { ...c.mask[2], qLen: d.Lq, kvLen: d.Lkv });
      const want = denseAttention(d, q.data, k.data, v.data, { scale: c.scale, score: c.score?.[1], mask: c.mask?.[1] });
      const got64 = ref.forward64(q, k, v, opts);
      expectNear(got64.out, want.out, 1e-13, 1e-12, 'out (float64)');
      expectNear(got64.lse, want.lse, 1e-13, 1e-12, 'lse (float64)');
      const got = await ref.flexAttention(q, k, v, opts);
      expect(got.out.dtype).toBe('f32');
      expect([...got.out.shape]).toEqual([d.B, d.Hq, d.Lq, d.Ev]);
      expect([...got.lse!.shape]).toEqual([d.B, d.Hq, d.Lq]);
      expectNear(got.out.data, want.out, 1e-7, 1e-6, 'out (f32)');
      expectNear(got.lse!.data, want.lse, 1e-7, 1e-6, 'lse (f32)');
      if (c.mask) {
        // The case exercises the block structure it claims to.
        const classes = new Set(blockMaskByEvaluation(traceMaskMod(c.mask[0]), { ...c.mask[2], qLen: d.Lq, kvLen: d.Lkv }).toDense());
        expect(classes.has(PARTIAL)).toBe(true);
      }
    });
  }

  // The shared conformance cases too: here the mods run through compileToJs (checked against hand
  // definitions in evaluate.test.ts) while the attention itself is the dense definition above.
  for (const c of CONFORMANCE_CASES) {
    it(`conformance case: ${c.name}`, () => {
      const x = caseInputs(c, 'f32', 5);
      const sm = x.options.scoreMod;
      const score = sm && typeof sm !== 'function' ? (compileToJs(sm) as JsScore) : undefined;
      const bm = x.options.blockMask;
      const mask = bm ? (compileToJs(bm.maskMod) as JsMask) : undefined;
      const want = denseAttention(c, x.q.data, x.k.data, x.v.data, { scale: c.scale, score, mask });
      const got = createReferenceBackend().forward64(x.q, x.k, x.v, x.options);
      expectNear(got.out, want.out, 1e-12, 1e-11, 'out');
      expectNear(got.lse, want.lse, 1e-12, 1e-11, 'lse');
    });
  }

  it('lse is the natural log: one visible key of score s gives lse = s; two equal keys give s + ln 2', async () => {
    const q: Tensor = { data: Float32Array.from([1, 0]), shape: [1, 1, 1, 2], dtype: 'f32' };
    const k: Tensor = { data: Float32Array.from([3, 0, 3, 0, 9, 9]), shape: [1, 1, 3, 2], dtype: 'f32' };
    const v: Tensor = { data: Float32Array.from([1, 2, 3]), shape: [1, 1, 3, 1], dtype: 'f32' };
    const firstTwo = blockMaskByEvaluation(traceMaskMod((_b, _h, _q, kv) => kv.lt(2)), { qLen: 1, kvLen: 3, blockSize: 1 });
    const r = createReferenceBackend().forward64(q, k, v, { scale: 1, blockMask: firstTwo });
    expect(r.lse[0]).toBeCloseTo(3 + Math.LN2, 14);
    expect(r.out[0]).toBeCloseTo(1.5, 14);
  });

  it('full blocks skip the mask: a block declared FULL where the mask says false is still visible', async () => {
    const d: Dims = { B: 1, Hq: 1, Hkv: 1, Lq: 8, Lkv: 8, E: 4, Ev: 4 };
    const maskFn: JsMask = (_b, _h, q, kv) => q >= kv;
    const mod = traceMaskMod((_b, _h, q, kv) => q.ge(kv));
    // 2×2 blocks of 4: declare the (0, 1) block — strictly above the diagonal, the mask false on every
    // element — FULL, keep (0, 0) and (1, 1) PARTIAL and make (1, 0), all true, EMPTY.
    const dense = Uint8Array.from([PARTIAL, FULL, EMPTY, PARTIAL]);
    const blockMask = TableBlockMask.fromDense(dense, { B: 1, H: 1, qLen: 8, kvLen: 8, blockSize: [4, 4] }, mod);
    const q = f32([1, 1, 8, 4], 5);
    const k = f32([1, 1, 8, 4], 6);
    const v = f32([1, 1, 8, 4], 7);
    const blockClass = (_b: number, _h: number, i: number, j: number) => dense[Math.floor(i / 4) * 2 + Math.floor(j / 4)]!;
    const want = denseAttention(d, q.data, k.data, v.data, { mask: maskFn, blockClass });
    const got = createReferenceBackend().forward64(q, k, v, { blockMask });
    expectNear(got.out, want.out, 1e-13, 1e-12, 'out');
    expectNear(got.lse, want.lse, 1e-13, 1e-12, 'lse');
    // And it differs from what the element mask alone would give (the test can tell the rules apart).
    const elementOnly = denseAttention(d, q.data, k.data, v.data, { mask: maskFn });
    expect(Math.abs(got.lse[0]! - elementOnly.lse[0]!)).toBeGreaterThan(1e-3);
  });

  it('fully masked rows (by the block mask or by a score mod of −inf): out 0, lse −inf, no NaN', async () => {
    const d: Dims = { B: 1, Hq: 2, Hkv: 2, Lq: 10, Lkv: 10, E: 4, Ev: 3 };
    const q = f32([1, 2, 10, 4], 8);
    const k = f32([1, 2, 10, 4], 9);
    const v = f32([1, 2, 10, 3], 10);
    const maskJs: JsMask = (_b, _h, qi, kv) => qi >= 4 && kv <= qi;
    const blockMask = blockMaskByEvaluation(traceMaskMod((_b, _h, qi, kv) => qi.ge(4).and(kv.le(qi))), { qLen: 10, kvLen: 10, blockSize: 2 });
    const scoreMod = traceScoreMod((s, _b, h, qi) => where(qi.eq(h.add(6)), -Infinity, s));
    const scoreJs: JsScore = (s, _b, h, qi) => (qi === h + 6 ? -Infinity : s);
    const ref = createReferenceBackend();
    const got = await ref.flexAttention(q, k, v, { blockMask, scoreMod, returnLse: true });
    const want = denseAttention(d, q.data, k.data, v.data, { mask: maskJs, score: scoreJs });
    const lse = got.lse!.data;
    for (let h = 0; h < 2; h++)
      for (let i = 0; i < 10; i++) {
        const masked = i < 4 || i === h + 6;
        expect(lse[h * 10 + i] === -Infinity).toBe(masked);
        for (let e = 0; e < 3; e++) {
          const x = got.out.data[(h * 10 + i) * 3 + e]!;
          expect(Number.isNaN(x)).toBe(false);
          if (masked) expect(x).toBe(0);
        }
      }
    expectNear(got.out.data, want.out, 1e-7, 1e-6, 'out');
    expectNear(got.lse!.data.filter((x) => x !== -Infinity), want.lse.filter((x) => x !== -Infinity), 1e-7, 1e-6, 'lse');
  });
});

/** Independent f16 / bf16 decoders (tensor.test.ts checks ir's against these on every bit pattern). */
export const decodeF16 = (bits: number): number => {
  const s = bits >> 15 ? -1 : 1;
  const e = (bits >> 10) & 31;
  const m = bits & 1023;
  if (e === 31) return m ? NaN : s * Infinity;
  return e === 0 ? s * m * Math.pow(2, -24) : s * Math.pow(2, e - 15) * (1 + m / 1024);
};
export const decodeBf16 = (bits: number): number => {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, bits << 16);
  return view.getFloat32(0);
};

describe('reference with f16 / bf16 inputs: converted on the way in and out', () => {
  for (const [dtype, decode, ulp] of [['f16', decodeF16, 2 ** -10], ['bf16', decodeBf16, 2 ** -7]] as const) {
    it(dtype, async () => {
      const d: Dims = { B: 1, Hq: 2, Hkv: 1, Lq: 9, Lkv: 11, E: 8, Ev: 4 };
      const mk = (shape: number[], seed: number): Tensor => {
        const vals = randomNormal(shape.reduce((a, b) => a * b, 1), seed);
        const bits = new Uint16Array(vals.length);
        // Random bit patterns of ordinary magnitude: sign, exponent near 0, random mantissa.
        for (let i = 0; i < vals.length; i++) {
          const x = vals[i]!;
          bits[i] = dtype === 'f16' ? (x < 0 ? 0x8000 : 0) | ((14 + (i % 3)) << 10) | ((Math.abs(x) * 997) & 1023) : (x < 0 ? 0x8000 : 0) | ((126 + (i % 3)) << 7) | ((Math.abs(x) * 997) & 127);
        }
        return { data: bits, shape, dtype };
      };
      const q = mk([d.B, d.Hq, d.Lq, d.E], 1);
      const k = mk([d.B, d.Hkv, d.Lkv, d.E], 2);
      const v = mk([d.B, d.Hkv, d.Lkv, d.Ev], 3);
      const dec = (t: Tensor) => Array.from(t.data, decode);
      const mask = (_b: number, _h: number, qi: number, kv: number) => qi + 2 >= kv;
      const blockMask = blockMaskByEvaluation(traceMaskMod((_b, _h, qi, kv) => qi.add(2).ge(kv)), { qLen: d.Lq, kvLen: d.Lkv, blockSize: 4 });
      const want = denseAttention(d, dec(q), dec(k), dec(v), { mask });
      const ref = createReferenceBackend();
      expectNear(ref.forward64(q, k, v, { blockMask, enableGqa: true }).out, want.out, 1e-13, 1e-12, 'out (float64)');
      const got = await ref.flexAttention(q, k, v, { blockMask, enableGqa: true, returnLse: true });
      expect(got.out.dtype).toBe(dtype);
      expect(got.out.data).toBeInstanceOf(Uint16Array);
      // Output rounded to the dtype: within half an ulp (plus one for double rounding via f32).
      expectNear(dec(got.out), want.out, 1e-6, ulp, 'out');
      expect(got.lse!.dtype).toBe('f32');
      expectNear(got.lse!.data, want.lse, 1e-6, 1e-6, 'lse');
    });
  }
});

describe('reference backward = central finite differences of the forward (float64)', () => {
  interface BwdCase {
    name: string;
    d: Dims;
    make: () => { options: FlexAttentionOptions; tables: Float32Array[] };
    maskedRows?: number[];
  }
  const CASES: BwdCase[] = [
    {
      name: 'no mods, Ev ≠ E, odd lengths',
      d: { B: 1, Hq: 2, Hkv: 2, Lq: 5, Lkv: 7, E: 3, Ev: 2 },
      make: () => ({ options: {}, tables: [] }),
    },
    {
      name: 'learnable relative-position table + causal block mask',
      d: { B: 1, Hq: 2, Hkv: 2, Lq: 7, Lkv: 7, E: 4, Ev: 3 },
      make: () => {
        const table = capture(Float32Array.from({ length: 9 }, (_, i) => Math.cos(i) * 0.7), [9], { requiresGrad: true, name: 'rel' });
        const blockMask = blockMaskByEvaluation(traceMaskMod((_b, _h, q, kv) => q.ge(kv)), { qLen: 7, kvLen: 7, blockSize: 2 });
        return { options: { scoreMod: traceScoreMod((s, _b, _h, q, kv) => s.add(table.at(q.sub(kv).clamp(-4, 4).add(4)))), blockMask }, tables: [table.data as Float32Array] };
      },
    },
    {
      name: 'learnable alibi slopes, GQA, softcap',
      d: { B: 1, Hq: 4, Hkv: 2, Lq: 5, Lkv: 6, E: 3, Ev: 4 },
      make: () => {
        const sl = capture(Float32Array.from([0.5, -0.25, 0.125, 0.375]), [4], { requiresGrad: true, name: 'slopes' });
        return { options: { scoreMod: traceScoreMod((s, _b, h, q, kv) => s.add(sl.at(h).mul(kv.sub(q))).div(2).tanh().mul(2)), enableGqa: true }, tables: [sl.data as Float32Array] };
      },
    },
    {
      name: 'two learnable tables (2-D per-head scale, 1-D bias), where, fully masked rows',
      d: { B: 2, Hq: 2, Hkv: 2, Lq: 6, Lkv: 5, E: 3, Ev: 3 },
      maskedRows: [0, 1],
      make: () => {
        const hs = capture(Float32Array.from([0.9, 1.1, 1.3, 0.7]), [2, 2], { requiresGrad: true, name: 'headScale' });
        const bias = capture(Float32Array.from([0.1, -0.2, 0.3, 0.05, -0.4]), [5], { requiresGrad: true, name: 'bias' });
        const scoreMod = traceScoreMod((s, _b, h, q, kv) => where(q.ge(kv), s.mul(hs.at(h, 0)), s.mul(hs.at(h, 1)).sub(0.5)).add(bias.at(kv).mul(bias.at(kv))));
        const blockMask = blockMaskByEvaluation(traceMaskMod((_b, _h, q, kv) => q.ge(2).and(kv.le(q.add(1)))), { qLen: 6, kvLen: 5, blockSize: 2 });
        return { options: { scoreMod, blockMask }, tables: [hs.data as Float32Array, bias.data as Float32Array] };
      },
    },
  ];

  for (const c of CASES) {
    it(c.name, async () => {
      const { d } = c;
      const { options, tables } = c.make();
      const ref = createReferenceBackend();
      const { q, k, v, dOut } = attentionTensors(d, 'f32', 11, { qk: 0.8 });
      const loss = () => {
        const { out } = ref.forward64(q, k, v, options);
        let s = 0;
        for (let i = 0; i < out.length; i++) s += out[i]! * dOut.data[i]!;
        return s;
      };
      const numeric = (data: Float32Array) => numericGradient(data, loss);
      const fwd = await ref.flexAttention(q, k, v, { ...options, returnLse: true });
      const grads = await ref.flexAttentionBackward(q, k, v, fwd.out, fwd.lse!, dOut, options);
      const tol = (g: ArrayLike<number>) => 2e-6 + 2e-5 * Math.max(...Array.from(g, Math.abs));
      for (const [name, t, g] of [['dq', q, grads.dq], ['dk', k, grads.dk], ['dv', v, grads.dv]] as const) {
        const want = numeric(t.data as Float32Array);
        expect(Math.max(...want.map(Math.abs)), `${name} is not trivially zero`).toBeGreaterThan(1e-3);
        expectNear(g.data, want, tol(want), 1e-4, name);
      }
      expect(grads.captureGrads.size).toBe(tables.length);
      for (const [tensor, g] of grads.captureGrads) {
        const want = numeric(tensor.data as Float32Array);
        expect(tables).toContain(tensor.data);
        expect(Math.max(...want.map(Math.abs)), `grad(${tensor.name}) is not trivially zero`).toBeGreaterThan(1e-3);
        expectNear(g, want, tol(want), 1e-4, `grad(${tensor.name})`);
      }
      for (const i of c.maskedRows ?? []) {
        for (let b = 0; b < d.B; b++)
          for (let h = 0; h < d.Hq; h++) {
            expect(fwd.lse!.data[(b * d.Hq + h) * d.Lq + i]).toBe(-Infinity);
            for (let e = 0; e < d.E; e++) expect(grads.dq.data[((b * d.Hq + h) * d.Lq + i) * d.E + e]).toBe(0);
          }
      }
      for (const t of [grads.dq, grads.dk, grads.dv]) expect(Array.from(t.data).some(Number.isNaN)).toBe(false);
    });
  }

  it('f16 inputs: gradients come back as f16, equal to the f32 computation on the same values rounded', async () => {
    const ref = createReferenceBackend();
    const toF16 = (t: Tensor): Tensor => {
      const bits = new Uint16Array(t.data.length);
      const vals = new Float32Array(t.data.length);
      for (let i = 0; i < bits.length; i++) {
        // Values exactly representable in f16: multiples of 2^-8 in (−4, 4).
        const x = Math.round((t.data[i] as number) * 256) / 256;
        vals[i] = x;
        let best = 0;
        for (let b = 0; b < 0x7c00; b++) if (Math.abs(decodeF16(b) - Math.abs(x)) < Math.abs(decodeF16(best) - Math.abs(x))) best = b;
        bits[i] = (x < 0 ? 0x8000 : 0) | best;
      }
      t.data = vals;
      return { data: bits, shape: t.shape, dtype: 'f16' };
    };
    const q32 = f32([1, 1, 4, 3], 21);
    const k32 = f32([1, 1, 5, 3], 22);
    const v32 = f32([1, 1, 5, 2], 23);
    const o32 = f32([1, 1, 4, 2], 24);
    const [q16, k16, v16, o16] = [toF16(q32), toF16(k32), toF16(v32), toF16(o32)];
    const f = await ref.flexAttention(q32, k32, v32, { returnLse: true });
    const g32 = await ref.flexAttentionBackward(q32, k32, v32, f.out, f.lse!, o32);
    const f16 = await ref.flexAttention(q16, k16, v16, { returnLse: true });
    const g16 = await ref.flexAttentionBackward(q16, k16, v16, f16.out, f16.lse!, o16);
    for (const [a, b] of [[g16.dq, g32.dq], [g16.dk, g32.dk], [g16.dv, g32.dv]] as const) {
      expect(a.dtype).toBe('f16');
      expectNear(Array.from(a.data, decodeF16), b.data, 1e-4, 2 ** -10, 'f16 grad');
    }
  });
});
