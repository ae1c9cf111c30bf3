// measure()'s GPU timestamps: the validity rules of timestampTotalMs, and on lavapipe the
// timestamp path, the opt-out, and the fallback to wall time when Dawn quantizes timestamps.
import { describe, expect, it } from 'vitest';
import { randomTensor } from '@flexattn/ir/testing';
import { createWebGPUBackend } from './index.js';
import { timestampTotalMs } from './timing.js';
import { testDevice } from './gpu.test-helpers.js';

const ns = (xs: number[]) => xs.map((x) => BigInt(x));

describe('timestampTotalMs', () => {
  it('sums the durations of passes that do not overlap', () => {
    const r = timestampTotalMs(ns([1_000_003, 1_500_007, 1_600_011, 2_600_013]), 2, 10);
    expect(r?.ms).toBeCloseTo(1.500006, 9);
    expect(r?.sumMs).toBeCloseTo(1.500006, 9);
    expect(r?.quantumNs).toBe(1);
  });
  it('counts overlapping intervals once (a pass whose begin was taken while the previous one ran)', () => {
    // ~[1.0, 1.5] ms, [1.2, 2.0] ms (begins inside the first), [2.5, 3.0] ms after a gap, [2.6, 2.8] inside it
    const raw = [1_000_003, 1_500_007, 1_200_011, 2_000_013, 2_500_017, 3_000_019, 2_600_023, 2_800_029];
    const r = timestampTotalMs(ns(raw), 4, 10);
    expect(r?.ms).toBeCloseTo((2_000_013 - 1_000_003 + 3_000_019 - 2_500_017) / 1e6, 9);
    expect(r?.sumMs).toBeCloseTo((500_004 + 800_002 + 500_002 + 200_006) / 1e6, 9);
    // listed out of order: the same union
    expect(timestampTotalMs(ns([...raw.slice(4), ...raw.slice(0, 4)]), 4, 10)?.ms).toBeCloseTo(r!.ms, 9);
  });
  it('rejects missing, zero, reversed and too few values', () => {
    expect(timestampTotalMs(ns([0, 1_000_000]), 1)).toBeUndefined();
    expect(timestampTotalMs(ns([1_000_000, 0]), 1)).toBeUndefined();
    expect(timestampTotalMs(ns([2_000_000, 1_000_000]), 1)).toBeUndefined();
    expect(timestampTotalMs(ns([5, 5]), 1)).toBeUndefined();
    expect(timestampTotalMs(ns([1, 2, 3]), 2)).toBeUndefined();
    expect(timestampTotalMs([], 0)).toBeUndefined();
  });
  it('rejects quantization too coarse for the measured time, accepts it for long passes', () => {
    const q = 65536;
    // 16 passes of ~0.2 ms under 65.5 µs ticks: rounding could move the total by far more than 5%
    const short = ns(Array.from({ length: 32 }, (_, i) => q * (1000 + Math.floor(i / 2) * 4 + (i % 2) * 3)));
    expect(timestampTotalMs(short, 16)).toBeUndefined();
    // 4 passes of ~30 ms: fine
    const long = ns(Array.from({ length: 8 }, (_, i) => q * (1001 + Math.floor(i / 2) * 500 + (i % 2) * 457)));
    const r = timestampTotalMs(long, 4);
    expect(r?.quantumNs).toBe(q);
    expect(r?.ms).toBeCloseTo((4 * 457 * q) / 1e6, 6);
  });
  it('rejects device time far beyond the wall clock', () => {
    expect(timestampTotalMs(ns([1_000_001, 101_000_003]), 1, 20)).toBeUndefined();
    expect(timestampTotalMs(ns([1_000_001, 101_000_003]), 1, 120)?.ms).toBeCloseTo(100.000002, 9);
  });
});

const ctx = await testDevice();
describe.skipIf(typeof ctx === 'string' || !ctx.caps.timestampQuery)('measure() with timestamp-query', () => {
  const device = typeof ctx === 'string' ? undefined : ctx.device;
  const q = randomTensor([1, 2, 40, 16], 'f32', 1), k = randomTensor([1, 2, 300, 16], 'f32', 2), v = randomTensor([1, 2, 300, 16], 'f32', 3);
  const dOut = randomTensor([1, 2, 40, 16], 'f32', 4);

  it('times passes on the GPU (and wall time when told not to)', async () => {
    const be = await createWebGPUBackend({ device });
    be.timestampQuantTolerance = 1e-4;
    for (const pass of ['fwd', 'both'] as const) {
      const r = await be.measure(q, k, v, {}, { pass, warmup: 1, iterations: 2, dOut });
      expect(r.timer).toBe('gpu-timestamps');
      expect(r.ms.every((x) => Number.isFinite(x) && x > 0)).toBe(true);
    }
    be.dispose();
    const wall = await createWebGPUBackend({ device, timestamps: false });
    expect((await wall.measure(q, k, v, {}, { pass: 'fwd', warmup: 1, iterations: 2 })).timer).toBe('wall');
    wall.dispose();
  });

  it("falls back to wall time under Dawn's default timestamp quantization", async () => {
    const name = 'webgpu';
    const dawn = (await import(/* @vite-ignore */ name)) as { create(o: string[]): GPU };
    const be = await createWebGPUBackend({ gpu: dawn.create([]), powerPreference: 'low-power' });
    if (!be.timestamps) return be.dispose();
    // rounding to 65.5 µs ticks may not move the total by more than 1e-4 of it: only passes of
    // seconds would qualify, so this falls back; unquantized nanosecond ticks pass the same rule
    be.timestampQuantTolerance = 1e-4;
    const r = await be.measure(q, k, v, {}, { pass: 'fwd', warmup: 1, iterations: 2 });
    expect(r.timer).toBe('wall');
    expect(r.ms.every((x) => Number.isFinite(x) && x > 0)).toBe(true);
    be.dispose();
  });
});
