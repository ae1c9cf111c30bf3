import { describe, expect, it } from 'vitest';
import { assertClose, compareClose, unflatten } from './compare';
import { randomNormal, seededRandom } from './random';

describe('compareClose / assertClose', () => {
  it('applies |a − e| ≤ atol + rtol·|e| per element and reports the worst one', () => {
    const c = compareClose([1, 2.05, 3, 4.5], [1, 2, 3, 4], { atol: 0.01, rtol: 0.01 });
    expect(c.ok).toBe(false);
    expect(c.mismatches).toBe(2); // 2.05 (limit 0.03) and 4.5 (limit 0.05)
    expect(c.worstIndex).toBe(3);
    expect(c.maxAbsError).toBeCloseTo(0.5, 12);
    expect(c.maxRelError).toBeCloseTo(0.5 / 4, 12);
    expect(compareClose([1, 2.02], [1, 2], { atol: 0.01, rtol: 0.01 }).ok).toBe(true);
  });

  it('NaN never passes; infinities must match exactly', () => {
    expect(compareClose([NaN], [NaN], { atol: 1, rtol: 1 }).ok).toBe(false);
    expect(compareClose([-Infinity], [-Infinity], { atol: 0, rtol: 0 }).ok).toBe(true);
    expect(compareClose([1e300], [Infinity], { atol: 1, rtol: 1 }).ok).toBe(false);
    expect(compareClose([1, 2], [1], { atol: 1, rtol: 1 }).ok).toBe(false);
  });

  it('assertClose names the worst element by its index in the shape', () => {
    const t = { data: Float32Array.from([0, 0, 0, 0, 0, 7]), shape: [2, 3], dtype: 'f32' as const };
    expect(() => assertClose(t, new Float32Array(6), { atol: 1e-3, rtol: 0 }, 'out')).toThrow(/out: 1 element\(s\) out of tolerance.*at \[1, 2\]: got 7, expected 0/);
    expect(unflatten(23, [2, 3, 4])).toEqual([1, 2, 3]);
  });

  it('seeded randomness is deterministic and roughly standard normal', () => {
    expect(Array.from(randomNormal(5, 9))).toEqual(Array.from(randomNormal(5, 9)));
    const r = seededRandom(1);
    const u = Array.from({ length: 1000 }, r);
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    const x = randomNormal(20000, 3);
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
  });
});
