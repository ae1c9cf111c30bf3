import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stats } from '../stats';
import { formatDuration, formatNumber, formatRate, formatValue, rateSpread, readableRateUnit } from './format';

const PREFIX_POWER: Record<string, number> = { T: 12, G: 9, M: 6, k: 3, '': 0 };

describe('report number formats', () => {
  it('writes three significant digits with digit grouping and never an exponent', () => {
    expect(formatNumber(1700)).toBe('1,700');
    expect(formatNumber(1734.56)).toBe('1,730');
    expect(formatNumber(0.000140)).toBe('0.000140');
    expect(formatNumber(1)).toBe('1.00');
    expect(formatNumber(undefined)).toBe('—');
    expect(formatNumber(NaN)).toBe('—');
    expect(formatValue(1.6, '×')).toBe('1.60×');
    expect(formatValue(1700, 'GB/s')).toBe('1,700 GB/s');
    fc.assert(
      fc.property(fc.double({ min: 1e-6, max: 1e9, noNaN: true }), (x) => {
        const text = formatNumber(x);
        expect(text).not.toMatch(/e/i);
        // reads back within the rounding of three significant digits
        expect(Math.abs(Number(text.replaceAll(',', '')) - x) / x).toBeLessThanOrEqual(0.005 + 1e-12);
      }),
    );
  });

  it('writes durations in the unit that keeps them between 1 and 1000', () => {
    expect(formatDuration(0.8235)).toBe('824 µs');
    expect(formatDuration(14.5)).toBe('14.5 ms');
    expect(formatDuration(1234)).toBe('1.23 s');
    fc.assert(
      fc.property(fc.double({ min: 1e-4, max: 1e6, noNaN: true }), (ms) => {
        const [, number, unit] = /^([\d.,]+) (µs|ms|s)$/.exec(formatDuration(ms))!;
        const back = Number(number!.replaceAll(',', '')) * { µs: 1e-3, ms: 1, s: 1e3 }[unit as 'µs' | 'ms' | 's'];
        expect(Math.abs(back - ms) / ms).toBeLessThanOrEqual(0.005 + 1e-12);
        if (ms < 1e5) expect(Number(number!.replaceAll(',', ''))).toBeLessThan(1000.5);
      }),
    );
  });

  it('steps a rate unit down until the largest value reads at least 1, keeping the quantity', () => {
    expect(readableRateUnit('TFLOP/s', 0.000140)).toEqual({ unit: 'MFLOP/s', factor: 1e6 });
    expect(readableRateUnit('TFLOP/s', 276)).toEqual({ unit: 'TFLOP/s', factor: 1 });
    expect(readableRateUnit('GB/s', 1700)).toEqual({ unit: 'GB/s', factor: 1 });
    expect(readableRateUnit('GB/s', 0.00897)).toEqual({ unit: 'MB/s', factor: 1e3 });
    expect(formatRate(0.000435, 'TFLOP/s')).toBe('435 MFLOP/s');
    expect(formatRate(1700, 'GB/s')).toBe('1,700 GB/s');
    expect(formatRate(undefined, 'GB/s')).toBe('—');
    fc.assert(
      fc.property(fc.double({ min: 1e-14, max: 1e4, noNaN: true }), fc.constantFrom('TFLOP/s', 'GB/s'), (max, unit) => {
        const r = readableRateUnit(unit, max);
        const [from, to] = [PREFIX_POWER[unit[0]!]!, PREFIX_POWER[r.unit.slice(0, r.unit.length - unit.length + 1)]!];
        expect(r.factor).toBeCloseTo(10 ** (from - to), 6);
        expect(r.unit.endsWith(unit.slice(1))).toBe(true);
        if (to > 0) expect(max * r.factor).toBeGreaterThanOrEqual(1);
        if (to < from) expect(max * r.factor).toBeLessThan(1000);
      }),
    );
  });

  it('turns the p10–p90 of the times into the spread of a rate: work / p90 to work / p10', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0.01, max: 100, noNaN: true }), { minLength: 1, maxLength: 30 }), fc.double({ min: 1, max: 1e6, noNaN: true }), (times, work) => {
        const t = stats(times);
        const spread = rateSpread(work / t.median, t)!;
        expect(spread.lo).toBeCloseTo(work / t.p90, 6);
        expect(spread.hi).toBeCloseTo(work / t.p10, 6);
        expect(spread.lo).toBeLessThanOrEqual(work / t.median + 1e-9);
        expect(spread.hi).toBeGreaterThanOrEqual(work / t.median - 1e-9);
      }),
    );
    expect(rateSpread(undefined, stats([1]))).toBe(undefined);
  });
});
