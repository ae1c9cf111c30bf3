/**
 * The WebGPU FlexAttentionBackend: validates with the ir (device tensors included, through
 * device-tensors.ts), renders the mods to WGSL hooks, moves tensors to and from the GPU (or takes
 * device-resident ones), picks the kernel (fused forward or split-KV decode), and runs the engine.
 * Every buffer a call allocates belongs to that call's CallBuffers and is released however the call
 * ends, except device-resident results handed to the caller. Pipelines are cached by mod hash +
 * kernel shape class, least recently used first out (pipeline-cache.ts).
 *
 * Storage: f32 tensors are f32 on the device; f16 tensors stay f16 (half the bytes, loads widened to
 * f32 in the kernels) where the device has `shader-f16`, and are widened to f32 on the host where it
 * has not (with a one-time note); bf16 is always widened (WGSL has no bf16). lse, maxScores and dLse
 * are f32. K/V of batch 1 may serve a query batch of any size (a paged KV cache), and the backend
 * holds paged caches itself (ir's KvStorage: allocateKv, writeKvRows, releaseKv; kv-storage.ts).
 */
import {
  BackendDisposedError,
  checkBackwardInputs,
  checkTensor,
  fromFloats,
  numel,
  resolveAttention,
  tileTables,
  toFloat64,
  type AttentionProblem,
  type AttentionShape,
  type AttentionSupport,
  type BackendFeature,
  type CapturedTensor,
  type DeviceTensors,
  type DType,
  type FlexAttentionBackend,
  type FlexAttentionBackwardOptions,
  type FlexAttentionGrads,
  type FlexAttentionOptions,
  type FlexAttentionResult,
  type KvStorage,
  type MeasureResult,
  type MeasureSpec,
  type Tensor,
} from '@flexattn/ir';
import { acquireDevice, type DeviceOptions, type GpuContext } from './device.js';
import type { TablesFn } from './attention-call.js';
import { anyRank, isGpuTensor, storageFor, webgpuTensors, type GpuTensor } from './device-tensors.js';
import { Engine } from './engine.js';
import { BufferUsage, withCallBuffers, type CallBuffers } from './gpu-memory.js';
import type { Tuning } from './kernel-configs.js';
import { WebGPUKvStorage } from './kv-storage.js';
import type { CaptureState } from './program.js';
import { storageBytes, type Storage } from './programs/common.js';
import { PassTimer, timestampTotalMs } from './timing.js';
import type { PipelineCacheStats } from './pipeline-cache.js';
import { renderMods, type RenderedMods } from './renderer.js';

export type { GpuTensor } from './device-tensors.js';

export interface WebGPUBackendOptions extends DeviceOptions {
  /** split-KV decoding: undefined = automatic (small Lq·group, long Lkv), false = never, true = whenever it applies */
  splitKv?: boolean;
  /** use subgroup reductions where the adapter offers them (default true) */
  subgroups?: boolean;
  /** kernel knobs for benchmarks and sweeps (decode kernel, forward tiles); absent fields stay automatic */
  tuning?: Tuning;
  /** measure() with GPU timestamps where the device has `timestamp-query` (default true) */
  timestamps?: boolean;
  /**
   * the most compiled pipelines kept, least recently used dropped first (default 64; a mod needs
   * one for the forward and three for the backward, about 7 MB each on lavapipe)
   */
  pipelineCacheSize?: number;
}

type AnyTensor = Tensor | GpuTensor;
const isGpu = (t: AnyTensor): t is GpuTensor => isGpuTensor(t);

/** The optional features of ir's options this backend implements (the conformance suite runs their cases). */
const FEATURES: readonly BackendFeature[] = Object.freeze(['dLse', 'maxScores']);
/** K/V of batch 1 serving every query batch: the kernels read them with a batch stride of 0. */
const SUPPORT = { kvBatchBroadcast: true } as const;

const F16_FALLBACK_NOTE =
  "flexattn webgpu: this device has no 'shader-f16', so f16 tensors are widened to f32 on the device " +
  '(results are still f16; memory and bandwidth are those of f32)';

