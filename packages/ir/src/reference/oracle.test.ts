/**
 * The reference as the oracle where kernels are weakest: large scores (one-hot softmax, where a
 * rounded lse ruins the backward) and special values (NaN, ±Infinity in inputs and mod constants),
 * judged by the independent dense definition of testing/dense.ts.
 */
import { describe, expect, it } from 'vitest';
import { blockMaskByEvaluation } from '../block-mask';
import { where } from '../expr';
import type { AttentionShape, FlexAttentionOptions } from '../kernel';
import { SPECIAL_VALUE_CASES } from '../testing/cases';
import { compareClose, formatComparison } from '../testing/compare';
import { caseInputs } from '../testing/inputs';
import { denseBackward64, denseForward64, denseModsOf } from '../testing/dense';
import { randomTensor } from '../testing/random';
import { fromFloats, type Tensor, toFloat64 } from '../tensor';
import { traceMaskMod, traceScoreMod } from '../trace';
import { createReferenceBackend } from './backend';

const shapeOf = (d: AttentionShape) => ({ q: [d.B, d.Hq, d.Lq, d.E], k: [d.B, d.Hkv, d.Lkv, d.E], v: [d.B, d.Hkv, d.Lkv, d.Ev], o: [d.B, d.Hq, d.Lq, d.Ev] });

function inputs(d: AttentionShape, seed: number, std = 1) {
  const s = shapeOf(d);
  return { q: randomTensor(s.q, 'f32', seed, std), k: randomTensor(s.k, 'f32', seed + 1, std), v: randomTensor(s.v, 'f32', seed + 2, std), dOut: randomTensor(s.o, 'f32', seed + 3) };
}

/** Sets one element (flat index) of a tensor. */
const poke = (t: Tensor, at: number, value: number): Tensor => {
  const x = toFloat64(t);
  x[at] = value;
  return fromFloats(x, t.shape, t.dtype);
};

/** Equal within tolerance, NaN exactly where the definition has NaN. */
function expectMatches(got: ArrayLike<number> | Tensor, want: ArrayLike<number>, tol: { atol: number; rtol: number }, name: string) {
  const c = compareClose(got, want, tol, { matchNaN: true });
  if (!c.ok) expect.fail(formatComparison(name, c));
}

async function againstDefinition(d: AttentionShape, x: { q: Tensor; k: Tensor; v: Tensor; dOut: Tensor }, options: FlexAttentionOptions, tol = { atol: 1e-6, rtol: 1e-5 }) {
  const ref = createReferenceBackend();
  const mods = denseModsOf(options, d);
  const [q, k, v, dOut] = [toFloat64(x.q), toFloat64(x.k), toFloat64(x.v), toFloat64(x.dOut)];
  const want = denseForward64(d, q, k, v, mods);
  const got = await ref.flexAttention(x.q, x.k, x.v, { ...options, returnLse: true });
  expectMatches(got.out, want.out, tol, 'out');
  expectMatches(got.lse!, want.lse, tol, 'lse');
  const grads = denseBackward64(d, q, k, v, dOut, mods);
  const g = await ref.flexAttentionBackward(x.q, x.k, x.v, got.out, got.lse!, x.dOut, options);
  expectMatches(g.dq, grads.dq, tol, 'dq');
  expectMatches(g.dk, grads.dk, tol, 'dk');
  expectMatches(g.dv, grads.dv, tol, 'dv');
  return { got, want, g, grads };
}

