import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModOptionError } from '../errors';
import { expectMaskEquals, expectRetunable } from '../test-utils';
import { slidingWindow } from './sliding-window';

describe('slidingWindow', () => {
  it('matches q − left ≤ kv ≤ q + right (with offset, with and without causal)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 10 }), fc.integer({ min: -6, max: 6 }), fc.boolean(),
        fc.integer({ min: 1, max: 14 }), fc.integer({ min: 1, max: 14 }),
        (left, right, offset, causal, Lq, Lkv) => {
          const ref = (_b: number, _h: number, q: number, kv: number): boolean => {
            const d = kv - (q + offset); // signed distance to the aligned query
            return d >= -left && d <= right && (!causal || d <= 0);
          };
          expectMaskEquals(slidingWindow(left, right, { causal, offset }), ref, { Lq, Lkv });
        },
      ),
      { numRuns: 80 },
    );
  });

  it('defaults to a causal local window of left + 1 keys', () => {
    expectMaskEquals(slidingWindow(3), (_b, _h, q, kv) => kv <= q && q - kv <= 3, { Lq: 12, Lkv: 12 });
  });

  it('retunes left and right without changing the hash', () => {
    const m = slidingWindow(2, 1);
    expectRetunable(m, 'mask', m.params.left, 5, [0, 0, 8, 4]);
    expectRetunable(m, 'mask', m.params.right, 0, [0, 0, 8, 9]);
  });

  it('rejects negative or fractional windows', () => {
    expect(() => slidingWindow(-1)).toThrow(/'left'/);
    expect(() => slidingWindow(4, 1.5)).toThrow(/'right'/);
    expect(() => slidingWindow(4, 0, { offset: 0.5 })).toThrow(ModOptionError);
    const m = slidingWindow(4);
    expect(() => { m.params.left.value = -2; }).toThrow(/'left'/);
    expect(m.params.left.value).toBe(4);
  });
});
