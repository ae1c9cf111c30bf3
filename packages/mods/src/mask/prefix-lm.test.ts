import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectMaskEquals, expectRetunable } from '../test-utils';
import { prefixLm } from './prefix-lm';

describe('prefixLm', () => {
  it('sees the whole prefix and the causal past', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 1, max: 16 }), (n, L) => {
        const ref = (_b: number, _h: number, q: number, kv: number): boolean => (q < n && kv < n) || kv <= q || kv < n;
        expectMaskEquals(prefixLm(n), ref, { Lq: L, Lkv: L });
      }),
    );
  });

  it('takes per-batch prefix lengths', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 10 }), { minLength: 1, maxLength: 4 }), (lens) => {
        expectMaskEquals(prefixLm(lens), (b, _h, q, kv) => kv < lens[b]! || kv <= q, { B: lens.length, Lq: 10, Lkv: 10 });
      }),
    );
  });

  it('retunes without changing the hash', () => {
    const m = prefixLm(2);
    expectRetunable(m, 'mask', m.params.prefix, 6, [0, 0, 1, 4]);
  });

  it('rejects negative and fractional prefixes', () => {
    expect(() => prefixLm(-1)).toThrow(/'n'/);
    expect(() => prefixLm(2.5)).toThrow(/'n'/);
    expect(() => prefixLm([3, -1])).toThrow(/'n'/);
  });
});
