import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OptionError } from './errors';
import { compileToJs } from './evaluate';
import { maskInterval, type Box } from './interval';
import { capture, scalar } from './params';
import { graphArbitraries, paramsArbitrary, showAst, traceMaskAst } from './random-graphs.test-helpers';
import { traceMaskMod, traceScoreMod } from './trace';
import { constant, where } from './expr';

const range = (lo: number, width: number): fc.Arbitrary<[number, number]> =>
  fc.tuple(fc.integer({ min: lo, max: 40 }), fc.integer({ min: 0, max: width })).map(([a, w]) => [a, a + w]);
const boxArb: fc.Arbitrary<Box> = fc.record({ b: range(0, 2), h: range(0, 3), q: range(0, 7), kv: range(0, 7) });

/** 'all' / 'none' / 'some' by evaluating every point of the box (the definition). */
function bruteForce(fn: (...a: number[]) => unknown, box: Box): { any: boolean; all: boolean } {
  let any = false;
  let all = true;
  for (let b = box.b[0]; b <= box.b[1]; b++)
    for (let h = box.h[0]; h <= box.h[1]; h++)
      for (let q = box.q[0]; q <= box.q[1]; q++)
        for (let kv = box.kv[0]; kv <= box.kv[1]; kv++) {
          if (fn(b, h, q, kv)) any = true;
          else all = false;
        }
  return { any, all };
}

describe('maskInterval soundness (fast-check)', () => {
  const check = (extremes: boolean, maxDepth?: number) =>
    fc.property(graphArbitraries({ params: true, extremes, maxDepth }).bool, paramsArbitrary(extremes), fc.array(boxArb, { minLength: 1, maxLength: 4 }), (ast, params, boxes) => {
      const mask = traceMaskAst(ast, params);
      const fn = compileToJs(mask);
      for (const box of boxes) {
        const claim = maskInterval(mask, box);
        if (claim === 'some') continue;
        const truth = bruteForce(fn, box);
        if (claim === 'all' && !truth.all) throw new Error(`claimed 'all' but a point is false: ${showAst(ast)} over ${JSON.stringify(box)}`);
        if (claim === 'none' && truth.any) throw new Error(`claimed 'none' but a point is true: ${showAst(ast)} over ${JSON.stringify(box)}`);
      }
    });

  it('never claims all/none wrongly on random masks and boxes', () => {
    fc.assert(check(false), { numRuns: 1500, seed: 0x5eed });
  });
  it('stays sound near the i32 limits (wraparound) and with NaN / ±Infinity / −0 in constants and tables', () => {
    fc.assert(check(true), { numRuns: 1500, seed: 0xbeef });
  });
  it('stays sound on shallow masks (which it decides more often), extremes included', () => {
    fc.assert(check(true, 2), { numRuns: 3000, seed: 0xfeed });
  });
  it('stays sound with unseeded runs too', () => {
    fc.assert(check(true), { numRuns: 300 });
  });

  it('is not vacuous: the random masks do get decided', () => {
    // A sound analysis that always said 'some' would pass the property above; make sure it decides a
    // fair share of random (mask, box) pairs.
    let decided = 0;
    let total = 0;
    fc.assert(
      fc.property(graphArbitraries({ params: true }).bool, paramsArbitrary(), boxArb, (ast, params, box) => {
        total++;
        if (maskInterval(traceMaskAst(ast, params), box) !== 'some') decided++;
      }),
      { numRuns: 400, seed: 7 },
    );
    expect(decided / total).toBeGreaterThan(0.3);
  });
});

