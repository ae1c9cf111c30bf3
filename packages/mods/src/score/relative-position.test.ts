import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModOptionError } from '../errors';
import { expectCaptureGradsMatchFiniteDifferences, expectScoreClose, scoreFn } from '../test-utils';
import { relativePosition } from './relative-position';

const pointArb = fc.tuple(fc.double({ min: -20, max: 20, noNaN: true }), fc.nat(2), fc.nat(3), fc.nat(60), fc.nat(60));

describe('relativePosition', () => {
  it('plain: score + (q − kv)', () => {
    fc.assert(fc.property(fc.array(pointArb, { minLength: 1, maxLength: 30 }), (pts) => {
      expectScoreClose(relativePosition(), (s, _b, _h, q, kv) => s + (q - kv), pts);
    }));
  });

  it('table: score + table[clamped distance], shared or per head', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.array(pointArb, { minLength: 30, maxLength: 30 }), (M, H, perHead, pts) => {
        const width = 2 * M + 1;
        const table = Float32Array.from({ length: (perHead ? H : 1) * width }, (_, i) => Math.fround(Math.sin(i * 1.7)));
        const bias = (h: number, d: number): number => {
          const clipped = d < -M ? -M : d > M ? M : d;
          return table[(perHead ? h * width : 0) + clipped + M]!;
        };
        const mod = relativePosition({ table, maxDistance: M, numHeads: perHead ? H : undefined });
        expectScoreClose(mod, (s, _b, h, q, kv) => s + bias(h, q - kv), pts.map(([s, b, h, q, kv]) => [s, b, h % H, q, kv] as const));
      }),
    );
  });

  it('table gradients match finite differences (shared and per head)', async () => {
    const shared = relativePosition({ table: Float32Array.from([0.1, -0.3, 0.2, 0.5, -0.1]), maxDistance: 2 });
    await expectCaptureGradsMatchFiniteDifferences(shared, [shared.params.table], { H: 2, Lq: 5, Lkv: 7 });
    const perHead = relativePosition({ table: Float32Array.from({ length: 6 }, (_, i) => 0.1 * i - 0.2), maxDistance: 1, numHeads: 2 });
    await expectCaptureGradsMatchFiniteDifferences(perHead, [perHead.params.table], { H: 2, Lq: 4, Lkv: 6, seed: 9 });
  });

  it('table data changes results, not the hash', () => {
    const m = relativePosition({ table: [0, 1, 2], maxDistance: 1 });
    const before = scoreFn(m);
    expect(before(0, 0, 0, 5, 4)).toBe(2);
    m.params.table.data[2] = 7;
    m.params.table.invalidate();
    expect(before(0, 0, 0, 5, 4)).toBe(7);
    expect(scoreFn(m).traced.hash).toBe(before.traced.hash);
  });

  it('rejects tables of the wrong size and bad distances', () => {
    const bad: [() => unknown, string][] = [
      [() => relativePosition({ table: new Float32Array(4), maxDistance: 2 }), 'table'],
      [() => relativePosition({ table: new Float32Array(5), maxDistance: 2, numHeads: 2 }), 'table'],
      [() => relativePosition({ table: new Float32Array(5), maxDistance: -1 }), 'maxDistance'],
      [() => relativePosition({ table: new Float32Array(5), maxDistance: 1.5 }), 'maxDistance'],
      [() => relativePosition({ table: new Float32Array(5), maxDistance: 2, numHeads: 0 }), 'numHeads'],
    ];
    for (const [fn, param] of bad) {
      expect(fn).toThrow(ModOptionError);
      expect(fn).toThrow(`'${param}'`);
    }
  });
});
