import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectMaskEquals, expectRetunable } from '../test-utils';
import { globalTokens } from './global-tokens';

describe('globalTokens', () => {
  it('global tokens see and are seen by all; the rest a symmetric window', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 16 }), (g, w, L) => {
        const isGlobal = (i: number): boolean => i < g;
        const ref = (_b: number, _h: number, q: number, kv: number): boolean => isGlobal(q) || isGlobal(kv) || (kv >= q - w && kv <= q + w);
        expectMaskEquals(globalTokens(g, w), ref, { Lq: L, Lkv: L });
      }),
    );
  });

  it('retunes without changing the hash', () => {
    const m = globalTokens(1, 2);
    expectRetunable(m, 'mask', m.params.global, 3, [0, 0, 9, 2]);
    expectRetunable(m, 'mask', m.params.window, 4, [0, 0, 9, 5]);
  });

  it('rejects negative sizes', () => {
    expect(() => globalTokens(-1, 2)).toThrow(/'nGlobal'/);
    expect(() => globalTokens(1, -2)).toThrow(/'window'/);
  });
});
