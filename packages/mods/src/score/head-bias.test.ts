import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModOptionError } from '../errors';
import { composeScoreMods } from '../combinators';
import { expectCaptureGradsMatchFiniteDifferences, expectScoreClose } from '../test-utils';
import { headBias } from './head-bias';
import { softcap } from './softcap';

describe('headBias', () => {
  it('adds bias[h]', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 1, maxLength: 8 }), fc.double({ min: -9, max: 9, noNaN: true }), (bias, s) => {
        const f32 = bias.map(Math.fround);
        expectScoreClose(headBias(bias), (x, _b, h) => x + f32[h]!, f32.map((_, h) => [s, 0, h, 3, 1] as const));
      }),
    );
  });

  it('gradients match finite differences (alone: exactly 0; under a cap: nonzero)', async () => {
    const m = headBias([0.4, -0.7]);
    expect(m.params.bias.requiresGrad).toBe(true);
    await expectCaptureGradsMatchFiniteDifferences(m, [m.params.bias], { H: 2, Lq: 4, Lkv: 6, expectNonzero: false });
    const capped = headBias([0.4, -0.7]);
    await expectCaptureGradsMatchFiniteDifferences(composeScoreMods(capped, softcap(0.8)), [capped.params.bias], { H: 2, Lq: 4, Lkv: 6, seed: 5 });
  });

  it('can be frozen', () => {
    expect(headBias([1], { learnable: false }).params.bias.requiresGrad).toBe(false);
  });

  it('rejects empty or non-finite biases', () => {
    expect(() => headBias([])).toThrow(ModOptionError);
    expect(() => headBias([1, Infinity])).toThrow(/'bias'/);
  });
});
