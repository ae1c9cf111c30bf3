/**
 * The WebGPU FlexAttentionBackend: validates with the ir, renders the mods to WGSL hooks, moves
 * tensors to and from the GPU (or takes device-resident ones), picks the kernel (fused forward or
 * split-KV decode), and runs the engine. Pipelines are cached by mod hash + kernel shape class.
 */
import {
  checkBackwardInputs,
  fromFloats,
  resolveAttention,
  tileTables,
  toFloat64,
  type AttentionProblem,
  type AttentionShape,
  type CapturedTensor,
  type FlexAttentionBackend,
  type FlexAttentionBackwardOptions,
  type FlexAttentionGrads,
  type FlexAttentionOptions,
  type FlexAttentionResult,
  type MeasureResult,
  type MeasureSpec,
  type Tensor,
} from '@flexattn/ir';
import { acquireDevice, type DeviceOptions, type GpuContext } from './device.js';
import type { TablesFn } from './attention-call.js';
import { Engine } from './engine.js';
import { BufferUsage } from './gpu-memory.js';
import type { Tuning } from './kernel-configs.js';
import type { CaptureState } from './program.js';
import { PassTimer, timestampTotalMs } from './timing.js';
import { renderMods, type RenderedMods } from './renderer.js';

/** A device-resident f32 tensor: pass these instead of host tensors to skip the copies. */
export interface GpuTensor {
  readonly buffer: GPUBuffer;
  readonly shape: readonly number[];
  readonly dtype: 'f32';
}

export interface WebGPUBackendOptions extends DeviceOptions {
  /** split-KV decoding: undefined = automatic (small Lq·group, long Lkv), false = never, true = whenever it applies */
  splitKv?: boolean;
  /** use subgroup reductions where the adapter offers them (default true) */
  subgroups?: boolean;
  /** kernel knobs for benchmarks and sweeps (decode kernel, forward tiles); absent fields stay automatic */
  tuning?: Tuning;
  /** measure() with GPU timestamps where the device has `timestamp-query` (default true) */
  timestamps?: boolean;
}

type AnyTensor = Tensor | GpuTensor;
const isGpu = (t: AnyTensor): t is GpuTensor => 'buffer' in t;

function toF32(t: Tensor): Float32Array {
  return t.dtype === 'f32' ? (t.data as Float32Array) : Float32Array.from(toFloat64(t));
}

export class WebGPUBackend implements FlexAttentionBackend {
  readonly name = 'webgpu';
  readonly engine: Engine;
  readonly deviceDescription: string;
  /** measure() tries GPU timestamps (the device has timestamp-query and they were not turned off) */
  timestamps: boolean;
  /** largest share of the measured time that timestamp rounding may account for (see timestampTotalMs) */
  timestampQuantTolerance = 0.05;

  constructor(readonly ctx: GpuContext, opts: WebGPUBackendOptions = {}) {
    this.engine = new Engine(ctx);
    this.engine.configs.splitKv = opts.splitKv;
    this.engine.configs.useSubgroups = opts.subgroups ?? true;
    this.engine.configs.tuning = opts.tuning ?? {};
    this.timestamps = (opts.timestamps ?? true) && ctx.caps.timestampQuery;
    const c = ctx.caps;
    this.deviceDescription = `WebGPU ${ctx.adapterName} (${[c.subgroups && `subgroups ${c.subgroupMinSize}+`, c.f16 && 'shader-f16', c.timestampQuery && 'timestamp-query'].filter(Boolean).join(', ')}; ${c.maxWorkgroupStorage / 1024} KiB workgroup memory)`;
  }

  get device(): GPUDevice {
    return this.ctx.device;
  }

  /** Uploads a host tensor as f32 (f16/bf16 are widened), for use in later calls. */
  toGpu(t: Tensor): GpuTensor {
    return { buffer: this.engine.memory.upload(toF32(t)), shape: [...t.shape], dtype: 'f32' };
  }

