import { type MaskMod, traceScoreMod } from '@flexattn/ir';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { andMasks, composeScoreMods, maskAsScoreMod, notMask, orMasks } from './combinators';
import { ModOptionError } from './errors';
import { causal } from './mask/causal';
import { prefixLm } from './mask/prefix-lm';
import { slidingWindow } from './mask/sliding-window';
import { softcap } from './score/softcap';
import { temperature } from './score/temperature';
import { expectMaskEquals, expectRetunable, expectScoreClose, maskFn } from './test-utils';

type Ref = (q: number, kv: number) => boolean;
/** A random mask from the catalogue together with its plain-JS definition. */
const maskArb = fc.oneof(
  fc.integer({ min: -3, max: 3 }).map((o) => [causal({ offset: o }), (q: number, kv: number) => kv <= q + o] as [MaskMod, Ref]),
  fc.tuple(fc.nat(4), fc.nat(4)).map(([l, r]) => [slidingWindow(l, r), (q: number, kv: number) => kv >= q - l && kv <= q + r] as [MaskMod, Ref]),
  fc.nat(6).map((n) => [prefixLm(n), (q: number, kv: number) => kv < n || kv <= q] as [MaskMod, Ref]),
  fc.constant([(_b, _h, _q, kv) => kv.mod(3).eq(1), (_q: number, kv: number) => kv % 3 === 1] as [MaskMod, Ref]),
  fc.constant([() => false, () => false] as [MaskMod, Ref]),
);

describe('mask combinators', () => {
  it('andMasks / orMasks / notMask are ∧ / ∨ / ¬ of their parts', () => {
    fc.assert(
      fc.property(fc.array(maskArb, { maxLength: 4 }), fc.integer({ min: 1, max: 10 }), (parts, L) => {
        const mods = parts.map((p) => p[0]);
        const refs = parts.map((p) => p[1]);
        const dims = { Lq: L, Lkv: L };
        expectMaskEquals(andMasks(...mods), (_b, _h, q, kv) => refs.every((r) => r(q, kv)), dims);
        expectMaskEquals(orMasks(...mods), (_b, _h, q, kv) => refs.some((r) => r(q, kv)), dims);
        if (parts.length) expectMaskEquals(notMask(mods[0]!), (_b, _h, q, kv) => !refs[0]!(q, kv), dims);
        expectMaskEquals(notMask(orMasks(...mods)), (_b, _h, q, kv) => refs.every((r) => !r(q, kv)), dims);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps the parts tunable: changing a part retunes the combination, same hash', () => {
    const window = slidingWindow(2);
    const m = andMasks(causal(), window);
    expect(m.parts).toHaveLength(2);
    expectRetunable(m, 'mask', window.params.left, 5, [0, 0, 9, 5]);
  });

  it('rejects non-functions, naming the position', () => {
    expect(() => andMasks(causal(), 3 as never)).toThrow(ModOptionError);
    expect(() => orMasks(null as never)).toThrow(/'mods\[0\]'/);
    expect(() => notMask(undefined as never)).toThrow(/'mods\[0\]'/);
    expect(() => composeScoreMods(softcap(2), 'x' as never)).toThrow(/'mods\[1\]'/);
  });
});

describe('score combinators', () => {
  it('composeScoreMods applies left to right', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.1, max: 10, noNaN: true }), fc.double({ min: 0.1, max: 10, noNaN: true }), fc.double({ min: -50, max: 50, noNaN: true }), (t, cap, s) => {
        const pt = [[s, 0, 0, 1, 2] as const];
        expectScoreClose(composeScoreMods(temperature(t), softcap(cap)), (x) => cap * Math.tanh(x / t / cap), pt, 1e-12);
        expectScoreClose(composeScoreMods(softcap(cap), temperature(t)), (x) => (cap * Math.tanh(x / cap)) / t, pt, 1e-12);
      }),
    );
  });

  it('composes mods that return plain numbers or integers, and is the identity when empty', () => {
    expectScoreClose(composeScoreMods(() => 1.5, (s) => s.mul(2)), () => 3, [[7, 0, 0, 0, 0]]);
    expectScoreClose(composeScoreMods((_s, _b, _h, q, kv) => q.sub(kv), (s) => s.div(2)), (_s, _b, _h, q, kv) => (q - kv) / 2, [[0, 0, 0, 3, 8]]);
    expectScoreClose(composeScoreMods(), (s) => s, [[4.25, 0, 0, 0, 0]]);
  });

  it('maskAsScoreMod is where(mask, score, −inf)', () => {
    fc.assert(
      fc.property(maskArb, fc.double({ min: -9, max: 9, noNaN: true }), fc.nat(8), fc.nat(8), ([mask, ref], s, q, kv) => {
        expectScoreClose(maskAsScoreMod(mask), (x) => (ref(q, kv) ? x : -Infinity), [[s, 0, 0, q, kv]]);
      }),
    );
    expect(traceScoreMod(maskAsScoreMod(causal())).kind).toBe('score');
    expect(maskFn(causal())(0, 0, 1, 2)).toBe(false);
  });
});
