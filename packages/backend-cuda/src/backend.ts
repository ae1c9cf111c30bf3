// The CUDA FlexAttentionBackend: validates (ir), picks and renders the kernels (launch-plan.ts),
// moves tensors to and from the device for one call (call-memory.ts) and runs the launches through
// the addon. Compiled modules are cached per source (kernel-modules.ts: memory, disk, NVRTC). Device
// tensors (device-tensors.ts: toGpu uploads, device-resident results, a paged KV cache's pages
// through ir's KvStorage in kv-storage.ts) are read in place; one K/V of batch 1 serves every query
// batch where a cache shares it (batch stride 0).
import {
  BackendDisposedError,
  CapturedTensor,
  checkBackwardInputs,
  checkTensor,
  resolveAttention,
  type AttentionProblem,
  type BackendFeature,
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
import { hostTensor, withCallMemory, type CallMemory } from './call-memory.js';
import { sumOverBatch } from './batch-sum.js';
import { checkDeterministicBackward } from './deterministic.js';
import { cudaTensors, deviceToken, elementBytes, HeldMemory, isCudaTensor, type CudaTensor } from './device-tensors.js';
import { KernelModules, type ModuleCacheStats } from './kernel-modules.js';
import { CudaKvStorage } from './kv-storage.js';
import { backwardLaunch, forwardLaunch, LAUNCH_STREAM, selectKernels, type LaunchContext, type TargetDevice } from './launch-plan.js';
import { modArguments } from './mod-arguments.js';
import { withScaleInScoreMod } from './scale.js';
import { loadCudaNative, smArch, type CudaDeviceInfo, type CudaNative, type DevicePtr } from './native.js';

export interface CudaBackendOptions {
  /** CUDA device ordinal (default 0). */
  device?: number;
  /** Compiled-kernel cache folder (default: FLEXATTN_CUDA_CACHE or ~/.cache/flexattn/cuda); false: memory only. */
  cacheDir?: string | false;
  /** Folder with cuda_bf16.h for NVRTC (default: FLEXATTN_CUDA_INCLUDE, CUDA_HOME/include, /usr/local/cuda/include, …). */
  cudaInclude?: string;
  /**
   * The Hopper (sm_90a) forward body for head dims 64 and 128: 'persistent' (the default:
   * kernels/flex_fwd_fa3.cuh, a TMA producer warpgroup and ping-ponging consumer warpgroups) or
   * 'per-cta' (kernels/flex_fwd_wg.cuh, the earlier body), for comparisons and the conformance
   * suite of both.
   */
  hopperForward?: 'persistent' | 'per-cta';
  /**
   * The Hopper (sm_90a) backward body for head dims 64 and 128 (E = Ev, one K/V per batch):
   * 'warp-specialized' (the default: kernels/flex_bwd_fa3.cuh, a TMA producer warpgroup, two
   * consumer warpgroups, dQ by bulk reduce-add) or 'classic' (kernels/flex_bwd.cuh, the earlier
   * body, which every other shape uses), for comparisons and the conformance suite of both.
   */
  hopperBackward?: 'warp-specialized' | 'classic';
  /**
   * A bitwise repeatable backward (default false): the FA3-class Hopper body adds each q tile's
   * dQ tiles in one fixed order (a counter per q tile in global memory; README "Deterministic
   * backward"), so the same inputs give the same dq/dk/dv bits on every call. It serves bf16/f16
   * with E = Ev = 64 or 128 and a K/V per batch on an sm_90 GPU; any other backward call — and a
   * score mod with learnable captures (their gradients are atomics in every body) — is refused with
   * an UnsupportedError naming the fix, before any GPU work. The forward is unchanged.
   */
  deterministic?: boolean;
  /**
   * The most compiled modules kept loaded, least recently used unloaded first (default 64,
   * DEFAULT_MODULE_CACHE_SIZE; a mod needs up to three: forward, backward, decode).
   */
  moduleCacheSize?: number;
}

/** The buffer `measure` clears before each sample to flush the L2 cache: triton.testing.do_bench's size. */
const L2_FLUSH_BYTES = 256e6;

/** What `cacheStats()` reports: the module cache (LRU) and the device memory this backend holds. */
export interface CudaCacheStats {
  modules: ModuleCacheStats;
  /** Allocations held now: toGpu uploads, device-resident results and KV pages not yet released. */
  buffers: { count: number; bytes: number };
}

/** The largest head dim (E and Ev) the kernels support. */
export const MAX_HEAD_DIM = 256;

/**
 * ir's optional features every CUDA body implements: returnAux.maxScores (a compile-time variant
 * of the forward and decode bodies, FLEX_MAX_SCORES) and the backward's dLse (folded into delta by
 * the backward's preprocessing, so dq/dk/dv and capture gradients all include it).
 */
const FEATURES: readonly BackendFeature[] = Object.freeze(['dLse', 'maxScores']);

/** A call's tensors: host tensors (uploaded per call) or device tensors (read in place). Results follow q. */
type AnyTensor = Tensor | CudaTensor;

export class CudaBackend implements FlexAttentionBackend, KvStorage<CudaTensor> {
  readonly name = 'cuda';
  readonly features = FEATURES;
  readonly arch: string;
  private readonly modules: KernelModules;
  private readonly target: TargetDevice;
  private readonly held: HeldMemory;
  /** How the shared validator sees this backend's device tensors. */
  private readonly tensors: DeviceTensors;
  private readonly kv: CudaKvStorage;
  private disposed = false;

  constructor(
    private readonly native: CudaNative,
    readonly device: CudaDeviceInfo,
    options: CudaBackendOptions = {},
  ) {
    this.arch = smArch(device.computeCapability);
    this.target = {
      arch: this.arch,
      smCount: device.smCount,
      hopperBody: options.hopperForward === 'per-cta' ? 'wg' : 'fa3',
      hopperBackward: options.hopperBackward === 'classic' ? 'classic' : 'fa3',
      deterministicBackward: options.deterministic === true,
    };
    this.modules = new KernelModules(native, this.arch, { cacheDir: options.cacheDir, cudaInclude: options.cudaInclude, capacity: options.moduleCacheSize });
    const token = deviceToken(native, device.ordinal);
    this.held = new HeldMemory(native, token);
    this.tensors = cudaTensors(token);
    this.kv = new CudaKvStorage(native, this.held, this.tensors);
  }

  /** resolveAttention's view of this backend: K/V of batch 1 for every query batch, its device tensors. */
  private get support() {
    return { kvBatchBroadcast: true, tensors: this.tensors };
  }

  /** The device for reports (the bench's header): `CUDA NVIDIA H100 80GB HBM3 (sm_90a, 132 SMs, 79.2 GiB)`. */
  get deviceDescription(): string {
    const { name, smCount, totalMem } = this.device;
    return `CUDA ${name} (${this.arch}, ${smCount} SMs, ${(totalMem / 2 ** 30).toFixed(1)} GiB)`;
  }

  /** Copies a host tensor to the device (its dtype kept), for use in later calls; free it with release(). */
  toGpu(t: Tensor): CudaTensor {
    this.live();
    const { shape, dtype } = checkTensor('toGpu', t, anyRank(t), 'host');
    return this.held.hold(shape, dtype, (mem) => mem.upload(t.data));
  }

  /** Copies a device tensor back to the host. */
  async toHost(t: CudaTensor): Promise<Tensor> {
    this.live();
    const { shape, dtype } = checkTensor('toHost', t, anyRank(t), this.tensors);
    const host = hostTensor(dtype, [...shape]);
    this.native.synchronize();
    this.native.copyDtoH(t.ptr, host.data);
    return host;
  }

  /** Frees a device tensor this backend made (a toGpu upload, a result or a KV page); others are left alone. */
  release(t: CudaTensor): void {
    this.held.release(t);
  }

  /** Modules loaded (LRU, `moduleCacheSize`) and device memory held now. */
  cacheStats(): CudaCacheStats {
    return { modules: this.modules.stats(), buffers: this.held.stats() };
  }

  private live(): void {
    if (this.disposed) throw new BackendDisposedError('cuda', 'createCudaBackend()');
  }

  private context(mem: CallMemory): LaunchContext {
    return { native: this.native, modules: this.modules.forCall(mem), mem, target: this.target };
  }

  private input(t: AnyTensor, mem: CallMemory): DevicePtr {
    return isCudaTensor(t) ? t.ptr : mem.upload(t.data);
  }

  /** A result: handed over as a device tensor, or copied into a host tensor (the call's memory frees the device copy). */
  private output(ptr: DevicePtr, dtype: Tensor['dtype'], shape: number[], onDevice: boolean, mem: CallMemory): AnyTensor {
    if (onDevice) return this.keepUnlessFailed(this.held.adopt(ptr, mem.handOver(ptr), shape, dtype), mem);
    const host = hostTensor(dtype, shape);
    this.native.copyDtoH(ptr, host.data);
    return host;
  }

  /**
   * dK or dV (`D`: E or Ev). The kernels write one partial per query batch; where one K/V of batch 1
   * served every batch (a paged KV cache's pages) its gradient is their sum, taken on the host
   * (batch-sum.ts) and handed out like the other results.
   */
  private kvGradient(ptr: DevicePtr, p: AttentionProblem, D: number, onDevice: boolean, mem: CallMemory): AnyTensor {
    const shape = [p.B, p.Hkv, p.Lkv, D];
    if (p.kvBatch === p.B) return this.output(ptr, p.dtype, shape, onDevice, mem);
    const partials = hostTensor(p.dtype, shape);
    this.native.copyDtoH(ptr, partials.data);
    const sum = sumOverBatch(partials);
    return onDevice ? this.keepUnlessFailed(this.held.hold(sum.shape, sum.dtype, (m) => m.upload(sum.data)), mem) : sum;
  }

  /** A result held for the caller, given back if its call fails after all (a failed call holds nothing). */
  private keepUnlessFailed(t: CudaTensor, mem: CallMemory): CudaTensor {
    mem.onFailure(() => this.held.release(t));
    return t;
  }

  /** Uploads inputs, builds tables and args, loads the kernels; `launch` queues the forward. */
  private async prepareForward(q: AnyTensor, k: AnyTensor, v: AnyTensor, options: FlexAttentionOptions, mem: CallMemory) {
    const p = withScaleInScoreMod(resolveAttention(q, k, v, options, { maxHeadDim: MAX_HEAD_DIM, pass: 'forward', backend: this, support: this.support }));
    const sel = selectKernels(p, this.target);
    const rows = p.B * p.Hq * p.Lq;
    const dOut = mem.alloc(rows * p.Ev * elementBytes(p.dtype));
    const dLse = mem.alloc(rows * 4);
    const dMaxScores = p.returnMaxScores ? mem.alloc(rows * 4) : null;
    const io = { q: this.input(q, mem), k: this.input(k, mem), v: this.input(v, mem), out: dOut, lse: dLse, maxScores: dMaxScores };
    const mods = modArguments(mem, sel.rendered, sel.scoreMod, sel.maskMod, false);
    const launch = await forwardLaunch(this.context(mem), sel, io, mods);
    return { p, dOut, dLse, dMaxScores, launch };
  }

  async flexAttention<T extends AnyTensor>(q: T, k: AnyTensor, v: AnyTensor, options: FlexAttentionOptions = {}): Promise<FlexAttentionResult<T>> {
    this.live();
    return withCallMemory(this.native, async (mem) => {
      const f = await this.prepareForward(q, k, v, options, mem);
      const { p } = f;
      f.launch();
      this.native.synchronize();
      const onDevice = isCudaTensor(q);
      const result: FlexAttentionResult<T> = { out: this.output(f.dOut, p.dtype, [p.B, p.Hq, p.Lq, p.Ev], onDevice, mem) as T };
      if (p.returnLse) result.lse = this.output(f.dLse, 'f32', [p.B, p.Hq, p.Lq], onDevice, mem) as T;
      if (f.dMaxScores !== null) result.maxScores = this.output(f.dMaxScores, 'f32', [p.B, p.Hq, p.Lq], onDevice, mem) as T;
      return result;
    });
  }

  /** Uploads inputs, builds tables and args, loads the kernels; `launch` queues the backward. */
  private async prepareBackward(
    q: AnyTensor, k: AnyTensor, v: AnyTensor, out: AnyTensor | DevicePtr, lse: AnyTensor | DevicePtr, dOut: AnyTensor,
    options: FlexAttentionBackwardOptions<AnyTensor>, mem: CallMemory,
  ) {
    const p = withScaleInScoreMod(resolveAttention(q, k, v, options, { maxHeadDim: MAX_HEAD_DIM, pass: 'backward', backend: this, support: this.support }));
    if (typeof out !== 'bigint' && typeof lse !== 'bigint') checkBackwardInputs(p, out, lse, dOut, options.dLse);
    const sel = selectKernels(p, this.target);
    checkDeterministicBackward(sel, this.target);
    const bytes = elementBytes(p.dtype);
    // one dK/dV per query batch (the kernels write them so); shared K/V sum them after (kvGradient)
    const ddq = mem.alloc(p.B * p.Hq * p.Lq * p.E * bytes);
    const ddk = mem.alloc(p.B * p.Hkv * p.Lkv * p.E * bytes);
    const ddv = mem.alloc(p.B * p.Hkv * p.Lkv * p.Ev * bytes);
    const mods = modArguments(mem, sel.rendered, sel.scoreMod, sel.maskMod, true);
    const io = {
      q: this.input(q, mem), k: this.input(k, mem), v: this.input(v, mem),
      out: typeof out === 'bigint' ? out : this.input(out, mem),
      dout: this.input(dOut, mem), lse: typeof lse === 'bigint' ? lse : this.input(lse, mem),
      dq: ddq, dk: ddk, dv: ddv,
      dLse: options.dLse === undefined ? null : this.input(options.dLse, mem),
    };
    const launch = await backwardLaunch(this.context(mem), sel, io, mods);
    return { p, sel, ddq, ddk, ddv, grads: mods.grads, launch };
  }

  async flexAttentionBackward<T extends AnyTensor>(
    q: T, k: AnyTensor, v: AnyTensor, out: AnyTensor, lse: AnyTensor, dOut: AnyTensor, options: FlexAttentionBackwardOptions<AnyTensor> = {},
  ): Promise<FlexAttentionGrads<T>> {
    this.live();
    const n = this.native;
    return withCallMemory(n, async (mem) => {
      const b = await this.prepareBackward(q, k, v, out, lse, dOut, options, mem);
      const { p } = b;
      b.launch();
      n.synchronize();
      const captureGrads = new Map<CapturedTensor, Float32Array>();
      for (const [slot, g] of b.grads) {
        const t = b.sel.scoreMod!.captures[slot] as CapturedTensor;
        const host = new Float32Array(t.data.length);
        n.copyDtoH(g.ptr, host);
        captureGrads.set(t, host);
      }
      const onDevice = isCudaTensor(q);
      return {
        dq: this.output(b.ddq, p.dtype, [p.B, p.Hq, p.Lq, p.E], onDevice, mem) as T,
        dk: this.kvGradient(b.ddk, p, p.E, onDevice, mem) as T,
        dv: this.kvGradient(b.ddv, p, p.Ev, onDevice, mem) as T,
        captureGrads,
      };
    });
  }

  /**
   * For the benchmark: inputs uploaded once (device tensors used as they are), then `warmup`
   * untimed and `iterations` timed passes, each between two CUDA events. 'bwd' times the backward
   * alone (after one forward for out/lse). Timed as the torch peer's `triton.testing.do_bench` times
   * PyTorch: before each pass the L2 cache is flushed (a 256 MB memset, do_bench's buffer), and the
   * samples are queued without waiting between them, so each pass's launch is issued while the GPU
   * is still busy with the flush — its host latency (a few µs: 4% of a decoding step) is not counted
   * as kernel time.
   */
  async measure(q: AnyTensor, k: AnyTensor, v: AnyTensor, options: FlexAttentionOptions, spec: MeasureSpec): Promise<MeasureResult> {
    this.live();
    const n = this.native;
    return withCallMemory(n, async (mem) => {
      const event = () => {
        const e = n.eventCreate();
        mem.onFree(() => n.eventDestroy(e));
        return e;
      };
      try {
        const f = await this.prepareForward(q, k, v, { ...options, returnLse: true }, mem);
        let pass: () => void = f.launch;
        if (spec.pass !== 'fwd') {
          const dOut = spec.dOut ?? hostTensor(f.p.dtype, [f.p.B, f.p.Hq, f.p.Lq, f.p.Ev]);
          const b = await this.prepareBackward(q, k, v, f.dOut, f.dLse, dOut, options, mem);
          f.launch();
          pass = spec.pass === 'bwd' ? b.launch : () => (f.launch(), b.launch());
        }
        const flush = mem.alloc(L2_FLUSH_BYTES);
        for (let i = 0; i < spec.warmup; i++) pass();
        n.synchronize();
        const marks = Array.from({ length: spec.iterations }, () => [event(), event()] as const);
        for (const [e0, e1] of marks) {
          n.memsetD8(flush, 0, L2_FLUSH_BYTES, LAUNCH_STREAM);
          n.eventRecord(e0);
          pass();
          n.eventRecord(e1);
        }
        n.synchronize();
        const ms = marks.map(([e0, e1]) => n.eventElapsedTime(e0, e1));
        return { ms, timer: 'cuda-events' };
      } finally {
        // queued passes may still read the call's memory: wait before it is freed
        n.synchronize();
      }
    });
  }

  // ---------- KvStorage: paged KV caches (@flexattn/kv-cache) hold their pages here ----------
  /** A zero-filled device tensor [1, heads, rows, D] that calls read in place; free it with releaseKv. */
  allocateKv(shape: readonly number[], dtype: DType): CudaTensor {
    this.live();
    return this.kv.allocateKv(shape, dtype);
  }

  /** dst[0, h, rows[i], :] = src[0, h, i, :]: host→device or device→device copies, all checked first. */
  async writeKvRows(dst: CudaTensor, rows: Int32Array, src: CudaTensor | Tensor): Promise<void> {
    this.live();
    this.kv.writeKvRows(dst, rows, src);
  }

  releaseKv(t: CudaTensor): void {
    this.kv.releaseKv(t);
  }

  /** Frees every module and device tensor this backend holds; later calls throw BackendDisposedError. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    try {
      this.held.releaseAll();
    } finally {
      this.modules.unloadAll();
    }
  }
}

/** A layout for ir's checkTensor that accepts a tensor of any rank (toGpu, toHost). */
function anyRank(t: unknown): string {
  const shape = (t as { shape?: unknown } | null)?.shape;
  return Array.isArray(shape) && shape.length ? `[${shape.map((_, i) => `d${i}`).join(', ')}]` : '[d0]';
}

/**
 * The CUDA backend on `device` (default 0). Rejects with BackendUnavailableError (listing what was
 * tried and what to do) when the addon, the NVIDIA driver, a GPU or NVRTC is missing.
 */
export async function createCudaBackend(options: CudaBackendOptions = {}): Promise<CudaBackend> {
  const native = loadCudaNative();
  const device = native.init(options.device ?? 0);
  return new CudaBackend(native, device, options);
}
