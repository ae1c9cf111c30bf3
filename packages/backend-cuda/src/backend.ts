// The CUDA FlexAttentionBackend: validates (ir), picks and renders the kernels (launch-plan.ts),
// moves tensors to and from the device for one call (call-memory.ts) and runs the launches through
// the addon. Compiled modules are cached per source (kernel-modules.ts: memory, disk, NVRTC). It holds
// paged KV caches' pages as device tensors (device-tensors.ts, ir's KvStorage), which calls read in
// place, one K/V serving every query batch where the cache shares it (batch stride 0).
import {
  CapturedTensor,
  checkBackwardInputs,
  resolveAttention,
  type BackendFeature,
  type FlexAttentionBackend,
  type FlexAttentionBackwardOptions,
  type FlexAttentionGrads,
  type FlexAttentionOptions,
  type FlexAttentionResult,
  type KvStorage,
  type MeasureResult,
  type MeasureSpec,
  type DType,
  type Tensor,
} from '@flexattn/ir';
import { CallMemory, hostTensor } from './call-memory.js';
import { CudaTensorStore, isCudaTensor, type CudaTensor } from './device-tensors.js';
import { sumOverBatch } from './batch-sum.js';
import { KernelModules } from './kernel-modules.js';
import { backwardLaunch, forwardLaunch, selectKernels, type LaunchContext, type TargetDevice } from './launch-plan.js';
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
}

/** The largest head dim (E and Ev) the kernels support. */
export const MAX_HEAD_DIM = 256;

/**
 * ir's optional features every CUDA body implements: returnAux.maxScores (a compile-time variant
 * of the forward and decode bodies, FLEX_MAX_SCORES) and the backward's dLse (folded into delta by
 * the backward's preprocessing, so dq/dk/dv and capture gradients all include it).
 */
const FEATURES: readonly BackendFeature[] = Object.freeze(['dLse', 'maxScores']);

/** A call's tensors: host tensors (uploaded per call) or this backend's device tensors (read in place). */
type AnyTensor = Tensor | CudaTensor;

export class CudaBackend implements FlexAttentionBackend, KvStorage<CudaTensor> {
  readonly name = 'cuda';
  readonly features = FEATURES;
  readonly arch: string;
  private readonly modules: KernelModules;
  private readonly tensors: CudaTensorStore;
  private readonly target: TargetDevice;
  private disposed = false;

  constructor(
    private readonly native: CudaNative,
    readonly device: CudaDeviceInfo,
    options: CudaBackendOptions = {},
  ) {
    this.arch = smArch(device.computeCapability);
    this.target = { arch: this.arch, smCount: device.smCount, hopperBody: options.hopperForward === 'per-cta' ? 'wg' : 'fa3' };
    this.modules = new KernelModules(native, this.arch, { cacheDir: options.cacheDir, cudaInclude: options.cudaInclude });
    this.tensors = new CudaTensorStore(native);
  }

  /** resolveAttention's view of this backend: K/V of batch 1 for every query batch, its device tensors. */
  private get support() {
    return { kvBatchBroadcast: true, tensors: this.tensors };
  }

  /** A call's input on the device: a device tensor in place, a host tensor uploaded for this call. */
  private input(t: AnyTensor, mem: CallMemory): DevicePtr {
    return isCudaTensor(t) ? t.ptr : mem.upload(t.data);
  }

  /** The device for reports (the bench's header): `CUDA NVIDIA H100 80GB HBM3 (sm_90a, 132 SMs, 79.2 GiB)`. */
  get deviceDescription(): string {
    const { name, smCount, totalMem } = this.device;
    return `CUDA ${name} (${this.arch}, ${smCount} SMs, ${(totalMem / 2 ** 30).toFixed(1)} GiB)`;
  }

  private check(): void {
    if (this.disposed) throw new Error('this CUDA backend was disposed');
  }

  private context(mem: CallMemory): LaunchContext {
    return { native: this.native, modules: this.modules, mem, target: this.target };
  }

