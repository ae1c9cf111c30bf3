import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModOptionError } from '../errors';
import { expectScoreClose, scoreFn } from '../test-utils';
import { sandwichBias } from './sandwich';

/** Sandwich, straight from the formula: sinusoidal inner product − d̄/2, compressed by 8(h+1)/H. */
function sandwich(q: number, kv: number, h: number, H: number, dim: number): number {
  let dot = 0;
  for (let i = 1; i <= dim / 2; i++) dot += Math.cos((q - kv) / Math.pow(10000, (2 * i) / dim));
  return (dot - dim / 2) / ((8 * (h + 1)) / H);
}

describe('sandwichBias', () => {
  it('matches the formula within f32 rounding, distances clamped at maxDistance', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 0, max: 300 }),
        fc.array(fc.tuple(fc.double({ min: -5, max: 5, noNaN: true }), fc.nat(15), fc.nat(500), fc.nat(500)), { minLength: 20, maxLength: 20 }),
        (H, halfDim, M, pts) => {
          const dim = 2 * halfDim;
          const ref = (s: number, _b: number, h: number, q: number, kv: number): number => {
            const d = Math.min(Math.abs(q - kv), M);
            return s + sandwich(d, 0, h, H, dim);
          };
          expectScoreClose(sandwichBias(H, { dim, maxDistance: M }), ref, pts.map(([s, h, q, kv]) => [s, 0, h % H, q, kv] as const), 2e-6);
        },
      ),
    );
  });

  it('is 0 at distance 0, ≤ 0 elsewhere and symmetric', () => {
    const f = scoreFn(sandwichBias(4, { dim: 16, maxDistance: 64 }));
    for (let h = 0; h < 4; h++) {
      expect(f(0, 0, h, 7, 7)).toBe(0);
      for (let d = 1; d < 40; d++) {
        expect(f(0, 0, h, 40, 40 - d)).toBeLessThanOrEqual(0);
        expect(f(0, 0, h, 40, 40 - d)).toBe(f(0, 0, h, 40 - d, 40));
      }
    }
  });

  it('rejects bad sizes', () => {
    const bad: [() => unknown, string][] = [
      [() => sandwichBias(0), 'numHeads'],
      [() => sandwichBias(4, { dim: 7 }), 'dim'],
      [() => sandwichBias(4, { dim: 0 }), 'dim'],
      [() => sandwichBias(4, { maxDistance: -1 }), 'maxDistance'],
    ];
    for (const [fn, param] of bad) {
      expect(fn).toThrow(ModOptionError);
      expect(fn).toThrow(`'${param}'`);
    }
  });
});
