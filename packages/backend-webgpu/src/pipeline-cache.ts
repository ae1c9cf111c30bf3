/**
 * Compute pipelines, built once per program key: the WGSL is generated only on a miss, compile
 * errors come back as a CompileError with the offending lines, and a failed build is forgotten so
 * a later call can retry.
 */
import { CompileError } from './errors.js';
import type { BindingKind, GpuProgram } from './program.js';

export interface BuiltProgram {
  pipeline: GPUComputePipeline;
  /** one layout per bind group, in the program's order */
  layouts: GPUBindGroupLayout[];
}

export class PipelineCache {
  private readonly built = new Map<string, Promise<BuiltProgram>>();

  constructor(private readonly device: GPUDevice) {}

  get(program: GpuProgram): Promise<BuiltProgram> {
    let p = this.built.get(program.key);
    if (!p) {
      p = this.build(program.key, program.code(), program.groups);
      this.built.set(program.key, p);
      p.catch(() => this.built.delete(program.key));
    }
    return p;
  }

  /** Pipelines built or being built. */
  get size(): number {
    return this.built.size;
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