describe('reference backward at large scores (float64 lse, not the f32 one it returned)', () => {
  // ×10 and ×100 scale q, k and v: scores of hundreds to tens of thousands make each row's softmax
  // nearly one-hot, so dq is tiny; the f32-rounded lse used to move it by O(1) (0.54 at ×100).
  for (const factor of [10, 100]) {
    it(`inputs ×${factor} agree with the dense float64 definition`, async () => {
      const d: AttentionShape = { B: 1, Hq: 2, Hkv: 2, Lq: 9, Lkv: 11, E: 16, Ev: 8 };
      const x = inputs(d, 41, factor);
      const causal = blockMaskByEvaluation(traceMaskMod((_b, _h, q, kv) => q.add(2).ge(kv)), { qLen: 9, kvLen: 11, blockSize: 4 });
      const tol = (want: Float64Array) => ({ atol: 1e-9 * Math.max(1, ...Array.from(want, Math.abs)), rtol: 1e-6 });
      const ref = createReferenceBackend();
      const f = await ref.flexAttention(x.q, x.k, x.v, { blockMask: causal, returnLse: true });
      const g = await ref.flexAttentionBackward(x.q, x.k, x.v, f.out, f.lse!, x.dOut, { blockMask: causal });
      const want = denseBackward64(d, toFloat64(x.q), toFloat64(x.k), toFloat64(x.v), toFloat64(x.dOut), denseModsOf({ blockMask: causal }, d));
      expectMatches(g.dq, want.dq, tol(want.dq), 'dq');
      expectMatches(g.dk, want.dk, tol(want.dk), 'dk');
      expectMatches(g.dv, want.dv, tol(want.dv), 'dv');
    });
  }
});

