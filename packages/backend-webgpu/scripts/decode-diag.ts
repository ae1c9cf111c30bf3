/**
 * `sweep --diag`: why the same decode pipeline (B8 Hq32/Hkv8 Lq1 Lkv8192 D128, f32) runs at
 * 0.23–0.26 ms early in a process and up to 0.56 ms later. Session 3 ruled out timestamps (sum,
 * union, span and wall agree) and showed a bare read probe slowing with it, so this version logs the
 * GPU clocks of every measurement (nvidia-smi in loop mode, gpu-clocks.ts) and adds idle, load and
 * recovery steps. One line per measurement (format: diag-timing.ts), each with `sm min..max (mean)
 * MHz mem … W … C [throttle reasons]` of its own time window.
 * Kernels: decode variants through the Engine (the backend's own dispatch), and a probe that reads
 * the same K and V buffers with no math (bandwidth-probe.ts), so buffer or device effects and
 * kernel effects can be told apart.
 * Steps: 1 first buffers of the process · 2 a second set while the first lives · 3 a set allocated
 * after freeing one · 4 after a slow kernel ran (the sweep's 'tiles' variant) · 5 after allocation
 * churn (12 × churnMiB), then every 0.5 s for 3 s (recovery) · 6 a fresh Engine · 7 measure() as
 * the sweep and bench call it · 8 one submit per call (measure()'s pattern) vs one command buffer ·
 * 9 split counts · 10 a long batch · 11 after 2 s idle · 12 after 1 s of load · 13 the first
 * measurement again at the end (drift).
 */
import type { Tensor } from '@flexattn/ir';
import { Engine, renderMods, WebGPUBackend, type AttnShape, type GpuContext, type PassTimer, type Tuning } from '../src/index.js';
import { U } from '../src/engine.js';
import { createProbe, type ProbePattern } from './bandwidth-probe.js';
import type { ClockLog } from './gpu-clocks.js';
import { formatDiagLine, timeBatch, type DiagLine, type EncodeOne } from './diag-timing.js';

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
  /** calls per measurement (long enough for several clock samples: ~100 ms of GPU time) */
  n: number;
  /** step 5 allocates and clears 12 buffers of this many MiB, one at a time */
  churnMiB: number;
  clocks: ClockLog;
  log: (line: string) => void;
}