  /** Uploads inputs, builds tables and args, loads the kernels; `launch` queues the forward. */
  private async prepareForward(q: AnyTensor, k: AnyTensor, v: AnyTensor, options: FlexAttentionOptions, mem: CallMemory) {
    const p = withScaleInScoreMod(resolveAttention(q, k, v, options, { maxHeadDim: MAX_HEAD_DIM, pass: 'forward', backend: this, support: this.support }));
    const sel = selectKernels(p, this.target);
    const out = hostTensor(p.dtype, [p.B, p.Hq, p.Lq, p.Ev]);
    const lse = hostTensor('f32', [p.B, p.Hq, p.Lq]);
    const maxScores = p.returnMaxScores ? hostTensor('f32', [p.B, p.Hq, p.Lq]) : undefined;
    const dOut = mem.alloc(out.data.byteLength);
    const dLse = mem.alloc(lse.data.byteLength);
    const dMaxScores = maxScores ? mem.alloc(maxScores.data.byteLength) : null;
    const io = { q: this.input(q, mem), k: this.input(k, mem), v: this.input(v, mem), out: dOut, lse: dLse, maxScores: dMaxScores };
    const mods = modArguments(mem, sel.rendered, sel.scoreMod, sel.maskMod, false);
    const launch = await forwardLaunch(this.context(mem), sel, io, mods);
    return { p, out, lse, maxScores, dOut, dLse, dMaxScores, launch };
  }

  async flexAttention(q: AnyTensor, k: AnyTensor, v: AnyTensor, options: FlexAttentionOptions = {}): Promise<FlexAttentionResult> {
    this.check();
    const mem = new CallMemory(this.native);
    try {
      const f = await this.prepareForward(q, k, v, options, mem);
      f.launch();
      this.native.synchronize();
      this.native.copyDtoH(f.dOut, f.out.data);
      const result: FlexAttentionResult = { out: f.out };
      if (f.p.returnLse) {
        this.native.copyDtoH(f.dLse, f.lse.data);
        result.lse = f.lse;
      }
      if (f.maxScores && f.dMaxScores !== null) {
        this.native.copyDtoH(f.dMaxScores, f.maxScores.data);
        result.maxScores = f.maxScores;
      }
      return result;
    } finally {
      mem.free();
    }
  }

  /** Uploads inputs, builds tables and args, loads the kernels; `launch` queues the backward. */
  private async prepareBackward(
    q: AnyTensor, k: AnyTensor, v: AnyTensor, out: AnyTensor | DevicePtr, lse: AnyTensor | DevicePtr, dOut: AnyTensor,
    options: FlexAttentionBackwardOptions<AnyTensor>, mem: CallMemory,
  ) {
    const p = withScaleInScoreMod(resolveAttention(q, k, v, options, { maxHeadDim: MAX_HEAD_DIM, pass: 'backward', backend: this, support: this.support }));
    if (typeof out !== 'bigint' && typeof lse !== 'bigint') checkBackwardInputs(p, out, lse, dOut, options.dLse);
    const sel = selectKernels(p, this.target);
    const dq = hostTensor(p.dtype, [p.B, p.Hq, p.Lq, p.E]);
    // one dK/dV per query batch (the kernels write them so); shared K/V sum them after the copy
    const dk = hostTensor(p.dtype, [p.B, p.Hkv, p.Lkv, p.E]);
    const dv = hostTensor(p.dtype, [p.B, p.Hkv, p.Lkv, p.Ev]);
    const ddq = mem.alloc(dq.data.byteLength);
    const ddk = mem.alloc(dk.data.byteLength);
    const ddv = mem.alloc(dv.data.byteLength);
    const mods = modArguments(mem, sel.rendered, sel.scoreMod, sel.maskMod, true);
    const io = {
      q: this.input(q, mem), k: this.input(k, mem), v: this.input(v, mem),
      out: typeof out === 'bigint' ? out : this.input(out, mem),
      dout: this.input(dOut, mem), lse: typeof lse === 'bigint' ? lse : this.input(lse, mem),
      dq: ddq, dk: ddk, dv: ddv,
      dLse: options.dLse === undefined ? null : this.input(options.dLse, mem),
    };
    const launch = await backwardLaunch(this.context(mem), sel, io, mods);
    return { p, sel, dq, dk, dv, ddq, ddk, ddv, grads: mods.grads, launch };
  }