  async toHost(t: GpuTensor, dtype: Tensor['dtype'] = 'f32'): Promise<Tensor> {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(await this.engine.memory.read(t.buffer, n * 4));
    return dtype === 'f32' ? { data, shape: [...t.shape], dtype } : fromFloats(data, t.shape, dtype);
  }

  release(t: GpuTensor): void {
    this.engine.memory.release(t.buffer);
  }

  // ---------- plumbing ----------
  private input(t: AnyTensor, temps: GPUBuffer[]): GPUBuffer {
    if (isGpu(t)) return t.buffer;
    const b = this.engine.memory.upload(toF32(t));
    temps.push(b);
    return b;
  }

  private mods(p: AttentionProblem): RenderedMods {
    return renderMods(p.scoreMod, p.blockMask?.maskMod);
  }

  private captureState(r: RenderedMods, temps: GPUBuffer[]): CaptureState {
    const buffers = r.tensors.map((t) => {
      const b = this.engine.memory.upload(t.data);
      temps.push(b);
      return b;
    });
    return { buffers, scalars: r.scalarValues() };
  }

  /** The mask's tile tables at a kernel's tile shape: ir tileTables (refined, memoised on the mask). */
  private tables(p: AttentionProblem): TablesFn | undefined {
    const mask = p.blockMask;
    return mask && ((tileQ, tileKv) => tileTables(mask, tileQ, tileKv, { batch: p.B, heads: p.Hq }));
  }

  private shape(p: AttentionProblem): AttentionShape {
    return { B: p.B, Hq: p.Hq, Hkv: p.Hkv, Lq: p.Lq, Lkv: p.Lkv, E: p.E, Ev: p.Ev };
  }

  // ---------- the interface ----------
  async flexAttention<T extends AnyTensor>(q: T, k: T, v: T, options: FlexAttentionOptions = {}): Promise<FlexAttentionResult<T>> {
    const p = resolveAttention(q, k, v, options, { maxHeadDim: 256, pass: 'forward', backend: this });
    const temps: GPUBuffer[] = [];
    try {
      const r = this.mods(p);
      const out = this.engine.memory.createBuffer(p.B * p.Hq * p.Lq * p.Ev * 4);
      const lse = this.engine.memory.createBuffer(p.B * p.Hq * p.Lq * 4);
      await this.engine.forward({
        shape: this.shape(p), scale: p.scale,
        q: this.input(q, temps), k: this.input(k, temps), v: this.input(v, temps), out, lse,
        hooks: r.hooks, captures: this.captureState(r, temps), tables: this.tables(p), maskH: p.blockMask?.H,
      });
      const outT: GpuTensor = { buffer: out, shape: [p.B, p.Hq, p.Lq, p.Ev], dtype: 'f32' };
      const lseT: GpuTensor = { buffer: lse, shape: [p.B, p.Hq, p.Lq], dtype: 'f32' };
      if (isGpu(q)) return { out: outT as T, lse: options.returnLse === false ? undefined : (lseT as T) };
      const res = { out: (await this.toHost(outT, p.dtype)) as T, lse: (await this.toHost(lseT)) as T };
      this.engine.memory.release(out);
      this.engine.memory.release(lse);
      return res;
    } finally {
      temps.forEach((b) => this.engine.memory.release(b));
    }
  }

