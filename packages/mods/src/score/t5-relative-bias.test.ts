import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModOptionError } from '../errors';
import { expectCaptureGradsMatchFiniteDifferences, expectScoreClose, scoreFn } from '../test-utils';
import { t5RelativeBias } from './t5-relative-bias';

/** HF transformers' T5Attention._relative_position_bucket, transcribed (relative = memory − query). */
function pyBucket(relative: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let buckets = 0;
  let nb = numBuckets;
  let rp = relative;
  if (bidirectional) {
    nb = Math.floor(nb / 2);
    buckets += rp > 0 ? nb : 0;
    rp = Math.abs(rp);
  } else rp = -Math.min(rp, 0);
  const maxExact = Math.floor(nb / 2);
  const isSmall = rp < maxExact;
  let large = maxExact + Math.trunc((Math.log(rp / maxExact) / Math.log(maxDistance / maxExact)) * (nb - maxExact));
  large = Math.min(large, nb - 1);
  return buckets + (isSmall ? rp : large);
}

/** The bucket the mod uses, read back through the table [0, 1, …, nb − 1]. */
function bucketOfMod(nb: number, md: number, bidirectional: boolean, rel: number): number {
  const f = scoreFn(t5RelativeBias(Float32Array.from({ length: nb }, (_, i) => i), nb, md, { bidirectional }));
  return f(0, 0, 0, Math.max(0, -rel), Math.max(0, rel));
}

describe('t5RelativeBias', () => {
  it('buckets like T5 at the known boundaries (32 buckets, max distance 128)', () => {
    const cases: [number, number][] = [[0, 0], [-1, 1], [-7, 7], [-8, 8], [-11, 8], [-12, 9], [-127, 15], [-128, 15], [-5000, 15], [1, 17], [7, 23], [8, 24], [12, 25], [10_000, 31]];
    for (const [rel, bucket] of cases) expect(bucketOfMod(32, 128, true, rel)).toBe(bucket);
    // unidirectional: the future shares bucket 0; exact below 16, log-spaced to 128
    for (const [rel, bucket] of cases) expect(pyBucket(rel, true, 32, 128)).toBe(bucket);
    const uni: [number, number][] = [[5, 0], [0, 0], [-15, 15], [-16, 16], [-127, 31], [-128, 31], [-900, 31]];
    for (const [rel, bucket] of uni) expect(bucketOfMod(32, 128, false, rel)).toBe(bucket);
  });

  it('matches HF bucketing + table lookup on random distances, sizes and heads', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 40 }), fc.integer({ min: 0, max: 200 }), fc.boolean(), fc.integer({ min: 1, max: 4 }),
        fc.array(fc.tuple(fc.double({ min: -9, max: 9, noNaN: true }), fc.nat(3), fc.nat(400), fc.nat(400)), { minLength: 40, maxLength: 40 }),
        (nb, extra, bidirectional, H, pts) => {
          const maxExact = Math.floor((bidirectional ? Math.floor(nb / 2) : nb) / 2);
          const md = maxExact + 1 + extra;
          const table = Float32Array.from({ length: H * nb }, (_, i) => Math.fround(Math.cos(i)));
          const ref = (s: number, _b: number, h: number, q: number, kv: number): number => s + table[h * nb + pyBucket(kv - q, bidirectional, nb, md)]!;
          expectScoreClose(t5RelativeBias(table, nb, md, { bidirectional }), ref, pts.map(([s, h, q, kv]) => [s, 0, h % H, q, kv] as const));
        },
      ),
    );
  });

  it('table gradients match finite differences', async () => {
    const nb = 8;
    const m = t5RelativeBias(Float32Array.from({ length: 2 * nb }, (_, i) => 0.05 * i - 0.3), nb, 6);
    await expectCaptureGradsMatchFiniteDifferences(m, [m.params.table], { H: 2, Lq: 6, Lkv: 9 });
  });

  it('rejects bad sizes, naming the parameter', () => {
    const bad: [() => unknown, string][] = [
      [() => t5RelativeBias(new Float32Array(30), 32, 128), 'table'],
      [() => t5RelativeBias(new Float32Array(32), 3, 128), 'numBuckets'],
      [() => t5RelativeBias(new Float32Array(32), 32.5, 128), 'numBuckets'],
      [() => t5RelativeBias(new Float32Array(32), 32, 8), 'maxDistance'], // must exceed the exact range
      [() => t5RelativeBias(new Float32Array(32), 32, -1), 'maxDistance'],
    ];
    for (const [fn, param] of bad) {
      expect(fn).toThrow(ModOptionError);
      expect(fn).toThrow(`'${param}'`);
    }
  });
});