  async flexAttentionBackward(
    q: AnyTensor, k: AnyTensor, v: AnyTensor, out: AnyTensor, lse: AnyTensor, dOut: AnyTensor, options: FlexAttentionBackwardOptions<AnyTensor> = {},
  ): Promise<FlexAttentionGrads> {
    this.check();
    const n = this.native;
    const mem = new CallMemory(n);
    try {
      const b = await this.prepareBackward(q, k, v, out, lse, dOut, options, mem);
      b.launch();
      n.synchronize();
      n.copyDtoH(b.ddq, b.dq.data);
      n.copyDtoH(b.ddk, b.dk.data);
      n.copyDtoH(b.ddv, b.dv.data);
      const captureGrads = new Map<CapturedTensor, Float32Array>();
      for (const [slot, g] of b.grads) {
        const t = b.sel.scoreMod!.captures[slot] as CapturedTensor;
        const host = new Float32Array(t.data.length);
        n.copyDtoH(g.ptr, host);
        captureGrads.set(t, host);
      }
      // K/V shared by every query batch: their gradient is the sum of the batches' partials
      const shared = b.p.kvBatch !== b.p.B;
      return { dq: b.dq, dk: shared ? sumOverBatch(b.dk) : b.dk, dv: shared ? sumOverBatch(b.dv) : b.dv, captureGrads };
    } finally {
      mem.free();
    }
  }

  /**
   * For the benchmark: inputs uploaded once, then `warmup` untimed and `iterations` timed passes,
   * each between two CUDA events. 'bwd' times the backward alone (after one forward for out/lse).
   */
  async measure(q: AnyTensor, k: AnyTensor, v: AnyTensor, options: FlexAttentionOptions, spec: MeasureSpec): Promise<MeasureResult> {
    this.check();
    const n = this.native;
    const mem = new CallMemory(n);
    const e0 = n.eventCreate();
    const e1 = n.eventCreate();
    try {
      const f = await this.prepareForward(q, k, v, { ...options, returnLse: true }, mem);
      let pass: () => void = f.launch;
      if (spec.pass !== 'fwd') {
        const dOut = spec.dOut ?? hostTensor(f.p.dtype, [f.p.B, f.p.Hq, f.p.Lq, f.p.Ev]);
        const b = await this.prepareBackward(q, k, v, f.dOut, f.dLse, dOut, options, mem);
        f.launch();
        pass = spec.pass === 'bwd' ? b.launch : () => (f.launch(), b.launch());
      }
      for (let i = 0; i < spec.warmup; i++) pass();
      n.synchronize();
      const ms: number[] = [];
      for (let i = 0; i < spec.iterations; i++) {
        n.eventRecord(e0);
        pass();
        n.eventRecord(e1);
        n.eventSynchronize(e1);
        ms.push(n.eventElapsedTime(e0, e1));
      }
      return { ms, timer: 'cuda-events' };
    } finally {
      n.synchronize();
      n.eventDestroy(e0);
      n.eventDestroy(e1);
      mem.free();
    }
  }

  // ---------- KvStorage: paged KV caches (@flexattn/kv-cache) hold their pages here ----------
  /** A zero-filled device tensor [1, heads, rows, D] that calls read in place. */
  allocateKv(shape: readonly number[], dtype: DType): CudaTensor {
    this.check();
    return this.tensors.allocateKv(shape, dtype);
  }

  /** dst[0, h, rows[i], :] = src[0, h, i, :]: host→device or device→device copies, checked first. */
  async writeKvRows(dst: CudaTensor, rows: Int32Array, src: CudaTensor | Tensor): Promise<void> {
    this.check();
    this.tensors.writeKvRows(dst, rows, src);
  }

  releaseKv(t: CudaTensor): void {
    this.tensors.release(t);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.modules.unloadAll();
    this.tensors.releaseAll();
  }
}

/**
 * The CUDA backend on `device` (default 0). Rejects with BackendUnavailableError (listing what was
 * tried and what to do) when the addon, the NVIDIA driver, a GPU or NVRTC is missing.
 */
export async function createCudaBackend(options: CudaBackendOptions = {}): Promise<FlexAttentionBackend> {
  const native = loadCudaNative();
  const device = native.init(options.device ?? 0);
  return new CudaBackend(native, device, options);
}
