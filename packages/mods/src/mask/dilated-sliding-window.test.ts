import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectMaskEquals, expectRetunable } from '../test-utils';
import { dilatedSlidingWindow } from './dilated-sliding-window';

describe('dilatedSlidingWindow', () => {
  it('sees kv = q + i·dilation for |i| ≤ window (i ≤ 0 when causal)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.integer({ min: 1, max: 20 }), (window, dilation, causal, L) => {
        const ref = (_b: number, _h: number, q: number, kv: number): boolean => {
          for (let i = -window; i <= (causal ? 0 : window); i++) if (kv === q + i * dilation) return true;
          return false;
        };
        expectMaskEquals(dilatedSlidingWindow(window, dilation, { causal }), ref, { Lq: L, Lkv: L });
      }),
      { numRuns: 60 },
    );
  });

  it('retunes without changing the hash', () => {
    const m = dilatedSlidingWindow(2, 2);
    expectRetunable(m, 'mask', m.params.dilation, 3, [0, 0, 9, 6]);
    expectRetunable(m, 'mask', m.params.window, 1, [0, 0, 9, 5]);
  });

  it('rejects a negative window and a dilation below 1', () => {
    expect(() => dilatedSlidingWindow(-1, 2)).toThrow(/'window'/);
    expect(() => dilatedSlidingWindow(3, 0)).toThrow(/'dilation'/);
    expect(() => dilatedSlidingWindow(3, 1.5)).toThrow(/'dilation'/);
  });
});
