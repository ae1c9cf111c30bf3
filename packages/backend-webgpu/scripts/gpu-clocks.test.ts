import { describe, expect, it } from 'vitest';
import { clockStats, formatClocks, parseClockLine, reasonNames, startClockLog } from './gpu-clocks.js';

describe('nvidia-smi clock log', () => {
  it('parses loop-mode csv lines (noheader, nounits) and summarizes a window', () => {
    const a = parseClockLine('2026/11/25 13:20:01.123, 1305, 2619, 119.18, 34, P0, 0x0000000000000001')!;
    const b = parseClockLine('2026/11/25 13:20:01.143, 1980, 2619, 402.50, 41, P0, 0x0000000000000004')!;
    expect(b.t - a.t).toBe(20);
    expect(a).toMatchObject({ sm: 1305, mem: 2619, watts: 119.18, celsius: 34, pstate: 'P0', reasons: 1 });
    expect(parseClockLine('[N/A], 1305')).toBeUndefined();
    expect(parseClockLine('2026/11/25 13:20:01.123, [N/A], 2619, 1, 1, P0, 0x0')).toBeUndefined();
    const s = clockStats([a, b])!;
    expect(s).toMatchObject({ samples: 2, smMin: 1305, smMax: 1980, smMean: 1642.5, celsiusMax: 41, reasons: ['idle', 'sw-power-cap'] });
    expect(formatClocks(s)).toBe('sm 1305..1980 (1643) MHz mem 2619 261 W 41 C [idle,sw-power-cap]');
    expect(clockStats([])).toBeUndefined();
    expect(formatClocks(undefined)).toBe('');
    expect(reasonNames(0x48)).toEqual(['hw-slowdown', 'hw-thermal']);
  });

  it('says why when there is no nvidia-smi, and windows without samples give nothing', async () => {
    const log = startClockLog(50);
    await new Promise((r) => setTimeout(r, 300));
    log.stop();
    if (log.samples.length) return; // a machine with an NVIDIA GPU: sampling works
    expect(log.note).toMatch(/nvidia-smi|no samples/);
    expect(log.between(0, Date.now())).toBeUndefined();
  });
});