export class WebGPUBackend implements FlexAttentionBackend, KvStorage<GpuTensor> {
  readonly name = 'webgpu';
  readonly features = FEATURES;
  readonly engine: Engine;
  readonly deviceDescription: string;
  /** f16 tensors stay f16 on the device (the device has `shader-f16`); else they are widened to f32 */
  readonly f16Storage: boolean;
  /** measure() tries GPU timestamps (the device has timestamp-query and they were not turned off) */
  timestamps: boolean;
  /** largest share of the measured time that timestamp rounding may account for (see timestampTotalMs) */
  timestampQuantTolerance = 0.05;
  private f16Noted = false;

  /** How ir's validator sees this backend's device tensors (size in storage bytes, released, owner device). */
  private readonly tensors: DeviceTensors;
  /** What resolveAttention may accept: this backend's device tensors, K/V shared by the batch. */
  private readonly support: AttentionSupport;
  private readonly kv: WebGPUKvStorage;
  private disposed = false;

  constructor(readonly ctx: GpuContext, opts: WebGPUBackendOptions = {}) {
    this.engine = new Engine(ctx, opts.pipelineCacheSize);
    this.tensors = webgpuTensors(ctx.device, ctx.caps.f16);
    this.support = { ...SUPPORT, tensors: this.tensors };
    this.kv = new WebGPUKvStorage(this.engine, this.tensors, { storageOf: (d) => this.storageOf(d), deviceData: (t) => this.deviceData(t) });
    this.engine.configs.splitKv = opts.splitKv;
    this.engine.configs.useSubgroups = opts.subgroups ?? true;
    this.engine.configs.tuning = opts.tuning ?? {};
    this.timestamps = (opts.timestamps ?? true) && ctx.caps.timestampQuery;
    this.f16Storage = ctx.caps.f16;
    const c = ctx.caps;
    this.deviceDescription = `WebGPU ${ctx.adapterName} (${[c.subgroups && `subgroups ${c.subgroupMinSize}+`, c.f16 && 'shader-f16', c.timestampQuery && 'timestamp-query'].filter(Boolean).join(', ')}; ${c.maxWorkgroupStorage / 1024} KiB workgroup memory)`;
  }

  get device(): GPUDevice {
    return this.ctx.device;
  }

  /** How tensors of `dtype` are stored on this device: f16 where it has shader-f16, else f32. */
  storageOf(dtype: DType): Storage {
    const storage = storageFor(dtype, this.f16Storage);
    if (dtype === 'f16' && storage === 'f32' && !this.f16Noted) {
      this.f16Noted = true;
      console.warn(F16_FALLBACK_NOTE);
    }
    return storage;
  }

  /** Uploads a host tensor for use in later calls (f16 as f16 where the device has shader-f16; bf16 widened). */
  toGpu(t: Tensor): GpuTensor {
    this.live();
    const { shape, dtype } = checkTensor('toGpu', t, anyRank(t), 'host');
    return { buffer: this.engine.memory.upload(this.deviceData(t)), shape: [...shape], dtype };
  }

  /** Reads a device tensor back, as its own dtype (or converted to `dtype`). */
  async toHost(t: GpuTensor, dtype?: DType): Promise<Tensor> {
    this.live();
    checkTensor('toHost', t, anyRank(t), this.tensors);
    const want = dtype ?? t.dtype;
    const n = numel(t.shape);
    const storage = this.storageOf(t.dtype);
    const bytes = await this.engine.memory.read(t.buffer, n * storageBytes(storage));
    const stored: Tensor =
      storage === 'f16' ? { data: new Uint16Array(bytes), shape: [...t.shape], dtype: 'f16' } : { data: new Float32Array(bytes), shape: [...t.shape], dtype: 'f32' };
    if (stored.dtype === want) return stored;
    return fromFloats(stored.dtype === 'f32' ? (stored.data as Float32Array) : toFloat64(stored), t.shape, want);
  }

  /** Frees a device tensor this backend made (a result or a toGpu upload); others are left alone. */
  release(t: GpuTensor): void {
    this.engine.memory.release(t.buffer);
  }

  /** Pipelines cached (LRU, `pipelineCacheSize`) and device buffers held now, KV pages included (see the README). */
  cacheStats(): WebGPUCacheStats {
    return { pipelines: this.engine.pipelineStats(), buffers: this.engine.memory.stats() };
  }

