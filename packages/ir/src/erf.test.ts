import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { erf, roundHalfEven } from './erf';

// erf at x, to 17 significant digits (Abramowitz & Stegun table 7.1 and high-precision references)
const TABLE: [number, number][] = [
  [0.1, 0.1124629160182849],
  [0.5, 0.5204998778130465],
  [1, 0.8427007929497149],
  [1.5, 0.9661051464753108],
  [2, 0.9953222650189527],
  [2.5, 0.999593047982555],
  [3, 0.9999779095030014],
  [4, 0.9999999845827421],
];

/** The alternating Taylor series, summed in float64: good to ~1e-14 for |x| ≤ 2. */
function taylor(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 100; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

describe('erf (float64, the reference meaning)', () => {
  it('matches tabulated values to 2 ulps, and is odd', () => {
    for (const [x, want] of TABLE) {
      expect(Math.abs(erf(x) - want), `erf(${x})`).toBeLessThanOrEqual(2.3e-16);
      expect(erf(-x)).toBe(-erf(x));
    }
  });
  it('matches the alternating Taylor series on [-2, 2] (an independent expansion)', () => {
    fc.assert(fc.property(fc.double({ min: -2, max: 2, noNaN: true }), (x) => {
      expect(Math.abs(erf(x) - taylor(x))).toBeLessThan(1e-14);
    }));
  });
  it('special values, monotone, and 1 − erf matches the tail e^(−x²)/(x√π) asymptotically', () => {
    expect(erf(Infinity)).toBe(1);
    expect(erf(-Infinity)).toBe(-1);
    expect(erf(NaN)).toBeNaN();
    expect(Object.is(erf(-0), -0)).toBe(true);
    fc.assert(fc.property(fc.double({ min: -7, max: 7, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (x, dx) => {
      expect(erf(x + dx)).toBeGreaterThanOrEqual(erf(x));
    }));
    const x = 5;
    expect((1 - erf(x)) / (Math.exp(-x * x) / (x * Math.sqrt(Math.PI)))).toBeCloseTo(1 - 1 / (2 * x * x), 2);
  });
});

describe('roundHalfEven', () => {
  it('ties go to the even neighbour; everything else to the nearest', () => {
    const cases: [number, number][] = [[0.5, 0], [1.5, 2], [2.5, 2], [-0.5, -0], [-1.5, -2], [-2.5, -2], [2.4, 2], [2.6, 3], [-2.6, -3], [0.49999999999999994, 0], [4503599627370497, 4503599627370497]];
    for (const [x, want] of cases) expect(Object.is(roundHalfEven(x), want) || roundHalfEven(x) === want, `round(${x}) = ${roundHalfEven(x)}`).toBe(true);
    expect(Object.is(roundHalfEven(-0.5), -0)).toBe(true);
    expect(roundHalfEven(NaN)).toBeNaN();
  });
  it('property: |round(x) − x| ≤ 1/2, and at exactly 1/2 the result is even', () => {
    fc.assert(fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), (x) => {
      const r = roundHalfEven(x);
      expect(Number.isInteger(r)).toBe(true);
      expect(Math.abs(r - x)).toBeLessThanOrEqual(0.5);
      if (Math.abs(r - x) === 0.5) expect(r % 2 === 0).toBe(true);
    }));
  });
});
