// The CUDA FlexAttentionBackend: validates (ir), picks and renders the kernels (launch-plan.ts),
// moves tensors to and from the device for one call (call-memory.ts) and runs the launches through
// the addon. Compiled modules are cached per source (kernel-modules.ts: memory, disk, NVRTC).
import {
  CapturedTensor,
  checkBackwardInputs,
  resolveAttention,
  type FlexAttentionBackend,
  type FlexAttentionGrads,
  type FlexAttentionOptions,
  type FlexAttentionResult,
  type MeasureResult,
  type MeasureSpec,
  type Tensor,
} from '@flexattn/ir';
import { CallMemory, hostTensor } from './call-memory.js';
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

export class CudaBackend implements FlexAttentionBackend {
  readonly name = 'cuda';
  readonly arch: string;
  private readonly modules: KernelModules;
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
  private async prepareForward(q: Tensor, k: Tensor, v: Tensor, options: FlexAttentionOptions, mem: CallMemory) {
    const p = withScaleInScoreMod(resolveAttention(q, k, v, options, { maxHeadDim: MAX_HEAD_DIM, pass: 'forward', backend: this }));
    const sel = selectKernels(p, this.target);
    const out = hostTensor(p.dtype, [p.B, p.Hq, p.Lq, p.Ev]);
    const lse = hostTensor('f32', [p.B, p.Hq, p.Lq]);
    const dOut = mem.alloc(out.data.byteLength);
    const dLse = mem.alloc(lse.data.byteLength);
    const io = { q: mem.upload(q.data), k: mem.upload(k.data), v: mem.upload(v.data), out: dOut, lse: dLse };
    const mods = modArguments(mem, sel.rendered, sel.scoreMod, sel.maskMod, false);
    const launch = await forwardLaunch(this.context(mem), sel, io, mods);
    return { p, out, lse, dOut, dLse, launch };
  }

  async flexAttention(q: Tensor, k: Tensor, v: Tensor, options: FlexAttentionOptions = {}): Promise<FlexAttentionResult> {
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
      return result;
    } finally {
      mem.free();
    }
  }

  /** Uploads inputs, builds tables and args, loads the kernels; `launch` queues the backward. */
  private async prepareBackward(
    q: Tensor, k: Tensor, v: Tensor, out: Tensor | DevicePtr, lse: Tensor | DevicePtr, dOut: Tensor,
    options: FlexAttentionOptions, mem: CallMemory,
  ) {
    const p = withScaleInScoreMod(resolveAttention(q, k, v, options, { maxHeadDim: MAX_HEAD_DIM, pass: 'backward', backend: this }));
    if (typeof out !== 'bigint' && typeof lse !== 'bigint') checkBackwardInputs(p, out, lse, dOut);
    const sel = selectKernels(p, this.target);
    const dq = hostTensor(p.dtype, [p.B, p.Hq, p.Lq, p.E]);
    const dk = hostTensor(p.dtype, [p.B, p.Hkv, p.Lkv, p.E]);
    const dv = hostTensor(p.dtype, [p.B, p.Hkv, p.Lkv, p.Ev]);
    const ddq = mem.alloc(dq.data.byteLength);
    const ddk = mem.alloc(dk.data.byteLength);
    const ddv = mem.alloc(dv.data.byteLength);
    const mods = modArguments(mem, sel.rendered, sel.scoreMod, sel.maskMod, true);
    const io = {
      q: mem.upload(q.data), k: mem.upload(k.data), v: mem.upload(v.data),
      out: typeof out === 'bigint' ? out : mem.upload(out.data),
      dout: mem.upload(dOut.data), lse: typeof lse === 'bigint' ? lse : mem.upload(lse.data),
      dq: ddq, dk: ddk, dv: ddv,
    };
    const launch = await backwardLaunch(this.context(mem), sel, io, mods);
    return { sel, dq, dk, dv, ddq, ddk, ddv, grads: mods.grads, launch };
  }

  async flexAttentionBackward(
    q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, dOut: Tensor, options: FlexAttentionOptions = {},
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
      return { dq: b.dq, dk: b.dk, dv: b.dv, captureGrads };
    } finally {
      mem.free();
    }
  }

  /**
   * For the benchmark: inputs uploaded once, then `warmup` untimed and `iterations` timed passes,
   * each between two CUDA events. 'bwd' times the backward alone (after one forward for out/lse).
   */
  async measure(q: Tensor, k: Tensor, v: Tensor, options: FlexAttentionOptions, spec: MeasureSpec): Promise<MeasureResult> {
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

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.modules.unloadAll();
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
