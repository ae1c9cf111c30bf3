import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectMaskEquals, expectRetunable, maskFn } from '../test-utils';
import { attentionSinks } from './attention-sinks';

describe('attentionSinks', () => {
  it('sees the sinks and the last `window` tokens, never the future', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 8 }), (nSink, window, Lq, extra) => {
        const Lkv = Lq + extra; // decoding: the queries are the last Lq of Lkv positions
        const ref = (_b: number, _h: number, q: number, kv: number): boolean => {
          const pos = q + extra;
          const recent = new Set<number>();
          for (let j = pos; j > pos - window && j >= 0; j--) recent.add(j);
          return kv <= pos && (kv < nSink || recent.has(kv));
        };
        expectMaskEquals(attentionSinks(nSink, window, { offset: extra }), ref, { Lq, Lkv });
      }),
      { numRuns: 60 },
    );
  });

  it('keeps nSink + window keys per row once the sequence is long', () => {
    const f = maskFn(attentionSinks(4, 6));
    let n = 0;
    for (let kv = 0; kv < 40; kv++) n += f(0, 0, 30, kv) ? 1 : 0;
    expect(n).toBe(10);
  });

  it('retunes without changing the hash', () => {
    const m = attentionSinks(2, 3);
    expectRetunable(m, 'mask', m.params.sinks, 4, [0, 0, 10, 3]);
    expectRetunable(m, 'mask', m.params.window, 8, [0, 0, 10, 4]);
  });

  it('rejects negative sizes', () => {
    expect(() => attentionSinks(-1, 4)).toThrow(/'nSink'/);
    expect(() => attentionSinks(4, -4)).toThrow(/'window'/);
  });
});
