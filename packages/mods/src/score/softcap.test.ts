import { topoOrder, traceScoreMod } from '@flexattn/ir';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModOptionError } from '../errors';
import { expectRetunable, expectScoreClose } from '../test-utils';
import { softcap } from './softcap';

const ops = (m: Parameters<typeof traceScoreMod>[0]): string[] => topoOrder([traceScoreMod(m).root]).map((n) => n.op);

describe('softcap', () => {
  it('is cap·tanh(score / cap), exact and approximate', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.01, max: 100, noNaN: true }), fc.array(fc.double({ min: -1e4, max: 1e4, noNaN: true }), { minLength: 1, maxLength: 20 }), fc.boolean(), (cap, scores, approx) => {
        expectScoreClose(softcap(cap, { approx }), (s) => cap * Math.tanh(s / cap), scores.map((s) => [s, 0, 0, 1, 2] as const), 1e-12);
      }),
    );
  });

  it('uses tanhApprox only when asked', () => {
    expect(ops(softcap(30))).toContain('tanh');
    expect(ops(softcap(30))).not.toContain('tanh_approx');
    expect(ops(softcap(30, { approx: true }))).toContain('tanh_approx');
  });

  it('bounds scores to (−cap, cap) even for ±inf', () => {
    expectScoreClose(softcap(5), (s) => Math.sign(s) * 5, [[Infinity, 0, 0, 0, 0], [-Infinity, 0, 0, 0, 0]]);
  });

  it('retunes the cap without changing the hash', () => {
    const m = softcap(10);
    expectRetunable(m, 'score', m.params.cap, 20, [15, 0, 0, 0, 0]);
  });

  it('rejects cap ≤ 0', () => {
    for (const cap of [0, -1, Number.NaN, Infinity]) expect(() => softcap(cap)).toThrow(ModOptionError);
    expect(() => softcap(0)).toThrow(/'cap'/);
    const m = softcap(3);
    expect(() => { m.params.cap.value = 0; }).toThrow(/'cap'/);
  });
});
