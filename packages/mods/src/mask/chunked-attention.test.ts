import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectMaskEquals, expectRetunable } from '../test-utils';
import { chunkedAttention } from './chunked-attention';

describe('chunkedAttention', () => {
  it('sees the causal past of its own chunk', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 24 }), (chunk, L) => {
        const ref = (_b: number, _h: number, q: number, kv: number): boolean => {
          const chunkStart = q - (q % chunk);
          return kv >= chunkStart && kv <= q;
        };
        expectMaskEquals(chunkedAttention(chunk), ref, { Lq: L, Lkv: L });
      }),
    );
  });

  it('retunes without changing the hash', () => {
    const m = chunkedAttention(4);
    expectRetunable(m, 'mask', m.params.chunk, 8, [0, 0, 5, 3]);
  });

  it('rejects chunk sizes below 1 and non-integers', () => {
    expect(() => chunkedAttention(0)).toThrow(/'chunk'/);
    expect(() => chunkedAttention(2.5)).toThrow(/'chunk'/);
  });
});
