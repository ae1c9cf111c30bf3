import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModOptionError } from '../errors';
import { expectCaptureGradsMatchFiniteDifferences, expectScoreClose } from '../test-utils';
import { alibi, alibiSlopes } from './alibi';

/** The ALiBi paper's get_slopes, transcribed. */
function getSlopes(n: number): number[] {
  const pow2 = (m: number): number[] => {
    const start = 2 ** -(2 ** -(Math.log2(m) - 3));
    return Array.from({ length: m }, (_, i) => start * start ** i);
  };
  if (Number.isInteger(Math.log2(n))) return pow2(n);
  const closest = 2 ** Math.floor(Math.log2(n));
  return [...pow2(closest), ...getSlopes(2 * closest).filter((_, i) => i % 2 === 0).slice(0, n - closest)];
}

const pointArb = fc.tuple(fc.double({ min: -50, max: 50, noNaN: true }), fc.nat(3), fc.nat(40), fc.nat(10_000), fc.nat(10_000));

describe('alibi', () => {
  it('slopes follow the paper for every head count 1…80', () => {
    expect(Array.from(alibiSlopes(8))).toEqual([1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]);
    for (let n = 1; n <= 80; n++) {
      const want = getSlopes(n);
      const got = alibiSlopes(n);
      expect(got.length).toBe(n);
      got.forEach((s, i) => expect(s).toBe(Math.fround(want[i]!)));
    }
  });

  it('adds slope[h]·(kv − q), for past and future keys', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 48 }), fc.array(pointArb, { minLength: 20, maxLength: 20 }), (H, points) => {
        const slopes = getSlopes(H).map(Math.fround);
        const pts = points.map(([s, b, h, q, kv]) => [s, b, h % H, q, kv] as const);
        expectScoreClose(alibi(H), (s, _b, h, q, kv) => s + slopes[h]! * (kv - q), pts);
      }),
    );
  });

  it('takes custom slopes', () => {
    expectScoreClose(alibi([0.5, 2]), (s, _b, h, q, kv) => s + [0.5, 2][h]! * (kv - q), [[1, 0, 0, 3, 7], [1, 0, 1, 9, 2], [-3, 1, 1, 0, 0]]);
  });

  it('learnable slopes: gradients match finite differences', async () => {
    const m = alibi([0.3, -0.2], { learnable: true });
    expect(m.params.slopes.requiresGrad).toBe(true);
    await expectCaptureGradsMatchFiniteDifferences(m, [m.params.slopes], { H: 2, Lq: 5, Lkv: 7 });
  });

  it('rejects zero or fractional heads and bad slopes', () => {
    const bad: [() => unknown, string][] = [
      [() => alibi(0), 'numHeads'],
      [() => alibi(2.5), 'numHeads'],
      [() => alibi([]), 'slopes'],
      [() => alibi([0.5, Number.NaN]), 'slopes'],
    ];
    for (const [fn, param] of bad) {
      expect(fn).toThrow(ModOptionError);
      expect(fn).toThrow(`'${param}'`);
    }
  });
});