  // ---------- KvStorage: paged KV caches (@flexattn/kv-cache) hold their pages here ----------
  /** A zero-filled device tensor [1, heads, rows, D] in this backend's storage for `dtype`. */
  allocateKv(shape: readonly number[], dtype: DType): GpuTensor {
    this.live();
    return this.kv.allocateKv(shape, dtype);
  }

  /** dst[0, h, rows[i], :] = src[0, h, i, :] on the device; checked first, resolves once queued (kv-storage.ts). */
  async writeKvRows(dst: GpuTensor, rows: Int32Array, src: GpuTensor | Tensor): Promise<void> {
    this.live();
    await this.kv.writeKvRows(dst, rows, src);
  }

  releaseKv(t: GpuTensor): void {
    this.release(t);
  }

  // ---------- plumbing ----------
  private live(): void {
    if (this.disposed) throw new BackendDisposedError('webgpu', 'createWebGPUBackend()');
  }

  /** A host tensor's elements as the device stores them. */
  private deviceData(t: Tensor): Float32Array | Uint16Array {
    if (t.dtype === 'f32') return t.data as Float32Array;
    if (this.storageOf(t.dtype) === 'f16') return t.data as Uint16Array;
    return Float32Array.from(toFloat64(t));
  }

  private input(t: AnyTensor, bufs: CallBuffers): GPUBuffer {
    return isGpu(t) ? t.buffer : bufs.upload(this.deviceData(t));
  }

  /** A result tensor of the call `bufs` scopes: `numel(shape)` elements in `dtype`'s storage. */
  private output(shape: number[], dtype: DType, bufs: CallBuffers): GpuTensor {
    return { buffer: bufs.create(numel(shape) * storageBytes(this.storageOf(dtype))), shape, dtype };
  }

  private mods(p: AttentionProblem): RenderedMods {
    return renderMods(p.scoreMod, p.blockMask?.maskMod);
  }

  private captureState(r: RenderedMods, bufs: CallBuffers): CaptureState {
    return { buffers: r.tensors.map((t) => bufs.upload(t.data)), scalars: r.scalarValues() };
  }

  /** The mask's tile tables at a kernel's tile shape: ir tileTables (refined, memoised on the mask). */
  private tables(p: AttentionProblem): TablesFn | undefined {
    const mask = p.blockMask;
    return mask && ((tileQ, tileKv) => tileTables(mask, tileQ, tileKv, { batch: p.B, heads: p.Hq }));
  }

  private shape(p: AttentionProblem): AttentionShape {
    return { B: p.B, Hq: p.Hq, Hkv: p.Hkv, Lq: p.Lq, Lkv: p.Lkv, E: p.E, Ev: p.Ev };
  }

  /** One K/V (batch 1) read by every query batch: a batch stride of 0 in the kernels, no copies. */
  private kvShared(p: AttentionProblem): boolean {
    return p.kvBatch === 1 && p.B > 1;
  }

  // ---------- the interface ----------
  async flexAttention<T extends AnyTensor>(q: T, k: T, v: T, options: FlexAttentionOptions = {}): Promise<FlexAttentionResult<T>> {
    this.live();
    const p = resolveAttention(q, k, v, options, { maxHeadDim: 256, pass: 'forward', backend: this, support: this.support });
    return withCallBuffers(this.engine.memory, async (bufs) => {
      const r = this.mods(p);
      const rows = [p.B, p.Hq, p.Lq];
      const out = this.output([...rows, p.Ev], p.dtype, bufs);
      const lse = this.output(rows, 'f32', bufs);
      const maxScores = p.returnMaxScores ? this.output(rows, 'f32', bufs) : undefined;
      await this.engine.forward({
        shape: this.shape(p), scale: p.scale, storage: this.storageOf(p.dtype), kvShared: this.kvShared(p),
        q: this.input(q, bufs), k: this.input(k, bufs), v: this.input(v, bufs), out: out.buffer, lse: lse.buffer, maxScores: maxScores?.buffer,
        hooks: r.hooks, captures: this.captureState(r, bufs), tables: this.tables(p), maskH: p.blockMask?.H,
      });
      // device-resident results are handed over; the rest (host results' buffers, an lse not asked for) is released
      if (isGpu(q)) {
        bufs.handOver(out.buffer);
        if (p.returnLse) bufs.handOver(lse.buffer);
        if (maxScores) bufs.handOver(maxScores.buffer);
        return { out: out as T, lse: p.returnLse ? (lse as T) : undefined, ...(maxScores && { maxScores: maxScores as T }) };
      }
      const res: FlexAttentionResult<T> = { out: (await this.toHost(out)) as T, lse: p.returnLse ? ((await this.toHost(lse)) as T) : undefined };
      if (maxScores) res.maxScores = (await this.toHost(maxScores)) as T;
      return res;
    });
  }