const HOOKS = renderMods(undefined, undefined).hooks;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function decodeDiag(d: DiagInput): Promise<DiagLine[]> {
  const { ctx, shape: s, n } = d;
  const device = ctx.device;
  const kvBytes = s.B * s.Hkv * s.Lkv * (s.E + s.Ev) * 4;
  const kBytes = s.B * s.Hkv * s.Lkv * s.E * 4;
  const lines: DiagLine[] = [];
  const record = (l: DiagLine) => {
    lines.push(l);
    d.log(formatDiagLine(l, kvBytes));
  };
  const time = async (step: string, kernel: string, bufs: string, encodeOne: EncodeOne, calls = n, perCall = false) => {
    const l: DiagLine = { step, kernel, bufs, ...(await timeBatch(ctx, d.clocks, calls, perCall, encodeOne)) };
    record(l);
    return l;
  };

  // ---- buffers ----
  const upload = (t: Tensor, label: string) => {
    const data = t.data as Float32Array<ArrayBuffer>;
    const b = device.createBuffer({ size: data.byteLength, usage: U.STORAGE | U.COPY_DST, label });
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
      out: device.createBuffer({ size: s.B * s.Hq * s.Lq * s.Ev * 4, usage: U.STORAGE | U.COPY_SRC }),
      lse: device.createBuffer({ size: Math.max(16, s.B * s.Hq * s.Lq * 4), usage: U.STORAGE | U.COPY_SRC }),
    };
    await device.queue.onSubmittedWorkDone();
    return set;
  };
  const free = (set: BufSet) => [set.q, set.k, set.v, set.out, set.lse].forEach((b) => b.destroy());

  // ---- kernels ----
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
  /** one decode call through the engine (its own params and scratch buffers) */
  const decodeOn = (e: Engine, set: BufSet): EncodeOne => async (enc, ts) => {
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
    // per-call uniforms are freed with the engine's next submit: flush them now
    await e.submit(device.createCommandEncoder());
    return l;
  };
  // the probe reads in chunks of the default decode split (256 keys: 2048 workgroups at this shape)
  const probe = await createProbe(device, kBytes, 256 * s.E * 4);
  const probeOne = (set: BufSet, pattern: ProbePattern): EncodeOne => async (enc, ts) => probe.encode(enc, set.k, set.v, kBytes, pattern, ts);
  const probeOn = async (step: string, set: BufSet, pattern: ProbePattern, calls = n) => {
    const warm = device.createCommandEncoder();
    await probeOne(set, pattern)(warm);
    device.queue.submit([warm.finish()]);
    await device.queue.onSubmittedWorkDone();
    return time(step, `probe ${pattern}`, set.name, probeOne(set, pattern), calls);
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

  // 5: allocation churn, then a new set D; then the probe every 0.5 s (does it recover, and when?)
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
  const t5 = Date.now();
  for (let i = 0; i < 6; i++) {
    await sleep(Math.max(0, t5 + 500 * (i + 1) - Date.now()));
    await probeOn(`5 +${(Date.now() - t5) / 1000} s`, C, 'chunked');
  }

  // 6: a fresh engine (same WGSL, pipelines rebuilt)
  engines.delete('decode auto');
  await decode('6 fresh engine', 'decode auto', {}, C);

  // 7: measure() as the sweep and the bench call it (host tensors: uploads inside), then on C's buffers
  const be = new WebGPUBackend({ ...ctx, owned: false });
  const viaMeasure = async (step: string, bufs: string, args: Parameters<WebGPUBackend['measure']>) => {
    const w0 = Date.now();
    const m = await be.measure(...args);
    const ms = [...m.ms].sort((a, b) => a - b)[m.ms.length >> 1]!;
    record({ step, kernel: 'decode auto', bufs, n: m.ms.length, wallMs: ms, clocks: d.clocks.between(w0, Date.now()), note: `measure() median, timer ${m.timer}` });
  };
  const spec = { pass: 'fwd', warmup: 2, iterations: 3 } as const;
  for (let i = 0; i < 2; i++) await viaMeasure('7 measure() host', 'm', [d.host.q, d.host.k, d.host.v, { enableGqa: true }, spec]);
  const gt = (buf: GPUBuffer, t: Tensor) => ({ buffer: buf, shape: t.shape, dtype: 'f32' as const });
  await viaMeasure('7 measure() on C', 'C', [gt(C.q, d.host.q), gt(C.k, d.host.k), gt(C.v, d.host.v), { enableGqa: true }, spec]);
  be.dispose();

  // 8: one submit per call, queued without waiting (as measure() queues a batch), vs one command buffer
  await decode('8 submit per call', 'decode auto', {}, C, n, true);
  await decode('8 submit per call', 'decode auto', {}, C, 16, true);
  await decode('8 one command buffer', 'decode auto', {}, C, 16);

  // 9: split counts (workgroups over the 132 SMs)
  for (const targetWorkgroups of [264, 528, 1056, 4224, 8448]) await decode('9 splits', `decode target${targetWorkgroups}`, { decode: { targetWorkgroups, minKeysPerSplit: 64 } }, C);

  // 10: a long batch (several hundred ms)
  await decode('10 long batch', 'decode auto', {}, C, Math.min(2000, n * 5));

  // 11: after 2 s with the GPU idle (do clocks drop, and how fast do they come back?)
  await sleep(2000);
  for (let i = 0; i < 3; i++) await decode('11 after 2 s idle', 'decode auto', {}, C);

  // 12: after ~1 s of load (the probe back to back, untimed)
  {
    const t0 = performance.now();
    const enc = device.createCommandEncoder();
    const probeMs = lines.find((l) => l.kernel === 'probe chunked')?.wallMs ?? 0.2;
    for (let i = 0; i < Math.min(8000, Math.ceil(1000 / probeMs)); i++) probe.encode(enc, C.k, C.v, kBytes, 'chunked');
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    d.log(`DIAG 12 load: ${((performance.now() - t0) / 1000).toFixed(2)} s of back-to-back probe passes`);
    for (let i = 0; i < 2; i++) await decode('12 after 1 s of load', 'decode auto', {}, C);
  }

  // 13: drift
  await decode('13 again at the end', 'decode auto', {}, C);
  await probes('13 again at the end', C);

  probe.destroy();
  [B, C, D].forEach(free);
  engines.forEach((e) => e.dispose());
  if (!d.clocks.samples.length) d.log(`DIAG clocks: ${d.clocks.note}`);
  return lines;
}