  async flexAttentionBackward<T extends AnyTensor>(
    q: T, k: T, v: T, out: T, lse: T, dOut: T, options: FlexAttentionBackwardOptions<T> = {},
  ): Promise<FlexAttentionGrads<T>> {
    const p = resolveAttention(q, k, v, options, { maxHeadDim: 256, pass: 'backward', backend: this });
    checkBackwardInputs(p, out, lse, dOut);
    const temps: GPUBuffer[] = [];
    try {
      const r = this.mods(p);
      const st = this.captureState(r, temps);
      const gradTensors = p.scoreMod?.gradTensors.map((g) => g.tensor) ?? [];
      // one zeroed accumulator per learnable capture, in hooks order (score-mod tensors come first)
      const gradBuffers = r.tensors
        .filter((_, i) => r.hooks.captures[i]!.grad)
        .map((t) => {
          const b = this.engine.memory.createBuffer(t.data.length * 4, BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST);
          temps.push(b);
          return b;
        });
      st.gradBuffers = gradBuffers;
      const dq = this.engine.memory.createBuffer(p.B * p.Hq * p.Lq * p.E * 4);
      const dk = this.engine.memory.createBuffer(p.B * p.Hkv * p.Lkv * p.E * 4);
      const dv = this.engine.memory.createBuffer(p.B * p.Hkv * p.Lkv * p.Ev * 4);
      await this.engine.backward({
        shape: this.shape(p), scale: p.scale,
        q: this.input(q, temps), k: this.input(k, temps), v: this.input(v, temps),
        out: this.input(out, temps), lse: this.input(lse, temps), dOut: this.input(dOut, temps),
        dq, dk, dv, hooks: r.hooks, captures: st, tables: this.tables(p),
      });
      const captureGrads = new Map<CapturedTensor, Float32Array>();
      const gradOrder = r.tensors.filter((_, i) => r.hooks.captures[i]!.grad);
      for (let i = 0; i < gradOrder.length; i++) {
        const t = gradOrder[i]!;
        captureGrads.set(t, new Float32Array(await this.engine.memory.read(gradBuffers[i]!, t.data.length * 4)));
      }
      for (const t of gradTensors) if (!captureGrads.has(t)) captureGrads.set(t, new Float32Array(t.data.length));
      const g = (buffer: GPUBuffer, shape: number[]): GpuTensor => ({ buffer, shape, dtype: 'f32' });
      const dqT = g(dq, [p.B, p.Hq, p.Lq, p.E]);
      const dkT = g(dk, [p.B, p.Hkv, p.Lkv, p.E]);
      const dvT = g(dv, [p.B, p.Hkv, p.Lkv, p.Ev]);
      if (isGpu(q)) return { dq: dqT as T, dk: dkT as T, dv: dvT as T, captureGrads };
      const res = {
        dq: (await this.toHost(dqT, p.dtype)) as T,
        dk: (await this.toHost(dkT, p.dtype)) as T,
        dv: (await this.toHost(dvT, p.dtype)) as T,
        captureGrads,
      };
      [dq, dk, dv].forEach((b) => this.engine.memory.release(b));
      return res;
    } finally {
      temps.forEach((b) => this.engine.memory.release(b));
    }
  }

