/**
 * Soundness of the interval bounds of sin, cos, erf, round and sign, aimed at them: masks
 * `f(q·c + d) > t` over random query ranges, where 'all' / 'none' must hold at every point (checked
 * by evaluating each point), and tight enough to decide some boxes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileToJs } from './evaluate';
import type { Expr } from './expr';
import { maskInterval } from './interval';
import { traceMaskMod } from './trace';

const OPS: Record<string, (x: Expr) => Expr> = {
  sin: (x) => x.sin(),
  cos: (x) => x.cos(),
  erf: (x) => x.erf(),
  round: (x) => x.round(),
  sign: (x) => x.sign(),
};

describe('interval bounds of sin, cos, erf, round, sign (fast-check)', () => {
  it('never claim all/none wrongly, and decide some boxes', () => {
    let decided = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.keys(OPS)),
        // evenly spread (fc.double favours extreme values, which rarely put an extremum inside a box)
        fc.integer({ min: -300, max: 300 }).map((x) => x / 100),
        fc.integer({ min: -2000, max: 2000 }).map((x) => x / 100),
        fc.integer({ min: -120, max: 120 }).map((x) => x / 100),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 40 }),
        (op, c, d, t, lo, width) => {
          const mask = traceMaskMod((_b, _h, q) => OPS[op]!(q.toFloat().mul(c).add(d)).gt(t));
          const f = compileToJs(mask);
          const hi = lo + width;
          const claim = maskInterval(mask, { b: [0, 0], h: [0, 0], q: [lo, hi], kv: [0, 0] });
          if (claim !== 'some') decided++;
          for (let q = lo; q <= hi; q++) {
            const v = f(0, 0, q, 0);
            if (claim === 'all') expect(v, `${op}: q=${q} in [${lo}, ${hi}] claimed all`).toBe(true);
            if (claim === 'none') expect(v, `${op}: q=${q} in [${lo}, ${hi}] claimed none`).toBe(false);
          }
        },
      ),
      { numRuns: 500 },
    );
    expect(decided).toBeGreaterThan(100);
  });
});