  async flexAttentionBackward<T extends AnyTensor>(
    q: T, k: T, v: T, out: T, lse: T, dOut: T, options: FlexAttentionBackwardOptions<T> = {},
  ): Promise<FlexAttentionGrads<T>> {
    this.live();
    const p = resolveAttention(q, k, v, options, { maxHeadDim: 256, pass: 'backward', backend: this, support: this.support });
    checkBackwardInputs(p, out, lse, dOut, options.dLse);
    return withCallBuffers(this.engine.memory, async (bufs) => {
      const r = this.mods(p);
      const st = this.captureState(r, bufs);
      const gradTensors = p.scoreMod?.gradTensors.map((g) => g.tensor) ?? [];
      // one zeroed accumulator per learnable capture, in hooks order (score-mod tensors come first)
      const gradOrder = r.tensors.filter((_, i) => r.hooks.captures[i]!.grad);
      const gradBuffers = gradOrder.map((t) => bufs.create(t.data.length * 4, BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST));
      st.gradBuffers = gradBuffers;
      // with one K/V serving the whole batch (kvBatch 1), dk/dv are its gradients: summed over the batch
      const dq = this.output([p.B, p.Hq, p.Lq, p.E], p.dtype, bufs);
      const dk = this.output([p.kvBatch, p.Hkv, p.Lkv, p.E], p.dtype, bufs);
      const dv = this.output([p.kvBatch, p.Hkv, p.Lkv, p.Ev], p.dtype, bufs);
      await this.engine.backward({
        shape: this.shape(p), scale: p.scale, storage: this.storageOf(p.dtype), kvShared: this.kvShared(p),
        q: this.input(q, bufs), k: this.input(k, bufs), v: this.input(v, bufs),
        out: this.input(out, bufs), lse: this.input(lse, bufs), dOut: this.input(dOut, bufs),
        dLse: options.dLse === undefined ? undefined : this.input(options.dLse, bufs),
        dq: dq.buffer, dk: dk.buffer, dv: dv.buffer, hooks: r.hooks, captures: st, tables: this.tables(p),
      });
      const captureGrads = new Map<CapturedTensor, Float32Array>();
      for (let i = 0; i < gradOrder.length; i++) {
        const t = gradOrder[i]!;
        captureGrads.set(t, new Float32Array(await this.engine.memory.read(gradBuffers[i]!, t.data.length * 4)));
      }
      for (const t of gradTensors) if (!captureGrads.has(t)) captureGrads.set(t, new Float32Array(t.data.length));
      if (isGpu(q)) {
        [dq, dk, dv].forEach((t) => bufs.handOver(t.buffer));
        return { dq: dq as T, dk: dk as T, dv: dv as T, captureGrads };
      }
      return { dq: (await this.toHost(dq)) as T, dk: (await this.toHost(dk)) as T, dv: (await this.toHost(dv)) as T, captureGrads };
    });
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
    this.live();
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

  /** Frees every buffer and pipeline; later calls throw BackendDisposedError. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.engine.dispose();
    if (this.ctx.owned) this.ctx.device.destroy();
  }
}

/** What `cacheStats()` reports: the pipeline cache (LRU) and the device buffers this backend holds. */
export interface WebGPUCacheStats {
  pipelines: PipelineCacheStats;
  /** Buffers held now: results handed out and not yet released, scratch buffers kept across calls. */
  buffers: { count: number; bytes: number };
}

/** measure(): untimed back-to-back work before timing, the work per timed batch, its call cap (the timestamp query set holds 4 per call). */
const STEADY_MS = 200;
const BATCH_MS = 100;
const MAX_BATCH = 1000;

/** The WebGPU backend: `navigator.gpu` in browsers; in Node pass Dawn's GPU (npm `webgpu`) or let it import one. */
export async function createWebGPUBackend(opts: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  return new WebGPUBackend(await acquireDevice(opts), opts);
}
