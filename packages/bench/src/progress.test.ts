import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatEta, progressLine } from './progress';

/** A stream that keeps what is written, as a terminal (isTTY) or as a log. */
function capture(tty: boolean, columns = 80) {
  let text = '';
  const stream = Object.assign(new Writable({ write: (chunk: Buffer, _enc, done) => ((text += chunk.toString()), done()) }), { isTTY: tty, columns });
  return { stream, text: () => text };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('progress line', () => {
  it('formats an ETA in s, m s or h m, and … before there is a rate', () => {
    expect(formatEta(0)).toBe('0s');
    expect(formatEta(59.4)).toBe('59s');
    expect(formatEta(245)).toBe('4m 05s');
    expect(formatEta(3 * 3600 + 7 * 60)).toBe('3h 07m');
    expect(formatEta('NULL')).toBe('…');
    expect(formatEta(Infinity)).toBe('…');
  });

  it('in a log: one line per step, the ETA from the average step so far', async () => {
    const out = capture(false);
    const progress = progressLine(out.stream);
    const start = performance.now();
    progress(0, 3, 'step 0');
    await sleep(1200);
    const firstStep = (performance.now() - start) / 1000;
    progress(1, 3, 'step 1');
    progress(2, 3, 'step 2');
    progress(3, 3, 'done');
    const lines = out.text().trimEnd().split('\n');
    expect(lines.length).toBe(4);
    expect(lines[0]).toMatch(/ 0\/3 ETA … {2}step 0$/);
    // one step took firstStep seconds: two steps left take twice that (rounded up to a second)
    const eta = Number(/ 1\/3 ETA (\d+)s {2}step 1$/.exec(lines[1]!)![1]);
    expect(eta).toBeGreaterThanOrEqual(Math.ceil(2 * 1.2));
    expect(eta).toBeLessThanOrEqual(Math.ceil(2 * firstStep) + 1);
    expect(lines[3]).toMatch(/ 3\/3 ETA 0s {2}done$/);
  });

  it('on a terminal: one line redrawn in place, the step cut to the width', () => {
    const out = capture(true, 60);
    const progress = progressLine(out.stream);
    progress(0, 2, `webgpu: ${'sliding_window_causal '.repeat(4)}`);
    progress(1, 2, 'webgpu: causal');
    progress(2, 2, 'done');
    const text = out.text();
    expect(text).toContain('\x1b[?25l'); // cursor hidden while drawing, shown again after
    expect(text).toContain('\x1b[?25h');
    // each redraw starts with "cursor to column 1" (ESC [1G); strip the other escape sequences
    const drawn = text.split('\x1b[1G').map((l) => l.replace(/\x1b\[[\d;?]*[A-Za-z]|\x1b[78]/g, '')); // eslint-disable-line no-control-regex
    const first = drawn.find((l) => l.includes('0/2'))!;
    expect(first.trimEnd().length).toBeLessThanOrEqual(60);
    expect(first).toMatch(/ 0\/2 ETA … {2}webgpu: sliding_wind…$/);
    expect(drawn.some((l) => l.includes('2/2 ETA 0s  done'))).toBe(true);
    // a terminal that does not report its width (columns 0) is taken as 120 wide, not as no room
    const unsized = capture(true, 0);
    const unsizedProgress = progressLine(unsized.stream);
    unsizedProgress(0, 1, 'webgpu: sliding_window_causal B2 H16 L8192 D128 bf16');
    unsizedProgress(1, 1, 'done');
    expect(unsized.text()).toContain('webgpu: sliding_window_causal B2 H16 L8192 D128 bf16');
  });
});