  /**
   * Times passes on device-resident inputs. Dawn in Node reports onSubmittedWorkDone through event
   * polling, which adds milliseconds of noisy latency to every wait (seen on the H100: the same
   * causal pass measured 12 and 50 ms). So each sample queues a batch of passes back to back, waits
   * once, and divides. The GPU also lowers its clocks when work arrives in short bursts: the H100
   * ran the B8 decode (0.25 ms a call) at 525–855 MHz in 16-call batches and 0.7 ms a call, at its
   * full 1980 MHz under back-to-back load (session 4, nvidia-smi). So after the warm-up calls the
   * passes run back to back, untimed, for STEADY_MS (the clocks settle), and each timed batch holds
   * enough calls for about BATCH_MS of work (at most MAX_BATCH).
   * Where the device has `timestamp-query`, every compute pass of the batch is timed on the GPU and
   * a sample is the time its passes cover per call (overlapping passes counted once, see
   * timestampTotalMs; timer 'gpu-timestamps'); if any sample's timestamps look invalid (zeros,
   * reversed, too coarsely quantized, beyond the wall time), the wall-clock samples of the same
   * batches are returned instead (timer 'wall'). Inputs may be GpuTensors
   * (timed on those very buffers: sweeps keep one set across variants) or host tensors (uploaded).
   */
  async measure(q: AnyTensor, k: AnyTensor, v: AnyTensor, options: FlexAttentionOptions, spec: MeasureSpec): Promise<MeasureResult> {
    // device-resident inputs are used as they are (and stay the caller's); host ones are uploaded
    const held: GpuTensor[] = [];
    const resident = (t: AnyTensor) => {
      if (isGpu(t)) return t;
      const g = this.toGpu(t);
      held.push(g);
      return g;
    };
    const gq = resident(q), gk = resident(k), gv = resident(v);
    let timer: PassTimer | undefined;
    try {
      const dOut = spec.dOut ? this.toGpu(spec.dOut) : undefined;
      if (dOut) held.push(dOut);
      // the backward-only pass reuses one forward's out and lse
      const base = spec.pass === 'bwd' ? await this.flexAttention(gq, gk, gv, { ...options, returnLse: true }) : undefined;
      if (base) held.push(base.out, base.lse!);
      const once = async () => {
        const fwd = base ?? (await this.flexAttention(gq, gk, gv, { ...options, returnLse: true }));
        if (spec.pass !== 'fwd' && dOut) {
          const g = await this.flexAttentionBackward(gq, gk, gv, fwd.out, fwd.lse!, dOut, options);
          [g.dq, g.dk, g.dv].forEach((t) => this.release(t));
        }
        if (!base) [fwd.out, fwd.lse!].forEach((t) => this.release(t));
      };
      let perCall = Infinity;
      for (let i = 0; i < Math.max(1, spec.warmup); i++) {
        const t0 = performance.now();
        await once();
        perCall = Math.min(perCall, performance.now() - t0);
      }
      const batchFor = (msPerCall: number) => Math.max(1, Math.min(MAX_BATCH, Math.ceil(BATCH_MS / Math.max(msPerCall, 1e-3))));
      // steady state: back-to-back batches until STEADY_MS have passed; a single call's wall time
      // includes the event-polling latency, so the per-call time comes from the batches
      const steadyEnd = performance.now() + STEADY_MS;
      do {
        const n = batchFor(perCall);
        const t0 = performance.now();
        await Promise.all(Array.from({ length: n }, once));
        perCall = Math.min(perCall, (performance.now() - t0) / n);
      } while (performance.now() < steadyEnd);
      const batch = batchFor(perCall);
      if (this.timestamps) {
        try {
          timer = new PassTimer(this.device, 4 * batch + 8);
        } catch {
          timer = undefined;
        }
      }
      const wall: number[] = [];
      const device: number[] = [];
      let timestampsOk = !!timer;
      for (let i = 0; i < spec.iterations; i++) {
        timer?.reset();
        this.engine.runner.timer = timer;
        const t0 = performance.now();
        try {
          await Promise.all(Array.from({ length: batch }, once));
        } finally {
          this.engine.runner.timer = undefined;
        }
        const w = performance.now() - t0;
        wall.push(w / batch);
        if (timer && timestampsOk) {
          const total = timer.overflow ? undefined : timestampTotalMs(await timer.read(), timer.pairs, w, this.timestampQuantTolerance);
          if (total) device.push(total.ms / batch);
          else timestampsOk = false;
        }
      }
      return timestampsOk && device.length === wall.length ? { ms: device, timer: 'gpu-timestamps' } : { ms: wall, timer: 'wall' };
    } finally {
      timer?.destroy();
      held.forEach((t) => this.release(t));
    }
  }

  dispose(): void {
    this.engine.dispose();
    if (this.ctx.owned) this.ctx.device.destroy();
  }
}

/** measure(): untimed back-to-back work before timing, the work per timed batch, its call cap (the timestamp query set holds 4 per call). */
const STEADY_MS = 200;
const BATCH_MS = 100;
const MAX_BATCH = 1000;

/** The WebGPU backend: `navigator.gpu` in browsers; in Node pass Dawn's GPU (npm `webgpu`) or let it import one. */
export async function createWebGPUBackend(opts: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  return new WebGPUBackend(await acquireDevice(opts), opts);
}
