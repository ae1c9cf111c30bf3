/**
 * One measurement of the decode diagnostics (decode-diag.ts): `calls` calls with a GPU timestamp
 * pair per pass, the wall time of the batch, and the GPU clocks of its time window (gpu-clocks.ts).
 * All figures are per call:
 *   sum   summed pass durations (what measure() reported before it took the union)
 *   union time covered by the passes' intervals, overlaps once (what measure() reports)
 *   span  last pass end − first pass begin (includes gaps between submits)
 *   wall  first submit → completion seen by the host
 */
import { PassTimer, timestampTotalMs, type GpuContext } from '../src/index.js';
import { formatClocks, type ClockLog, type ClockStats } from './gpu-clocks.js';

export interface DiagLine {
  step: string;
  kernel: string;
  bufs: string;
  n: number;
  sumMs?: number;
  unionMs?: number;
  spanMs?: number;
  wallMs: number;
  passMin?: number;
  passMax?: number;
  clocks?: ClockStats;
  note?: string;
}

export type EncodeOne = (enc: GPUCommandEncoder, ts?: GPUComputePassTimestampWrites) => Promise<void>;

/**
 * Times `calls` calls of `encodeOne`: all in one command buffer and one submit, or (`perCall`) one
 * command buffer and submit each, queued without waiting in between as measure() queues a batch.
 */
export async function timeBatch(ctx: GpuContext, clocks: ClockLog, calls: number, perCall: boolean, encodeOne: EncodeOne): Promise<Omit<DiagLine, 'step' | 'kernel' | 'bufs'>> {
  const device = ctx.device;
  // a query set holds at most 4096 queries: longer batches go untimed on the GPU
  const timer = ctx.caps.timestampQuery && calls <= 2000 ? new PassTimer(device, 2 * calls + 2) : undefined;
  let t0: number;
  let w0: number;
  if (perCall) {
    t0 = performance.now();
    w0 = Date.now();
    for (let i = 0; i < calls; i++) {
      const enc = device.createCommandEncoder();
      await encodeOne(enc, timer?.writes());
      device.queue.submit([enc.finish()]);
    }
  } else {
    const enc = device.createCommandEncoder();
    for (let i = 0; i < calls; i++) await encodeOne(enc, timer?.writes());
    t0 = performance.now();
    w0 = Date.now();
    device.queue.submit([enc.finish()]);
  }
  await device.queue.onSubmittedWorkDone();
  const out: Omit<DiagLine, 'step' | 'kernel' | 'bufs'> = { n: calls, wallMs: (performance.now() - t0) / calls, clocks: clocks.between(w0, Date.now()) };
  if (timer) {
    const raw = await timer.read();
    const t = timer.pairs === calls ? timestampTotalMs(raw, calls, undefined, 1) : undefined;
    if (t) {
      const passes = Array.from({ length: calls }, (_, p) => Number(raw[2 * p + 1]! - raw[2 * p]!) / 1e6);
      let minBegin = raw[0]!;
      let maxEnd = raw[1]!;
      for (let p = 1; p < calls; p++) {
        if (raw[2 * p]! < minBegin) minBegin = raw[2 * p]!;
        if (raw[2 * p + 1]! > maxEnd) maxEnd = raw[2 * p + 1]!;
      }
      Object.assign(out, {
        sumMs: t.sumMs / calls,
        unionMs: t.ms / calls,
        spanMs: Number(maxEnd - minBegin) / 1e6 / calls,
        passMin: Math.min(...passes),
        passMax: Math.max(...passes),
      });
    } else out.note = 'timestamps unusable';
    timer.destroy();
  }
  return out;
}

/** `DIAG <step> <kernel> bufs=… n=… sum … (GB/s) union … (GB/s) span … wall … (GB/s) pass min..max  <clocks>  <note>` */
export function formatDiagLine(l: DiagLine, bytes: number): string {
  const gbps = (ms: number | undefined) => (ms ? Math.round(bytes / (ms * 1e6)).toString().padStart(5) : '    -');
  const fmt = (x: number | undefined) => (x === undefined ? '     -' : x.toFixed(4));
  return (
    `DIAG ${l.step.padEnd(22)} ${l.kernel.padEnd(24)} bufs=${l.bufs.padEnd(2)} n=${String(l.n).padEnd(4)} ` +
    `sum ${fmt(l.sumMs)} (${gbps(l.sumMs)}) union ${fmt(l.unionMs)} (${gbps(l.unionMs)}) span ${fmt(l.spanMs)} wall ${fmt(l.wallMs)} (${gbps(l.wallMs)})` +
    (l.passMin !== undefined ? ` pass ${l.passMin.toFixed(4)}..${l.passMax!.toFixed(4)}` : '') +
    (l.clocks ? `  ${formatClocks(l.clocks)}` : '') +
    (l.note ? `  ${l.note}` : '')
  );
}