describe('special values (docs/architecture.md §4) against the dense definition', () => {
  const d: AttentionShape = { B: 1, Hq: 2, Hkv: 2, Lq: 10, Lkv: 10, E: 8, Ev: 4 };
  const causal = () => blockMaskByEvaluation(traceMaskMod((_b, _h, q, kv) => q.ge(kv)), { qLen: 10, kvLen: 10, blockSize: 4 });
  const rowOut = (t: Tensor, h: number, i: number) => Array.from(t.data.slice(((h * d.Lq) + i) * d.Ev, ((h * d.Lq) + i + 1) * d.Ev));

  it('a NaN in a query row propagates to that row (out and lse NaN), not a masked row', async () => {
    const x = inputs(d, 3);
    x.q = poke(x.q, (0 * d.Lq + 3) * d.E + 5, NaN); // head 0, row 3
    const { got } = await againstDefinition(d, x, {});
    expect(rowOut(got.out, 0, 3).every(Number.isNaN)).toBe(true);
    expect(got.lse!.data[3]).toBeNaN();
    expect(rowOut(got.out, 0, 4).some(Number.isNaN)).toBe(false);
  });

  it('a NaN in a query row whose keys are all masked stays a masked row (out 0, lse −inf)', async () => {
    const x = inputs(d, 4);
    x.q = poke(x.q, 2 * d.E, NaN); // head 0, row 2
    const none = blockMaskByEvaluation(traceMaskMod((_b, _h, q, kv) => q.ne(2).and(q.ge(kv))), { qLen: 10, kvLen: 10, blockSize: 4 });
    const { got } = await againstDefinition(d, x, { blockMask: none });
    expect(rowOut(got.out, 0, 2)).toEqual([0, 0, 0, 0]);
    expect(got.lse!.data[2]).toBe(-Infinity);
  });

  it('NaN in k or v at a masked key never reaches out; at a visible key it makes the row NaN', async () => {
    const x = inputs(d, 5);
    x.k = poke(x.k, 6 * d.E + 1, NaN); // key 6 of head 0: visible to rows ≥ 6 only
    x.v = poke(x.v, (d.Lkv + 9) * d.Ev + 2, NaN); // key 9 of head 1: visible to row 9 only
    const { got } = await againstDefinition(d, x, { blockMask: causal() });
    for (let i = 0; i < 10; i++) {
      expect(rowOut(got.out, 0, i).some(Number.isNaN), `head 0 row ${i}`).toBe(i >= 6);
      expect(rowOut(got.out, 1, i).some(Number.isNaN), `head 1 row ${i}`).toBe(i === 9);
    }
  });

  it('NaN and ±Infinity constants in a score mod: NaN and +∞ make their row NaN, −∞ masks the key', async () => {
    const x = inputs(d, 6);
    const scoreMod = traceScoreMod((s, _b, _h, q, kv) => where(q.eq(2).and(kv.eq(1)), NaN, where(q.eq(4).and(kv.eq(0)), Infinity, where(kv.eq(3), -Infinity, s))));
    const { got } = await againstDefinition(d, x, { scoreMod });
    const poisoned = (row: number) => row % 10 === 2 || row % 10 === 4;
    got.lse!.data.forEach((l, row) => expect(Number.isNaN(l), `row ${row}`).toBe(poisoned(row)));
    // −∞ at key 3 is a mask: the other rows equal masking key 3 with a block mask
    const masked = blockMaskByEvaluation(traceMaskMod((_b, _h, _q, kv) => kv.ne(3)), { qLen: 10, kvLen: 10, blockSize: 4 });
    const viaMask = await createReferenceBackend().flexAttention(x.q, x.k, x.v, { blockMask: masked, returnLse: true });
    const kept = (t: Tensor) => Array.from(t.data).filter((_, row) => !poisoned(row));
    expect(kept(got.lse!)).toEqual(kept(viaMask.lse!));
  });

  it('pow of a negative score follows IEEE: NaN for a non-integer exponent, finite for an integer one', async () => {
    const x = inputs(d, 7);
    const scoreMod = traceScoreMod((s, _b, _h, q) => where(q.lt(3), s.pow(0.5), s.pow(3)));
    const { got } = await againstDefinition(d, x, { scoreMod });
    for (let i = 0; i < 10; i++) expect(Number.isNaN(got.lse!.data[i]), `row ${i}`).toBe(i < 3);
  });

  it('a score mod of −∞ for every key of a row gives out 0 and lse −∞ with zero gradients', async () => {
    const x = inputs(d, 8);
    const { got, g } = await againstDefinition(d, x, { scoreMod: traceScoreMod((s, _b, _h, q) => where(q.eq(1), -Infinity, s)) });
    expect(got.lse!.data[1]).toBe(-Infinity);
    expect(Array.from(g.dq.data.slice(d.E, 2 * d.E))).toEqual(new Array(d.E).fill(0));
  });

  it('f16 inputs with ±Infinity: IEEE through the dot product (−∞ scores mask, +∞ poisons the row)', async () => {
    const h: AttentionShape = { ...d, Hq: 1, Hkv: 1 };
    const x = inputs(h, 9);
    const k = toFloat64(x.k);
    k.fill(0, 0, h.E);
    k[0] = Infinity; // key 0 scores +∞ · q[0]: +∞ for rows with q[0] > 0, −∞ for q[0] < 0
    const f16 = { q: fromFloats(toFloat64(x.q), x.q.shape, 'f16'), k: fromFloats(k, x.k.shape, 'f16'), v: fromFloats(toFloat64(x.v), x.v.shape, 'f16'), dOut: fromFloats(toFloat64(x.dOut), x.dOut.shape, 'f16') };
    const { got } = await againstDefinition(h, f16, {}, { atol: 1e-3, rtol: 1e-2 });
    const q = toFloat64(f16.q);
    for (let i = 0; i < 10; i++) expect(Number.isNaN(got.lse!.data[i]), `row ${i}`).toBe(q[i * h.E]! > 0);
  });
});

describe('the special-value conformance cases: the reference equals the dense definition', () => {
  const tolerance = { f32: { atol: 1e-6, rtol: 1e-5 }, bf16: { atol: 1e-6, rtol: 2 ** -7 } } as const;
  for (const c of SPECIAL_VALUE_CASES) {
    for (const dtype of ['f32', 'bf16'] as const) {
      it(`${dtype}: ${c.name}`, async () => {
        const x = caseInputs(c, dtype, 11);
        await againstDefinition(c, x, x.options, tolerance[dtype]);
      });
    }
  }
});