describe('maskInterval regressions (each was claimed wrongly once)', () => {
  const box = (q: [number, number], kv: [number, number]): Box => ({ b: [0, 0], h: [0, 0], q, kv });
  it('i32 wraparound: q + (2^31 − 1) is negative for q ≥ 1', () => {
    const m = traceMaskMod((_b, _h, q) => q.add(2147483647).lt(0));
    expect(compileToJs(m)(0, 0, 1, 0)).toBe(true);
    expect(maskInterval(m, box([0, 3], [0, 0]))).toBe('some');
    const mul = traceMaskMod((_b, _h, q) => q.mul(65536).mul(65536).eq(0)); // 2^32·q wraps to 0
    expect(maskInterval(mul, box([1, 3], [0, 0]))).not.toBe('none');
    const neg = traceMaskMod((_b, _h, q) => q.sub(2147483647).sub(1).neg().lt(0)); // -(-2^31) = -2^31
    expect(compileToJs(neg)(0, 0, 0, 0)).toBe(true);
    expect(maskInterval(neg, box([0, 0], [0, 0]))).not.toBe('none');
  });
  it('NaN in a captured table: comparisons on it are false there', () => {
    const t1 = capture(Float32Array.from([1, NaN, 2]), [3]);
    const m1 = traceMaskMod((_b, _h, _q, kv) => t1.at(kv).lt(5));
    expect(maskInterval(m1, box([0, 0], [0, 2]))).toBe('some');
    expect(maskInterval(m1, box([0, 0], [1, 1]))).not.toBe('all');
    expect(maskInterval(m1, box([0, 0], [2, 2]))).toBe('all');
    const t2 = capture(Float32Array.from([1, NaN, 2, 3]), [2, 2]);
    const m2 = traceMaskMod((_b, _h, q, kv) => t2.at(q, kv).lt(5));
    expect(maskInterval(m2, box([0, 1], [0, 1]))).toBe('some');
    expect(maskInterval(m2, box([1, 1], [0, 1]))).toBe('all');
  });
  it('a NaN constant (or one folded to NaN) mixed into a range: comparisons stay undecided, never false everywhere', () => {
    const viaWhere = traceMaskMod((_b, _h, q) => where(q.lt(2), q.toFloat(), NaN).lt(100));
    expect(compileToJs(viaWhere)(0, 0, 0, 0)).toBe(true);
    expect(maskInterval(viaWhere, box([0, 3], [0, 0]))).toBe('some');
    expect(maskInterval(viaWhere, box([2, 3], [0, 0]))).toBe('none');
    const folded = traceMaskMod((_b, _h, q) => q.toFloat().max(constant(-5e-324, 'f32').log2().neg()).ge(0).not()); // log2(−x) folds to NaN
    expect(maskInterval(folded, box([0, 3], [0, 0]))).not.toBe('none');
  });
  it('float mod rounds outside [0, b): no claim from the [0, b] bound', () => {
    // fmod(x, 1/3) = x − (1/3)·floor(3x) is slightly negative for x = 1 − 2^-53 in float64.
    const third = 1 / 3;
    const x = 1 - 2 ** -53;
    const m = traceMaskMod((_b, _h, q) => q.toFloat().mul(0).add(x).mod(third).ge(0));
    expect(compileToJs(m)(0, 0, 0, 0)).toBe(x - third * Math.floor(x / third) >= 0);
    if (!compileToJs(m)(0, 0, 0, 0)) expect(maskInterval(m, box([0, 0], [0, 0]))).not.toBe('all');
  });
  it('cached analyses see new table data after invalidate()', () => {
    const s = capture(Int32Array.from([3]), [1]);
    const m = traceMaskMod((_b, _h, q, kv) => q.sub(kv).le(s.at(0)));
    expect(maskInterval(m, box([10, 10], [0, 7]))).toBe('some');
    s.data[0] = 100;
    s.invalidate();
    expect(maskInterval(m, box([10, 10], [0, 7]))).toBe('all');
  });
});

describe('maskInterval precision on the masks that matter', () => {
  const box = (q: [number, number], kv: [number, number]): Box => ({ b: [0, 0], h: [0, 0], q, kv });
  const causal = traceMaskMod((_b, _h, q, kv) => q.ge(kv));

  it('causal: below the diagonal all, above none, on it some', () => {
    expect(maskInterval(causal, box([64, 127], [0, 63]))).toBe('all');
    expect(maskInterval(causal, box([0, 63], [64, 127]))).toBe('none');
    expect(maskInterval(causal, box([0, 63], [0, 63]))).toBe('some');
  });

  it('sliding window: inside the band all, far away none', () => {
    const win = traceMaskMod((_b, _h, q, kv) => q.sub(kv).abs().le(32));
    expect(maskInterval(win, box([100, 115], [100, 115]))).toBe('all'); // |q − kv| ≤ 15
    expect(maskInterval(win, box([0, 15], [100, 115]))).toBe('none'); // |q − kv| ≥ 85
    expect(maskInterval(win, box([0, 15], [30, 45]))).toBe('some');
  });

  it('document ids from a 1-D capture', () => {
    const ids = capture(Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]), [12], { name: 'doc' });
    const doc = traceMaskMod((_b, _h, q, kv) => ids.at(q).eq(ids.at(kv)));
    expect(maskInterval(doc, box([4, 7], [4, 7]))).toBe('all');
    expect(maskInterval(doc, box([0, 3], [8, 11]))).toBe('none');
    expect(maskInterval(doc, box([0, 5], [0, 5]))).toBe('some');
    // Out-of-range indices clamp to the edge (the documented load rule), and the analysis agrees.
    expect(maskInterval(doc, box([20, 30], [8, 11]))).toBe('all');
  });

  it('reads scalar values at call time', () => {
    const w = scalar(3, { dtype: 'i32' });
    const m = traceMaskMod((_b, _h, q, kv) => q.sub(kv).le(w));
    expect(maskInterval(m, box([10, 10], [0, 7]))).toBe('some');
    w.value = 100;
    expect(maskInterval(m, box([10, 10], [0, 7]))).toBe('all');
    w.value = -1;
    expect(maskInterval(m, box([10, 10], [0, 7]))).toBe('none');
  });

  it('rejects empty boxes and score mods', () => {
    expect(() => maskInterval(causal, box([5, 4], [0, 1]))).toThrow(OptionError);
    expect(() => maskInterval(traceScoreMod((s) => s), box([0, 1], [0, 1]))).toThrow(/needs a mask mod/);
  });
});
