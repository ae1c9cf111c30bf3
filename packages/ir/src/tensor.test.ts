import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, fromFloats, toFloat64 } from './tensor';

/** Independent decoders, from the IEEE layouts. */
const decodeF16 = (bits: number): number => {
  const s = bits >> 15 ? -1 : 1;
  const e = (bits >> 10) & 31;
  const m = bits & 1023;
  if (e === 31) return m ? NaN : s * Infinity;
  return e === 0 ? s * m * Math.pow(2, -24) : s * Math.pow(2, e - 15) * (1 + m / 1024);
};
const decodeBf16 = (bits: number): number => {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, bits << 16);
  return view.getFloat32(0);
};

/**
 * Round-to-nearest-even by search: the positive finite patterns are ordered like their values, so
 * binary-search the two neighbours of |x| and take the nearer, the even one on a tie. `infBits` is
 * treated as the next value up (2^16 for f16, 2^128 for bf16), which gives IEEE overflow rounding.
 */
function nearestBits(x: number, decode: (b: number) => number, infBits: number, infValue: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  const value = (b: number) => (b === infBits ? infValue : decode(b));
  if (a >= infValue) return sign | infBits;
  let lo = 0;
  let hi = infBits; // value(lo) ≤ a < value(hi)
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (value(mid) <= a) lo = mid;
    else hi = mid;
  }
  const dl = a - value(lo);
  const dh = value(hi) - a;
  return sign | (dl < dh ? lo : dh < dl ? hi : lo % 2 === 0 ? lo : hi);
}

/** The two 16-bit formats: our converters, the independent decoder, and where infinity sits. */
const FORMATS = [
  { name: 'f16', toF32: f16BitsToF32, fromF32: f32ToF16Bits, decode: decodeF16, infBits: 0x7c00, infValue: 2 ** 16 },
  { name: 'bf16', toF32: bf16BitsToF32, fromF32: f32ToBf16Bits, decode: decodeBf16, infBits: 0x7f80, infValue: 2 ** 128 },
];

describe('f16 / bf16 conversions', () => {
  for (const f of FORMATS) {
    it(`decode every ${f.name} bit pattern like the IEEE layout, and round-trip ${f.name} → f32 → ${f.name} (NaN excepted)`, () => {
      for (let bits = 0; bits < 0x10000; bits++) {
        const x = f.toF32(bits);
        const want = f.decode(bits);
        if (Number.isNaN(want)) {
          expect(Number.isNaN(x)).toBe(true);
          expect(Number.isNaN(f.toF32(f.fromF32(x)))).toBe(true);
          continue;
        }
        if (!Object.is(x, want)) expect.fail(`${f.name} 0x${bits.toString(16)}: decoded ${x}, expected ${want}`);
        if (f.fromF32(x) !== bits) expect.fail(`${f.name} 0x${bits.toString(16)} → ${x} → 0x${f.fromF32(x).toString(16)}`);
      }
    });
  }

  it('rounds to nearest, ties to even (hand-picked ties)', () => {
    // f16: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 → 1 (even); 1 + 3·2^-11 → 1 + 2^-9 (even).
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie
    // Subnormal ties: 2^-25 is half the smallest subnormal → 0; 3·2^-25 → 2·2^-24.
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000);
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002);
    expect(f32ToF16Bits(-(2 ** -26))).toBe(0x8000);
    // Overflow: 65504 is the largest f16; 65520 is the tie with 2^16 → inf (even); 65519 stays.
    expect(f32ToF16Bits(65520)).toBe(0x7c00);
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
    expect(f32ToF16Bits(-1e9)).toBe(0xfc00);
    // bf16: 1 + 2^-8 → 1; 1 + 3·2^-8 → 1 + 2^-6; the rounding carries into the exponent.
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(f32ToBf16Bits(2 - 2 ** -9)).toBe(0x4000);
    expect(f32ToBf16Bits(Infinity)).toBe(0x7f80);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN)))).toBe(true);
    expect(f16BitsToF32(f32ToF16Bits(NaN))).toBeNaN();
  });

  it('f32 → f16 / bf16 is the nearest pattern, ties to even, for random floats (fast-check)', () => {
    const f32s = fc.oneof(
      fc.float({ noNaN: true }),
      fc.float({ min: -70000, max: 70000, noNaN: true }),
      fc.float({ min: Math.fround(-(2 ** -13)), max: Math.fround(2 ** -13), noNaN: true }),
    );
    fc.assert(
      fc.property(f32s, (x) => {
        for (const f of FORMATS) expect(f.fromF32(x)).toBe(nearestBits(x, f.decode, f.infBits, f.infValue));
      }),
      { numRuns: 20000, seed: 3 },
    );
  });

  it('fromFloats / toFloat64 convert whole tensors', () => {
    const t = fromFloats([1, -2.5, 65520, 1e-8], [2, 2], 'f16');
    expect(Array.from(t.data)).toEqual([0x3c00, 0xc100, 0x7c00, 0x0000]);
    expect(Array.from(toFloat64(t))).toEqual([1, -2.5, Infinity, 0]);
    const b = fromFloats([1, 3.140625], [2], 'bf16');
    expect(Array.from(toFloat64(b))).toEqual([1, 3.140625]);
    expect(() => fromFloats([1, 2, 3], [2, 2], 'f32')).toThrow(/needs 4 values, got 3/);
  });
});
