/**
 * Compute pipelines, built once per program key: the WGSL is generated only on a miss, compile
 * errors come back as a CompileError with the offending lines, and a failed build is forgotten so
 * a later call can retry. The cache is bounded: at most `capacity` pipelines, the least recently
 * used dropped first (a Map keeps insertion order; a hit moves its key to the end). Each distinct
 * mod costs a few pipelines (forward; backward's three) of about 7 MB each on lavapipe, so a
 * program that traces a new mod per step would otherwise grow without end. WebGPU has no
 * destroy() for pipelines: a dropped one is freed when the GC collects it.
 */
import { CompileError, OptionError } from './errors.js';
import type { BindingKind, GpuProgram } from './program.js';

export interface BuiltProgram {
  pipeline: GPUComputePipeline;
  /** one layout per bind group, in the program's order */
  layouts: GPUBindGroupLayout[];
}

/** What the pipeline cache holds and has done (`backend.cacheStats().pipelines`). */
export interface PipelineCacheStats {
  /** pipelines built or being built, now */
  size: number;
  /** the most it keeps (`pipelineCacheSize`) */
  capacity: number;
  hits: number;
  /** builds (each a WGSL compile) */
  misses: number;
  /** least recently used pipelines dropped to stay within capacity */
  evictions: number;
}

/** Default `pipelineCacheSize`: a few dozen mods' forward and backward pipelines. */
export const DEFAULT_PIPELINE_CACHE_SIZE = 64;

export class PipelineCache {
  private readonly built = new Map<string, Promise<BuiltProgram>>();
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(
    private readonly device: GPUDevice,
    readonly capacity = DEFAULT_PIPELINE_CACHE_SIZE,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new OptionError(`pipelineCacheSize must be a positive integer, got ${String(capacity)}`);
  }

  get(program: GpuProgram): Promise<BuiltProgram> {
    const key = program.key;
    let p = this.built.get(key);
    if (p) {
      this.hits++;
      this.built.delete(key);
      this.built.set(key, p);
      return p;
    }
    this.misses++;
    p = this.build(key, program.code(), program.groups);
    this.built.set(key, p);
    // forget a failed build (a later call retries), unless the key was rebuilt since
    p.catch(() => {
      if (this.built.get(key) === p) this.built.delete(key);
    });
    for (const oldest of this.built.keys()) {
      if (this.built.size <= this.capacity) break;
      this.built.delete(oldest);
      this.evictions++;
    }
    return p;
  }

  /** Pipelines built or being built. */
  get size(): number {
    return this.built.size;
  }

  stats(): PipelineCacheStats {
    return { size: this.built.size, capacity: this.capacity, hits: this.hits, misses: this.misses, evictions: this.evictions };
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
