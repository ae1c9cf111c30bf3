import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModOptionError } from '../errors';
import { expectMaskEquals, maskFn } from '../test-utils';
import { crossAttention } from './cross-attention';

const idsArb = fc.array(fc.integer({ min: -1, max: 3 }), { minLength: 1, maxLength: 12 });

describe('crossAttention', () => {
  it('text token q sees exactly the tokens of its image', () => {
    fc.assert(
      fc.property(idsArb, idsArb, (qIds, kvIds) => {
        const ref = (_b: number, _h: number, q: number, kv: number): boolean => qIds[q] !== -1 && qIds[q] === kvIds[kv];
        expectMaskEquals(crossAttention(qIds, kvIds), ref, { Lq: qIds.length, Lkv: kvIds.length });
      }),
    );
  });

  it('a Flamingo sequence: text before any image sees nothing; text after image i sees image i only', () => {
    // interleaved: t t [img0 img0] t t [img1 img1] t — text ties to the last preceding image
    const f = maskFn(crossAttention([-1, -1, 0, 0, 1], [0, 0, 1, 1]));
    const row = (q: number): boolean[] => [0, 1, 2, 3].map((kv) => f(0, 0, q, kv));
    expect(row(0)).toEqual([false, false, false, false]);
    expect(row(2)).toEqual([true, true, false, false]);
    expect(row(4)).toEqual([false, false, true, true]);
  });

  it('takes per-batch ids', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.array(fc.integer({ min: -1, max: 2 }), { minLength: 12, maxLength: 12 }), (B, pool) => {
        const Lq = 4;
        const Lkv = 3;
        const qIds = Array.from({ length: B * Lq }, (_, i) => pool[i % 12]!);
        const kvIds = Array.from({ length: B * Lkv }, (_, i) => pool[(i * 5 + 1) % 12]!);
        expectMaskEquals(crossAttention(qIds, kvIds, { batch: B }), (b, _h, q, kv) => qIds[b * Lq + q]! >= 0 && qIds[b * Lq + q] === kvIds[b * Lkv + kv], { B, Lq, Lkv });
      }),
    );
  });

  it('rejects ids below −1, non-integers and lengths that do not split into batches', () => {
    const bad: [() => unknown, string][] = [
      [() => crossAttention([-2, 0], [0]), 'queryImageIds'],
      [() => crossAttention([0], [0.5]), 'kvImageIds'],
      [() => crossAttention([0, 0, 1], [0, 1], { batch: 2 }), 'queryImageIds'],
    ];
    for (const [fn, param] of bad) {
      expect(fn).toThrow(ModOptionError);
      expect(fn).toThrow(`'${param}'`);
    }
  });
});
