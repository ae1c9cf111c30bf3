import { OptionError, TraceError, traceMaskMod, type MaskMod } from '@flexattn/ir';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModOptionError } from '../errors';
import { expectMaskEquals, expectRetunable, maskFn } from '../test-utils';
import { causal } from './causal';

describe('causal', () => {
  it('is kv ≤ q + offset for any offset and lengths', () => {
    fc.assert(
      fc.property(fc.integer({ min: -20, max: 20 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), (offset, Lq, Lkv) => {
        expectMaskEquals(causal({ offset }), (_b, _h, q, kv) => kv - q <= offset, { Lq, Lkv });
      }),
      { numRuns: 60 },
    );
  });

  it('forLengths / { qLen, kvLen } align bottom-right: row i of Lq sees kvLen − Lq + i + 1 keys', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 16 }), (qLen, kvLen) => {
        for (const m of [causal.forLengths(qLen, kvLen), causal({ qLen, kvLen })]) {
          const f = maskFn(m);
          for (let i = 0; i < qLen; i++) {
            let visible = 0;
            for (let j = 0; j < kvLen; j++) visible += f(0, 0, i, j) ? 1 : 0;
            expect(visible).toBe(Math.max(0, Math.min(kvLen, kvLen - qLen + i + 1)));
          }
        }
      }),
    );
  });

  it('defaults to the plain lower triangle', () => {
    expectMaskEquals(causal(), (_b, _h, q, kv) => q >= kv, { B: 2, H: 2, Lq: 9, Lkv: 9 });
  });

  it('retunes the offset without changing the hash', () => {
    const m = causal();
    expectRetunable(m, 'mask', m.params.offset, 5, [0, 0, 2, 6]);
  });

  it('rejects bad parameters with a typed error naming the parameter', () => {
    const bad: [() => unknown, string][] = [
      [() => causal({ offset: 1.5 }), 'offset'],
      [() => causal({ qLen: 0, kvLen: 4 }), 'qLen'],
      [() => causal.forLengths(3, 2.5), 'kvLen'],
      [() => causal(null as never), 'options'],
      [() => { causal().params.offset.value = 0.5; }, 'offset'],
    ];
    for (const [fn, param] of bad) {
      expect(fn).toThrow(ModOptionError);
      expect(fn).toThrow(OptionError);
      expect(fn).toThrow(`'${param}'`);
    }
  });

  it('explains passing the factory instead of a mod', () => {
    expect(() => traceMaskMod(causal as unknown as MaskMod)).toThrow(TraceError);
    expect(() => traceMaskMod(causal as unknown as MaskMod)).toThrow(/causal\(…\)/);
  });
});
