import { compileToJs, gradScore, topoOrder, traceScoreMod } from '@flexattn/ir';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectScoreClose } from '../test-utils';
import { gelu } from './gelu';

/** Φ(x) by Simpson's rule over the normal density (independent of any erf implementation). */
function normalCdf(x: number): number {
  const n = 4000;
  const h = x / n;
  const pdf = (t: number) => Math.exp(-t * t / 2) / Math.sqrt(2 * Math.PI);
  let sum = pdf(0) + pdf(x);
  for (let i = 1; i < n; i++) sum += (i % 2 ? 4 : 2) * pdf(i * h);
  return 0.5 + (sum * h) / 3;
}

describe('gelu', () => {
  it('is s·Φ(s), Φ integrated numerically', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -8, max: 8, noNaN: true }), { minLength: 1, maxLength: 10 }), (scores) => {
        expectScoreClose(gelu(), (s) => s * normalCdf(s), scores.map((s) => [s, 0, 0, 1, 2] as const), 1e-11);
      }),
    );
  });

  it('its derivative is Φ(s) + s·φ(s) (what the backward uses), and it is built on the erf op', () => {
    const d = compileToJs(gradScore(traceScoreMod(gelu())));
    for (const s of [-3, -0.7, 0, 0.4, 2.5]) expect(d(s, 0, 0, 0, 0) as number).toBeCloseTo(normalCdf(s) + (s * Math.exp(-s * s / 2)) / Math.sqrt(2 * Math.PI), 10);
    expect(topoOrder([traceScoreMod(gelu()).root]).map((n) => n.op)).toContain('erf');
  });
});
