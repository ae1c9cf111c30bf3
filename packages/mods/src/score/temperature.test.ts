import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModOptionError } from '../errors';
import { expectRetunable, expectScoreClose } from '../test-utils';
import { temperature } from './temperature';

describe('temperature', () => {
  it('is score / t', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-3, max: 1e3, noNaN: true }), fc.double({ min: -1e4, max: 1e4, noNaN: true }), (t, s) => {
        expectScoreClose(temperature(t), (x) => x / t, [[s, 0, 1, 2, 3]], 1e-12);
      }),
    );
  });
  it('retunes without changing the hash', () => {
    const m = temperature(2);
    expectRetunable(m, 'score', m.params.temperature, 4, [8, 0, 0, 0, 0]);
  });
  it('rejects t ≤ 0', () => {
    for (const t of [0, -2, Number.NaN]) expect(() => temperature(t)).toThrow(ModOptionError);
    expect(() => temperature(0)).toThrow(/'t'/);
  });
});
