/**
 * GPU clocks, power and throttle reasons while the device scripts run: `nvidia-smi` in loop mode
 * (one sample every few ms, each with its own timestamp) in the background, so any measurement
 * can be given the clocks of its own time window. The decode pass measured 0.25 ms early in a
 * process and up to 0.56 ms later, and so did a bare read probe, which points at device state
 * (clocks, power) rather than at the kernel; a sample taken after a batch (GPU idle by then) cannot
 * tell. Without nvidia-smi (or on another vendor) the log is empty and says why.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface ClockSample {
  /** ms since the epoch, from nvidia-smi's own timestamp */
  t: number;
  sm: number;
  mem: number;
  watts: number;
  celsius: number;
  pstate: string;
  /** clocks_throttle_reasons.active bit mask */
  reasons: number;
}

export interface ClockStats {
  samples: number;
  smMin: number;
  smMean: number;
  smMax: number;
  memMean: number;
  wattsMean: number;
  celsiusMax: number;
  /** names of the throttle reasons seen in the window */
  reasons: string[];
}

export interface ClockLog {
  /** why there are no samples (empty while sampling works) */
  readonly note: string;
  readonly samples: readonly ClockSample[];
  /** statistics of the samples taken between two Date.now() values (undefined: none) */
  between(t0: number, t1: number): ClockStats | undefined;
  stop(): void;
}

// nvidia-smi's clocks_throttle_reasons bits (nvml.h nvmlClocksThrottleReason*)
const REASONS: [number, string][] = [
  [0x1, 'idle'], [0x2, 'app-clocks'], [0x4, 'sw-power-cap'], [0x8, 'hw-slowdown'], [0x10, 'sync-boost'],
  [0x20, 'sw-thermal'], [0x40, 'hw-thermal'], [0x80, 'hw-power-brake'], [0x100, 'display-clocks'],
];

export function reasonNames(mask: number): string[] {
  return REASONS.filter(([bit]) => (mask & bit) !== 0).map(([, name]) => name);
}

const QUERY = 'timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,pstate,clocks_throttle_reasons.active';

/** One csv line of the query above (noheader, nounits); undefined when it does not parse. */
export function parseClockLine(line: string): ClockSample | undefined {
  const f = line.split(',').map((x) => x.trim());
  if (f.length < 7) return undefined;
  // "2026/11/25 13:20:01.123" in the machine's local time, as Date reads an ISO time without zone
  const t = Date.parse(f[0]!.replace(/\//g, '-').replace(' ', 'T'));
  const [sm, mem, watts, celsius] = f.slice(1, 5).map(Number) as [number, number, number, number];
  const reasons = Number.parseInt(f[6]!, 16);
  if (!Number.isFinite(t) || !Number.isFinite(sm) || !Number.isFinite(mem)) return undefined;
  return { t, sm, mem, watts, celsius, pstate: f[5]!, reasons: Number.isFinite(reasons) ? reasons : 0 };
}

export function clockStats(samples: readonly ClockSample[]): ClockStats | undefined {
  if (!samples.length) return undefined;
  const sms = samples.map((s) => s.sm);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    samples: samples.length,
    smMin: Math.min(...sms),
    smMean: mean(sms),
    smMax: Math.max(...sms),
    memMean: mean(samples.map((s) => s.mem)),
    wattsMean: mean(samples.map((s) => s.watts)),
    celsiusMax: Math.max(...samples.map((s) => s.celsius)),
    reasons: reasonNames(samples.reduce((m, s) => m | s.reasons, 0)),
  };
}

/** `sm 1410..1980 (1702) MHz mem 2619 310 W 45 C [idle]`, or '' without samples. */
export function formatClocks(s: ClockStats | undefined): string {
  if (!s) return '';
  return `sm ${s.smMin}..${s.smMax} (${Math.round(s.smMean)}) MHz mem ${Math.round(s.memMean)} ${Math.round(s.wattsMean)} W ${s.celsiusMax} C [${s.reasons.join(',')}]`;
}

/** Starts sampling every `intervalMs` (nvidia-smi -lms). */
export function startClockLog(intervalMs = 20): ClockLog {
  const samples: ClockSample[] = [];
  let note = '';
  let child: ChildProcess | undefined;
  try {
    child = spawn('nvidia-smi', [`--query-gpu=${QUERY}`, '--format=csv,noheader,nounits', `-lms`, String(intervalMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let rest = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) {
        const s = parseClockLine(l);
        if (s) samples.push(s);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      note ||= `nvidia-smi: ${chunk.trim().split('\n')[0]}`;
    });
    child.on('error', (e) => {
      note = `nvidia-smi unavailable (${e.message.split('\n')[0]})`;
    });
    // never keep the process alive for the sampler
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stderr as unknown as { unref?: () => void }).unref?.();
  } catch (e) {
    note = `nvidia-smi unavailable (${(e as Error).message})`;
  }
  return {
    get note() {
      return note || (samples.length ? '' : 'no samples yet');
    },
    samples,
    between: (t0, t1) => clockStats(samples.filter((s) => s.t >= t0 && s.t <= t1)),
    stop: () => {
      child?.kill();
    },
  };
}
