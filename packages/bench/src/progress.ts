/**
 * The progress line on stderr: steps done, an ETA and the step running now. On a terminal it is one
 * line redrawn in place; in a log (CI) it is one line per step, plus a line every minute while a step
 * runs long (a WGSL compile on lavapipe can take minutes), so a stalled run is visible.
 *
 * cli-progress rather than our own `\r` writer: it handles terminal width, throttled redraws, hiding
 * and restoring the cursor (also on Ctrl-C) and the ETA buffer. The ETA is the average time per step
 * so far times the steps left (the buffer covers the whole run): steps are uneven — a first kernel
 * compile is slow, the float64 reference is slow — and a short moving window would swing with them.
 */
import cliProgress from 'cli-progress';

export type ProgressCallback = (done: number, total: number, label: string) => void;

/** Where progress goes: a stream with `isTTY` (process.stderr), or a test's stand-in. */
export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

const HEARTBEAT_MS = 60_000;

/** `4m 05s`, `12s`, or `…` before the first step has finished. */
export function formatEta(seconds: number | string): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '…';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * A ProgressCallback drawing on `stream`. The runner calls it before each step with the steps done,
 * and once more with done = total; a new total (the next phase, e.g. a peer's run) starts a new bar.
 */
export function progressLine(stream: ProgressStream): ProgressCallback {
  const tty = stream.isTTY === true;
  let bar: cliProgress.SingleBar | undefined;
  let total = -1;
  return (done, newTotal, label) => {
    if (!bar || newTotal !== total) {
      bar?.stop();
      total = newTotal;
      bar = new cliProgress.SingleBar({
        stream,
        format: (options, params, payload: { label: string }) => {
          const head = `[${cliProgress.Format.BarFormat(params.progress, options)}] ${params.value}/${params.total} ETA ${params.value === params.total ? '0s' : formatEta(params.eta)}`;
          // columns is 0 on a terminal that does not report its size
          const room = Math.max(10, (stream.columns || 120) - head.length - 3);
          return `${head}  ${payload.label.length > room ? `${payload.label.slice(0, room - 1)}…` : payload.label}`;
        },
        barsize: 24,
        hideCursor: tty,
        noTTYOutput: !tty,
        notTTYSchedule: HEARTBEAT_MS,
        etaBuffer: 1_000_000,
        gracefulExit: true,
        // in a log, no blank line after the last one
        clearOnComplete: !tty,
      });
      bar.start(total, done, { label }); // draws the first line
    } else {
      bar.update(done, { label });
      // a log gets a line per step (cli-progress alone writes one per notTTYSchedule); stop() draws the last
      if (!tty && done < total) bar.render();
    }
    if (done >= total) {
      bar.stop();
      bar = undefined;
    }
  };
}
