import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModOptionError } from '../errors';
import { expectMaskEquals, expectRetunable, maskFn } from '../test-utils';
import { neighborhood2d } from './neighborhood2d';

/** NATTEN's window start along one axis (get_window_start), transcribed. */
function windowStart(index: number, length: number, k: number, d: number): number {
  const ns = Math.floor(k / 2);
  if (d <= 1) return Math.max(index - ns, 0) + (index + ns >= length ? length - index - ns - 1 : 0);
  const ni = index - ns * d;
  if (ni < 0) return index % d;
  if (index + ns * d >= length) {
    const imodd = index % d;
    const a = Math.floor(length / d) * d;
    const b = length - a;
    return imodd < b ? length - b + imodd - 2 * ns * d : a + imodd - k * d;
  }
  return ni;
}
const inWindow = (i: number, j: number, n: number, k: number, d: number): boolean => {
  const s = windowStart(i, n, k, d);
  for (let t = 0; t < k; t++) if (s + t * d === j) return true;
  return false;
};

const caseArb = fc
  .record({ H: fc.integer({ min: 1, max: 9 }), W: fc.integer({ min: 1, max: 9 }), dh: fc.integer({ min: 1, max: 3 }), dw: fc.integer({ min: 1, max: 3 }), kh: fc.nat(4), kw: fc.nat(4) })
  .map(({ H, W, dh, dw, kh, kw }) => {
    const d = [Math.min(dh, H), Math.min(dw, W)] as const;
    const maxK = (n: number, di: number): number => Math.floor(n / di);
    const odd = (r: number, n: number, di: number): number => { const m = maxK(n, di); const k = 2 * (r % Math.ceil(m / 2)) + 1; return Math.min(k, m % 2 ? m : m - 1); };
    return { H, W, dilation: d, kernel: [odd(kh, H, d[0]), odd(kw, W, d[1])] as const };
  });

describe('neighborhood2d', () => {
  it('matches NATTEN window starts on every grid position, edges included (+ 2 padding tokens)', () => {
    fc.assert(
      fc.property(caseArb, ({ H, W, kernel, dilation }) => {
        const n = H * W;
        const ref = (_b: number, _h: number, q: number, kv: number): boolean =>
          q < n && kv < n &&
          inWindow(Math.floor(q / W), Math.floor(kv / W), H, kernel[0], dilation[0]) &&
          inWindow(q % W, kv % W, W, kernel[1], dilation[1]);
        expectMaskEquals(neighborhood2d({ height: H, width: W, kernel, dilation }), ref, { Lq: n + 2, Lkv: n + 2 });
      }),
      { numRuns: 80 },
    );
  });

  it('every query sees exactly kh·kw keys (windows shift at edges, never shrink)', () => {
    const f = maskFn(neighborhood2d({ height: 7, width: 10, kernel: [3, 5], dilation: [2, 1] }));
    for (let q = 0; q < 70; q++) {
      let count = 0;
      for (let kv = 0; kv < 70; kv++) count += f(0, 0, q, kv) ? 1 : 0;
      expect(count).toBe(15);
    }
  });

  it('retunes the grid and kernel without changing the hash', () => {
    const m = neighborhood2d({ height: 8, width: 8, kernel: [3, 3] });
    expectRetunable(m, 'mask', m.params.kernelW, 5, [0, 0, 0, 3]);
    expectRetunable(m, 'mask', m.params.width, 4, [0, 0, 0, 4]);
  });

  it('rejects even kernels, zero sizes and kernels larger than the grid', () => {
    const bad: [() => unknown, string][] = [
      [() => neighborhood2d({ height: 8, width: 8, kernel: [4, 3] }), 'kernel[0]'],
      [() => neighborhood2d({ height: 0, width: 8, kernel: [3, 3] }), 'height'],
      [() => neighborhood2d({ height: 8, width: 8, kernel: [3, 3], dilation: [1, 0] }), 'dilation[1]'],
      [() => neighborhood2d({ height: 8, width: 4, kernel: [3, 3], dilation: [1, 2] }), 'kernel'],
      [() => neighborhood2d({ height: 8, width: 8, kernel: [3] as never }), 'kernel'],
    ];
    for (const [fn, param] of bad) {
      expect(fn).toThrow(ModOptionError);
      expect(fn).toThrow(`'${param}'`);
    }
  });
});
