/**
 * `sweep --diag`: why the same decode pipeline measured 0.26 ms first in the sweep process and
 * 0.6–0.73 ms later in it or in the bench (B8 Hq32/Hkv8 Lq1 Lkv8192 D128, f32). Each step changes
 * one thing and prints one line per measurement:
 *   DIAG <step> <kernel> bufs=<set> n=<calls> sum <ms> (<GB/s>) union <ms> (<GB/s>) span <ms> wall <ms> (<GB/s>) pass <min>..<max> ms
 * (all per call) sum = summed pass durations (what measure() reported before: overlapping
 * intervals count twice); union = time covered by the passes' intervals (what measure() reports
 * now); span = last pass end − first pass begin; wall = first submit → done. One command buffer
 * holds all n calls unless the step says 'submit per call'. GB/s are of f32 K+V read (537 MB at
 * the full shape).
 * kernels: decode variants through the Engine (the backend's own dispatch), and a bandwidth probe
 * that reads the same K and V buffers with no math (bandwidth-probe.ts), so buffer effects (placement,
 * paging, residency) and kernel effects can be told apart.
 * Steps: 1 first buffers of the process · 2 a second set while the first lives · 3 a set allocated
 * after freeing one · 4 after a slow kernel ran (the sweep's 'tiles' variant) · 5 after allocation
 * churn (12 × 512 MiB) · 6 a fresh Engine (pipelines rebuilt) · 7 measure() as the sweep and bench call
 * it · 8 one submit per call (measure()'s pattern) vs one command buffer · 9 split counts · 10 clocks under load
 * (nvidia-smi, when present) · 11 the first measurement again at the end (drift).
 */
import { execFile } from 'node:child_process';
import type { Tensor } from '@flexattn/ir';
import { Engine, PassTimer, renderMods, timestampTotalMs, WebGPUBackend, type AttnShape, type GpuContext, type Tuning } from '../src/index.js';
import { U } from '../src/engine.js';
import { createProbe, type Probe, type ProbePattern } from './bandwidth-probe.js';

interface Line {
  step: string;
  kernel: string;
  bufs: string;
  n: number;
  /** summed pass durations / n */
  gpuMs?: number;
  /** time covered by the passes (overlaps once: what measure() reports) / n */
  unionMs?: number;
  /** last end − first begin / n */
  spanMs?: number;
  wallMs: number;
  passMin?: number;
  passMax?: number;
  note?: string;
}

interface BufSet {
  name: string;
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  out: GPUBuffer;
  lse: GPUBuffer;
}

export interface DiagInput {
  ctx: GpuContext;
  shape: AttnShape;
  /** host data of q, k, v (uploaded into each buffer set) */
  host: { q: Tensor; k: Tensor; v: Tensor };
  /** calls per measurement */
  n: number;
  /** step 5 allocates and clears 12 buffers of this many MiB, one at a time */
  churnMiB: number;
  log: (line: string) => void;
}

const HOOKS = renderMods(undefined, undefined).hooks;

