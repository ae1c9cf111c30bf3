/**
 * The GPU side without the IR: given hooks (WGSL) and buffers, it picks the kernel for a call
 * (kernel-configs.ts) and encodes its passes (forward-pass.ts, split-kv-pass.ts, backward-pass.ts)
 * through the generic runner (kernel-runner.ts: pipelines, uniforms, bindings, dispatch). The
 * backend (backend.ts) turns IR mods into hooks and host tensors into buffers; the kernel tests
 * call the engine with hand-written hooks.
 */
import type { BackwardCall, ForwardCall } from './attention-call.js';
import { encodeBackward } from './backward-pass.js';
import type { GpuContext } from './device.js';
import { encodeForward } from './forward-pass.js';
import { GpuMemory } from './gpu-memory.js';
import { KernelConfigs } from './kernel-configs.js';
import { KernelRunner } from './kernel-runner.js';
import { submitRowWrite, type RowWrite } from './kv-rows-pass.js';
import { PipelineCache, type PipelineCacheStats } from './pipeline-cache.js';
import { encodeLanesDecode, encodeSplitTemplate } from './split-kv-pass.js';

export class Engine {
  readonly memory: GpuMemory;
  readonly configs: KernelConfigs;
  readonly runner: KernelRunner;
  private readonly pipelines: PipelineCache;

  /** `pipelineCacheSize`: the most compiled pipelines kept (least recently used dropped first). */
  constructor(readonly ctx: GpuContext, pipelineCacheSize?: number) {
    this.memory = new GpuMemory(ctx.device, ctx.caps);
    this.configs = new KernelConfigs(ctx.caps);
    this.pipelines = new PipelineCache(ctx.device, pipelineCacheSize);
    this.runner = new KernelRunner(this.memory, this.pipelines, ctx.caps.maxWorkgroupsPerDim, ctx.caps.maxStorageBuffersPerStage);
  }

  /** Attention forward: a split-KV decoder for decoding shapes, else the fused forward kernel. */
  async forward(call: ForwardCall): Promise<void> {
    const s = call.shape;
    const enc = call.encoder ?? this.ctx.device.createCommandEncoder();
    const kind = this.configs.decodeKind(s, call.tables ? (call.maskH ?? 1) : undefined);
    await this.encoding(async () => {
      if (kind === 'lanes') await encodeLanesDecode(this.runner, this.configs, this.configs.decodeConfig(s)!, call, enc);
      else if (kind === 'tiles') await encodeSplitTemplate(this.runner, this.configs, call, enc);
      else await encodeForward(this.runner, this.configs.forwardConfig(s.E, s.Ev), call, enc);
    });
    if (!call.encoder) await this.memory.submit(enc);
  }

  async backward(call: BackwardCall): Promise<void> {
    const enc = call.encoder ?? this.ctx.device.createCommandEncoder();
    await this.encoding(() => encodeBackward(this.runner, this.configs.backwardConfig(call.shape.E, call.shape.Ev), call, enc));
    if (!call.encoder) await this.memory.submit(enc);
  }

  /** Encodes; if that throws (a limit, a compile error), the per-call buffers already made are freed. */
  private async encoding(encode: () => Promise<void>): Promise<void> {
    try {
      await encode();
    } catch (e) {
      await this.memory.abandonEncoding();
      throw e;
    }
  }

  pipelineStats(): PipelineCacheStats {
    return this.pipelines.stats();
  }

  /**
   * Scatters rows into a device tensor (a paged KV cache's append); queued, not awaited. A failed
   * encode (a binding limit) frees the per-call buffers it made, like an attention call's.
   */
  writeRows(w: RowWrite): Promise<void> {
    return this.encoding(() => submitRowWrite(this.runner, w));
  }

  dispose(): void {
    this.memory.dispose();
    this.pipelines.clear();
  }
}
