import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gradScore } from './derive';
import { compileToJs, evaluate } from './evaluate';
import { graphArbitraries, modPointArbitrary, paramsArbitrary, showAst, traceScoreAst } from './random-graphs.test-helpers';
import { traceScoreMod } from './trace';

/**
 * Central differences at two step sizes: where they agree the function is smooth around the point
 * (no kink, jump or branch switch within ±h), and their difference estimates the FD error.
 */
function centralDifference(f: (x: number) => number, x: number): { value: number; error: number } | undefined {
  const h = 1e-4 * Math.max(1, Math.abs(x));
  const [f0, fp, fm] = [f(x), f(x + h), f(x - h)];
  const d1 = (fp - fm) / (2 * h);
  const d2 = (f(x + h / 2) - f(x - h / 2)) / h;
  if (!Number.isFinite(d1) || !Number.isFinite(d2) || !Number.isFinite(f0)) return undefined;
  // Round-off of f near x, amplified by 1/h.
  const roundoff = (4 * Number.EPSILON * Math.max(Math.abs(f0), Math.abs(fp), Math.abs(fm), 1e-300)) / h;
  // A symmetric kink (|x| at 0) fools the two central differences; one-sided slopes expose it.
  const [right, left] = [(fp - f0) / h, (f0 - fm) / h];
  if (Math.abs(right - left) > 1e-2 * Math.max(Math.abs(right), Math.abs(left)) + 1e-9 + 2 * roundoff) return undefined;
  return { value: d2, error: Math.abs(d1 - d2) + roundoff };
}

describe('gradScore = finite differences on random score mods (fast-check)', () => {
  const point = modPointArbitrary({ score: fc.double({ min: -3, max: 3, noNaN: true }), maxHead: 3, maxPosition: 12 });

  const run = (opts: { params: boolean; smooth: boolean }, numRuns: number, seed: number) => {
    let compared = 0;
    let samples = 0;
    fc.assert(
      fc.property(graphArbitraries({ score: true, ...opts }).float, paramsArbitrary(), fc.array(point, { minLength: 1, maxLength: 5 }), (ast, params, points) => {
        const mod = traceScoreAst(ast, params);
        const f = compileToJs(mod) as (...a: number[]) => number;
        const grad = gradScore(mod);
        for (const x of points) {
          samples++;
          const g = evaluate(grad, x) as number;
          const fd = centralDifference((s) => f(s, x.b, x.h, x.q, x.kv), x.score);
          if (!fd || !Number.isFinite(g)) continue; // non-finite sample: skipped
          // Ill-conditioned: e.g. mod(a, score) with a/score beyond 2^53 is numerically flat while its
          // true derivative −floor(a/score) is astronomical. No finite difference can judge that.
          // Likewise floor(x) for |x| ≫ 1 is numerically the identity: keep to moderate magnitudes.
          if (Math.abs(g) > 1e6 || Math.abs(fd.value) > 1e6) continue;
          // Not smooth here (a branch switches or the FD is too noisy to judge): skipped.
          if (fd.error > 1e-3 * Math.max(1, Math.abs(fd.value))) continue;
          compared++;
          const tol = 20 * fd.error + 1e-6 * Math.max(1, Math.abs(fd.value));
          if (!(Math.abs(g - fd.value) <= tol)) {
            throw new Error(`d/dscore of ${showAst(ast)} at ${JSON.stringify(x)}: gradScore ${g}, finite difference ${fd.value} (±${fd.error})`);
          }
        }
      }),
      { numRuns, seed },
    );
    return { compared, samples };
  };

  it('smooth grammar (guarded domains): add/sub/mul/div/pow/min/max/abs/where/exp/exp2/log/log2/tanh/sigmoid/sqrt/rsqrt', () => {
    const { compared, samples } = run({ params: false, smooth: true }, 1500, 1234);
    expect(compared / samples).toBeGreaterThan(0.8); // the comparison is not vacuous
  });

  it('with captured tensors and scalars in the graph', () => {
    const { compared, samples } = run({ params: true, smooth: true }, 800, 99);
    expect(compared / samples).toBeGreaterThan(0.7);
  });

  it('full grammar (unguarded log/sqrt/pow/div/mod/floor), where it is smooth and finite', () => {
    const { compared, samples } = run({ params: true, smooth: false }, 1500, 2024);
    expect(compared / samples).toBeGreaterThan(0.5);
  });

  it('hand-picked derivatives', () => {
    const at = (fn: Parameters<typeof traceScoreMod>[0], s: number) => evaluate(gradScore(traceScoreMod(fn)), { score: s, b: 0, h: 0, q: 0, kv: 0 });
    expect(at((s) => s.div(2).tanh().mul(2), 0.3)).toBeCloseTo(1 - Math.tanh(0.15) ** 2, 14);
    expect(at((s) => s.mul(s).mul(s), 2)).toBe(12);
    expect(at((s) => s.pow(3), 2)).toBeCloseTo(12, 12);
    expect(at((s) => s.sigmoid(), 0)).toBe(0.25);
    expect(at((s) => s.add(5), 1)).toBe(1);
    expect(at((_s, _b, _h, q) => q.toFloat(), 1)).toBe(0); // no dependence on the score
    expect(at((s) => s.max(0), -1)).toBe(0);
    expect(at((s) => s.max(0), 1)).toBe(1);
    expect(at((s) => s.abs(), -3)).toBe(-1);
  });

  it('a zero derivative never multiplies an infinite value into NaN', () => {
    // d/dscore of (score + c·q) where c·q may be inf: the c·q term has no score in it, so no 0·inf.
    const g = gradScore(traceScoreMod((s, _b, _h, q) => s.add(q.toFloat().mul(Infinity))));
    expect(evaluate(g, { score: 1, b: 0, h: 0, q: 0, kv: 0 })).toBe(1);
  });
});
