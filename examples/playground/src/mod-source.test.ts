import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TraceError, tanh, traceMaskMod, traceScoreMod, where } from '@flexattn/ir';
import { causal } from '@flexattn/mods';
import { modFromSource, SYNTAXES } from './mod-source';

describe('modFromSource', () => {
  it('an arrow function and statements that return one trace to the same IR as the function written in code', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4096 }), fc.double({ min: -8, max: 8, noNaN: true }), (window, factor) => {
        const mask = modFromSource(`(b, h, q, kv) => q.ge(kv).and(q.sub(kv).lt(${window}))`, 'mask')!;
        expect(mask.traced.hash).toBe(traceMaskMod((_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).lt(window))).hash);
        const literal = Object.is(factor, -0) ? '-0' : String(factor); // String(-0) is '0', a different constant
        const score = modFromSource(`const f = ${literal};\nreturn (score, b, h, q, kv) => score.mul(f)`, 'score')!;
        expect(score.traced.hash).toBe(traceScoreMod((s) => s.mul(factor)).hash);
      }),
      { numRuns: 30 },
    );
  });

  it('has the ir and mods exports and the given sizes in scope', () => {
    expect(modFromSource('causal()', 'mask')!.traced.hash).toBe(traceMaskMod(causal()).hash);
    const sized = modFromSource('(b, h, q, kv) => kv.lt(L - H)', 'mask', { L: 100, H: 4 })!;
    expect(sized.traced.hash).toBe(traceMaskMod((_b, _h, _q, kv) => kv.lt(96)).hash);
    expect(modFromSource('(s, b, h, q, kv) => where(q.ge(kv), tanh(s), s)', 'score')).toBeDefined();
  });

  it('an empty box is no mod; anything else that is not a mod says what to write', () => {
    expect(modFromSource('  \n', 'mask')).toBeUndefined();
    expect(() => modFromSource('42', 'mask')).toThrow(/the mask mod box must give a function such as \(b, h, q, kv\) => q\.ge\(kv\); it gave number/);
    expect(() => modFromSource('(b, h, q, kv) => q >= kv', 'mask')).toThrow(TraceError);
    expect(() => modFromSource('(b, h, q, kv) => q.ge(', 'mask')).toThrow(SyntaxError);
    expect(() => modFromSource('(score) => score.mul(2)', 'mask')).toThrow(TraceError); // a mask must return a boolean
  });

  describe('plain-JS syntax', () => {
    const js = SYNTAXES.js!;
    it('operators, ternaries and the sizes in scope trace to the same IR as the traced API', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 1, max: 64 }), (window, L) => {
          const mask = modFromSource(`(b, h, q, kv) => q >= kv && q - kv < ${window} + L`, 'mask', { L }, js)!;
          expect(mask.traced.hash).toBe(traceMaskMod((_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).lt(window + L))).hash);
          const score = modFromSource('(s, b, h, q, kv) => q >= kv ? s * 2 : Math.tanh(s)', 'score', {}, js)!;
          expect(score.traced.hash).toBe(traceScoreMod((s, _b, _h, q, kv) => where(q.ge(kv), s.mul(2), tanh(s))).hash);
        }),
        { numRuns: 20 },
      );
    });

    it('statements may pass their own captures through jsMod; what jsMod cannot read is a TraceError', () => {
      const text = 'const slopes = capture(new Float32Array([0.5, 0.25]), [2]);\nreturn jsMod((s, b, h, q, kv) => s + slopes[h] * (kv - q), { slopes })';
      expect(modFromSource(text, 'score', {}, js)!.traced.captures).toHaveLength(1);
      expect(() => modFromSource('(b, h, q, kv) => causal(b, h, q, kv)', 'mask', {}, js)).toThrow(TraceError);
      expect(() => modFromSource('(b, h, q, kv) => q >= nosuchname', 'mask', {}, js)).toThrow(/unknown name 'nosuchname'/);
    });
  });
});
