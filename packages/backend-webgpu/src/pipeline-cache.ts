/**
 * Compute pipelines, built once per program key: the WGSL is generated only on a miss, compile
 * errors come back as a CompileError with the offending lines, and a failed build is forgotten so
 * a later call can retry. The cache is bounded (ir's LruCache): at most `capacity` pipelines, the
 * least recently used dropped first. Each distinct mod costs a few pipelines (forward; backward's
 * three) of about 7 MB each on lavapipe, so a program that traces a new mod per step would
 * otherwise grow without end. WebGPU has no destroy() for pipelines: a dropped one is freed when
 * the GC collects it.
 */
import { LruCache, type LruCacheStats } from '@flexattn/ir';
import { CompileError } from './errors.js';
import type { BindingKind, GpuProgram } from './program.js';

export interface BuiltProgram {
  pipeline: GPUComputePipeline;
  /** one layout per bind group, in the program's order */
  layouts: GPUBindGroupLayout[];
}

/** What the pipeline cache holds and has done (`backend.cacheStats().pipelines`); `misses` are builds (each a WGSL compile). */
export type PipelineCacheStats = LruCacheStats;

/** Default `pipelineCacheSize`: a few dozen mods' forward and backward pipelines. */
export const DEFAULT_PIPELINE_CACHE_SIZE = 64;

export class PipelineCache {
  private readonly built: LruCache<Promise<BuiltProgram>>;

  constructor(
    private readonly device: GPUDevice,
    capacity = DEFAULT_PIPELINE_CACHE_SIZE,
  ) {
    this.built = new LruCache({ capacity, optionName: 'pipelineCacheSize', pending: (p) => p });
  }

  get(program: GpuProgram): Promise<BuiltProgram> {
    return this.built.getOrCreate(program.key, () => this.build(program.key, program.code(), program.groups));
  }

  get capacity(): number {
    return this.built.capacity;
  }

  /** Pipelines built or being built. */
  get size(): number {
    return this.built.size;
  }

  stats(): PipelineCacheStats {
    return this.built.stats();
  }

  clear(): void {
    this.built.clear();
  }

  private layout(kinds: readonly BindingKind[]): GPUBindGroupLayout {
    return this.device.createBindGroupLayout({
      entries: kinds.map((k, binding) => ({
        binding,
        visibility: 4 /* GPUShaderStage.COMPUTE */,
        buffer: { type: k === 'uniform' ? 'uniform' : k === 'read' ? 'read-only-storage' : 'storage' },
      })),
    });
  }

  private async build(key: string, code: string, groups: readonly (readonly BindingKind[])[]): Promise<BuiltProgram> {
    const device = this.device;
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code, label: key });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length) {
      await device.popErrorScope();
      const lines = code.split('\n');
      const log = errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}\n    ${lines[m.lineNum - 1] ?? ''}`).join('\n');
      throw new CompileError(`WGSL for ${key} did not compile`, log);
    }
    const layouts = groups.map((g) => this.layout(g));
    const pipeline = await device.createComputePipelineAsync({
      layout: device.createPipelineLayout({ bindGroupLayouts: layouts }),
      compute: { module, entryPoint: 'main' },
      label: key,
    });
    const err = await device.popErrorScope();
    if (err) throw new CompileError(`pipeline ${key} failed`, err.message);
    return { pipeline, layouts };
  }
}