export async function decodeDiag(d: DiagInput): Promise<Line[]> {
  const { ctx, shape: s, n } = d;
  const device = ctx.device;
  const kvBytes = s.B * s.Hkv * s.Lkv * (s.E + s.Ev) * 4;
  const lines: Line[] = [];
  const gbps = (ms: number | undefined) => (ms ? ((kvBytes / (ms * 1e6)) | 0).toString().padStart(5) : '    -');
  const fmt = (x: number | undefined) => (x === undefined ? '     -' : x.toFixed(4));
  const record = (l: Line) => {
    lines.push(l);
    d.log(
      `DIAG ${l.step.padEnd(22)} ${l.kernel.padEnd(24)} bufs=${l.bufs.padEnd(2)} n=${String(l.n).padEnd(4)} sum ${fmt(l.gpuMs)} (${gbps(l.gpuMs)}) union ${fmt(l.unionMs)} (${gbps(l.unionMs)}) span ${fmt(l.spanMs)} wall ${fmt(l.wallMs)} (${gbps(l.wallMs)})` +
        (l.passMin !== undefined ? ` pass ${l.passMin.toFixed(4)}..${l.passMax!.toFixed(4)}` : '') +
        (l.note ? `  ${l.note}` : ''),
    );
  };

  // ---- buffers ----
  const all: GPUBuffer[] = [];
  const buffer = (bytes: number, label: string, usage: number = U.STORAGE | U.COPY_DST) => {
    const b = device.createBuffer({ size: Math.max(16, bytes), usage, label });
    all.push(b);
    return b;
  };
  const upload = (t: Tensor, label: string) => {
    const data = t.data as Float32Array<ArrayBuffer>;
    const b = buffer(data.byteLength, label);
    // in pieces of 16 Mi floats: one writeBuffer of 268 MB would need as much staging at once
    const piece = 16 << 20;
    for (let i = 0; i < data.length; i += piece) device.queue.writeBuffer(b, i * 4, data.subarray(i, Math.min(data.length, i + piece)));
    return b;
  };
  const newSet = async (name: string): Promise<BufSet> => {
    const set = {
      name,
      q: upload(d.host.q, `${name}.q`),
      k: upload(d.host.k, `${name}.k`),
      v: upload(d.host.v, `${name}.v`),
      out: buffer(s.B * s.Hq * s.Lq * s.Ev * 4, `${name}.out`, U.STORAGE | U.COPY_SRC),
      lse: buffer(s.B * s.Hq * s.Lq * 4, `${name}.lse`, U.STORAGE | U.COPY_SRC),
    };
    await device.queue.onSubmittedWorkDone();
    return set;
  };
  const free = (set: BufSet) => [set.q, set.k, set.v, set.out, set.lse].forEach((b) => b.destroy());

  // ---- timing ----
  /**
   * `calls` calls with GPU timestamps per pass (where available): encoded into one command buffer
   * and submitted once, or (`perCall`) one command buffer and submit per call, queued without
   * waiting in between as measure() does; wall time from the first submit to completion.
   */
  const time = async (
    step: string, kernel: string, bufs: string,
    encodeOne: (enc: GPUCommandEncoder, ts?: GPUComputePassTimestampWrites) => Promise<void>,
    calls = n, perCall = false, note?: string,
  ) => {
    const timer = ctx.caps.timestampQuery ? new PassTimer(device, 2 * calls + 2) : undefined;
    let t0: number;
    if (perCall) {
      t0 = performance.now();
      for (let i = 0; i < calls; i++) {
        const enc = device.createCommandEncoder();
        await encodeOne(enc, timer?.writes());
        device.queue.submit([enc.finish()]);
      }
    } else {
      const enc = device.createCommandEncoder();
      for (let i = 0; i < calls; i++) await encodeOne(enc, timer?.writes());
      t0 = performance.now();
      device.queue.submit([enc.finish()]);
    }
    await device.queue.onSubmittedWorkDone();
    const l: Line = { step, kernel, bufs, n: calls, wallMs: (performance.now() - t0) / calls, note };
    if (timer) {
      const raw = await timer.read();
      const t = timer.pairs === calls ? timestampTotalMs(raw, calls, undefined, 1) : undefined;
      if (t) {
        const passes = Array.from({ length: calls }, (_, p) => Number(raw[2 * p + 1]! - raw[2 * p]!) / 1e6);
        const ends = Array.from({ length: calls }, (_, p) => raw[2 * p + 1]!);
        const begins = Array.from({ length: calls }, (_, p) => raw[2 * p]!);
        const maxEnd = ends.reduce((a, b) => (b > a ? b : a));
        const minBegin = begins.reduce((a, b) => (b < a ? b : a));
        l.gpuMs = t.sumMs / calls;
        l.unionMs = t.ms / calls;
        l.spanMs = Number(maxEnd - minBegin) / 1e6 / calls;
        l.passMin = Math.min(...passes);
        l.passMax = Math.max(...passes);
      } else l.note = `${note ?? ''} (timestamps unusable)`.trim();
      timer.destroy();
    }
    record(l);
    return l;
  };
  const engines = new Map<string, Engine>();
  const engine = (name: string, tuning: Tuning = {}) => {
    let e = engines.get(name);
    if (!e) {
      e = new Engine(ctx);
      e.tuning = tuning;
      engines.set(name, e);
    }
    return e;
  };
  /** one decode call through the engine, with the engine's own per-call buffers (params, partials) */
  const decodeOn = (e: Engine, set: BufSet) => async (enc: GPUCommandEncoder, ts?: GPUComputePassTimestampWrites) => {
    // the engine asks its timer for the pass's timestampWrites: hand it this call's pair
    e.timer = ts ? ({ writes: () => ts } as unknown as PassTimer) : undefined;
    try {
      await e.forward({ shape: s, scale: 1 / Math.sqrt(s.E), q: set.q, k: set.k, v: set.v, out: set.out, lse: set.lse, hooks: HOOKS, captures: { buffers: [] }, encoder: enc });
    } finally {
      e.timer = undefined;
    }
  };
  const decode = async (step: string, name: string, tuning: Tuning, set: BufSet, calls = n, perCall = false) => {
    const e = engine(name, tuning);
    // one call outside the timing, submitted: drivers may compile at first use, not at creation
    const warm = device.createCommandEncoder();
    await decodeOn(e, set)(warm);
    await e.submit(warm);
    const l = await time(step, name, set.name, decodeOn(e, set), calls, perCall);
    // transient buffers of the engine are freed with its next submit: flush them now
    await e.submit(device.createCommandEncoder());
    return l;
  };
  const splitKeys = 256; // the default decode split (2048 workgroups at this shape)
  const probe: Probe = await createProbe(device, s.B * s.Hkv * s.Lkv * s.E * 4, splitKeys * s.E * 4);
  const probeOn = async (step: string, set: BufSet, pattern: ProbePattern) => {
    const encodeOne = async (enc: GPUCommandEncoder, ts?: GPUComputePassTimestampWrites) => probe.encode(enc, set.k, set.v, s.B * s.Hkv * s.Lkv * s.E * 4, pattern, ts);
    const warm = device.createCommandEncoder();
    await encodeOne(warm);
    device.queue.submit([warm.finish()]);
    await device.queue.onSubmittedWorkDone();
    return time(step, `probe ${pattern}`, set.name, encodeOne);
  };
  const probes = async (step: string, set: BufSet) => {
    for (const p of ['chunked', 'staggered', 'strided'] as const) await probeOn(step, set, p);
  };
  const KNOBS: [string, Tuning][] = [
    ['decode auto', {}],
    ['decode prefetch', { decode: { prefetch: true } }],
    ['decode stagger', { decode: { stagger: true } }],
    ['decode prefetch+stagger', { decode: { prefetch: true, stagger: true } }],
  ];

  // 1: the first large buffers of the process
  const A = await newSet('A');
  await decode('1 first buffers', 'decode auto', {}, A);
  await decode('1 first buffers', 'decode auto', {}, A);
  await probes('1 first buffers', A);
  for (const [name, t] of KNOBS.slice(1)) await decode('1 first buffers', name, t, A);

  // 2: a second set while A lives; then A again
  const B = await newSet('B');
  await decode('2 second set', 'decode auto', {}, B);
  await probes('2 second set', B);
  await decode('2 second set', 'decode auto', {}, A);

  // 3: free A, allocate C (may reuse A's memory)
  free(A);
  await device.queue.onSubmittedWorkDone();
  const C = await newSet('C');
  for (const [name, t] of KNOBS) await decode('3 after free', name, t, C);
  await probes('3 after free', C);

  // 4: after a slow kernel ran many times (the sweep's second variant)
  await decode('4 slow kernel ran', 'decode tiles', { decode: { kernel: 'tiles' } }, C, Math.max(4, n >> 2));
  await decode('4 slow kernel ran', 'decode auto', {}, C);

  // 5: allocation churn, then a new set D
  for (let i = 0; i < 12; i++) {
    const big = device.createBuffer({ size: Math.min(d.churnMiB << 20, ctx.caps.maxBufferSize), usage: U.STORAGE | U.COPY_DST });
    const enc = device.createCommandEncoder();
    enc.clearBuffer(big);
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    big.destroy();
  }
  const D = await newSet('D');
  await decode('5 after churn', 'decode auto', {}, D);
  await probes('5 after churn', D);
  await decode('5 after churn', 'decode auto', {}, C);
  await decode('5 after churn', 'decode prefetch', { decode: { prefetch: true } }, D);

  // 6: a fresh engine (same WGSL, pipelines rebuilt)
  engines.delete('decode auto');
  await decode('6 fresh engine', 'decode auto', {}, C);

  // 7: measure() as the sweep and the bench call it (host tensors: uploads inside), then on C's buffers
  const be = new WebGPUBackend({ ...ctx, owned: false });
  for (let i = 0; i < 2; i++) {
    const m = await be.measure(d.host.q, d.host.k, d.host.v, { enableGqa: true }, { pass: 'fwd', warmup: 2, iterations: 3 });
    record({ step: '7 measure() host', kernel: 'decode auto', bufs: 'm', n: m.ms.length, wallMs: median(m.ms), note: `measure() median, timer ${m.timer}` });
  }
  const gt = (buf: GPUBuffer, t: Tensor) => ({ buffer: buf, shape: t.shape, dtype: 'f32' as const });
  const m = await be.measure(gt(C.q, d.host.q), gt(C.k, d.host.k), gt(C.v, d.host.v), { enableGqa: true }, { pass: 'fwd', warmup: 2, iterations: 3 });
  record({ step: '7 measure() on C', kernel: 'decode auto', bufs: 'C', n: m.ms.length, wallMs: median(m.ms), note: `measure() median, timer ${m.timer}` });
  be.dispose();

  // 8: one submit per call, queued without waiting (as measure() queues a batch): do the passes'
  // intervals overlap (sum > union)? then with 16 calls, measure()'s batch size
  await decode('8 submit per call', 'decode auto', {}, C, n, true);
  await decode('8 submit per call', 'decode auto', {}, C, 16, true);
  await decode('8 one command buffer', 'decode auto', {}, C, 16);

  // 9: split counts (workgroups over the 132 SMs)
  for (const targetWorkgroups of [264, 528, 1056, 4224, 8448]) await decode('9 splits', `decode target${targetWorkgroups}`, { decode: { targetWorkgroups, minKeysPerSplit: 64 } }, C);

  // 10: clocks while a long batch runs
  const smi = nvidiaSmi();
  await decode('10 clocks under load', 'decode auto', {}, C, Math.min(1000, n * 12));
  const clocks = await smi;
  d.log(`DIAG 10 clocks under load: ${clocks}`);
  lines.push({ step: '10 clocks under load', kernel: 'nvidia-smi', bufs: '-', n: 0, wallMs: 0, note: clocks });

  // 11: drift
  await decode('11 again at the end', 'decode auto', {}, C);
  await probes('11 again at the end', C);

  probe.destroy();
  [B, C, D].forEach(free);
  engines.forEach((e) => e.dispose());
  return lines;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** SM/memory clocks, temperature and power, sampled ~0.3 s from now (or why not). */
function nvidiaSmi(): Promise<string> {
  return new Promise((resolve) => {
    setTimeout(() => {
      execFile('nvidia-smi', ['--query-gpu=clocks.sm,clocks.mem,clocks.max.sm,temperature.gpu,power.draw,pstate,clocks_throttle_reasons.active', '--format=csv,noheader'], { timeout: 5000 }, (err, out) =>
        resolve(err ? `nvidia-smi unavailable (${err.message.split('\n')[0]})` : out.trim()),
      );
    }, 300);
  });
}
