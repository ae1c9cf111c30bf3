/**
 * The generic runner every kernel goes through: builds a program's pipeline (cached), makes its
 * per-call uniforms, table and capture bindings, opens timed passes and dispatches within the
 * device's grid limits. Knows nothing about attention.
 */
import { tablesView, type PackedBlockTables } from '@flexattn/ir';
import { UnsupportedError } from './errors.js';
import { BufferUsage, type GpuMemory } from './gpu-memory.js';
import type { BuiltProgram, PipelineCache } from './pipeline-cache.js';
import type { CaptureState, GpuProgram } from './program.js';
import { packParams, PARAMS_WORDS, type ParamsValues } from './programs/common.js';
import type { WgslHooks } from './programs/hooks.js';
import type { PassTimer } from './timing.js';

/** The table part of Params for one view of tile tables (none: no mask, every tile full). */
export type TableParams = Pick<ParamsValues, 'hasMask' | 'mB' | 'mH' | 'offNum' | 'offIdx' | 'offFullNum' | 'offFullIdx'>;

/** One view of tile tables bound for a kernel: its buffer and the Params that locate the lists in it. */
export interface BoundTables {
  buffer: GPUBuffer;
  params: TableParams;
}

export class KernelRunner {
  /** While set (measure()), every compute pass is timed with GPU timestamps. */
  timer?: PassTimer;

  constructor(
    readonly memory: GpuMemory,
    private readonly pipelines: PipelineCache,
    readonly maxWorkgroupsPerDim: number,
    private readonly maxStorageBuffers: number,
  ) {}

  /** The program's pipeline; a kernel that binds more storage buffers than the device allows is refused first. */
  build(program: GpuProgram): Promise<BuiltProgram> {
    const storage = program.groups.flat().filter((k) => k !== 'uniform').length;
    if (storage > this.maxStorageBuffers) {
      return Promise.reject(
        new UnsupportedError(
          `kernel ${program.key.split(':')[0]} needs ${storage} storage buffers but this device allows ${this.maxStorageBuffers} per shader stage; ` +
            'use fewer captured tensors in the mods, or a device created with a higher maxStorageBuffersPerShaderStage (createWebGPUBackend() asks for the adapter\'s limit)',
        ),
      );
    }
    return this.pipelines.get(program);
  }

  /** The Params uniform of one dispatch (freed after the submit). */
  uniform(values: ParamsValues): GPUBuffer {
    const buf = this.memory.freeAfterSubmit(this.memory.createBuffer(Math.ceil((PARAMS_WORDS * 4) / 16) * 16, BufferUsage.UNIFORM | BufferUsage.COPY_DST, 'params'));
    this.memory.device.queue.writeBuffer(buf, 0, packParams(values));
    return buf;
  }

  /**
   * One view of tile tables uploaded for this call ('kv-major': forward and dQ; 'q-major': dK/dV).
   * `reservedWords`: that many u32 words at the buffer's front, left for a pre-pass to write (the
   * forward's V-tile flags, programs/v-flags.ts); the tables' offsets start after them.
   */
  tables(tables: PackedBlockTables | undefined, view: 'kv-major' | 'q-major', reservedWords = 0): BoundTables {
    const usage = BufferUsage.STORAGE | BufferUsage.COPY_DST;
    if (!tables) {
      const buffer = reservedWords ? this.memory.freeAfterSubmit(this.memory.createBuffer(reservedWords * 4, usage, 'v flags')) : this.memory.unusedBinding();
      return { buffer, params: { hasMask: false, mB: 1, mH: 1, offNum: 0, offIdx: 0, offFullNum: 0, offFullIdx: 0 } };
    }
    const v = tablesView(tables, view);
    let words = v.words;
    if (reservedWords) {
      words = new Int32Array(reservedWords + v.words.length);
      words.set(v.words, reservedWords);
    }
    const buffer = this.memory.uploadForCall(words, usage, reservedWords ? 'v flags + tables' : 'tables');
    const at = (offset: number) => reservedWords + offset;
    return {
      buffer,
      params: { hasMask: true, mB: v.mB, mH: v.mH, offNum: at(v.numBlocks), offIdx: at(v.indices), offFullNum: at(v.fullNumBlocks), offFullIdx: at(v.fullIndices) },
    };
  }

  /** The mods' bind group: the scalars (uniform, or a placeholder), then the captured tensors. */
  captureBindGroup(layout: GPUBindGroupLayout, hooks: WgslHooks, st: CaptureState): GPUBindGroup {
    let scalars = this.memory.unusedBinding();
    if (hooks.scalars.length) {
      const bytes = Math.max(16, Math.ceil((st.scalars?.byteLength ?? 0) / 16) * 16);
      scalars = this.memory.freeAfterSubmit(this.memory.createBuffer(bytes, BufferUsage.UNIFORM | BufferUsage.COPY_DST, 'scalars'));
      if (st.scalars) this.memory.device.queue.writeBuffer(scalars, 0, st.scalars);
    }
    return this.bindGroup(layout, [scalars, ...hooks.captures.map((_, i) => st.buffers[i]!)]);
  }

  bindGroup(layout: GPUBindGroupLayout, buffers: GPUBuffer[]): GPUBindGroup {
    return this.memory.device.createBindGroup({ layout, entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) });
  }

  beginPass(enc: GPUCommandEncoder): GPUComputePassEncoder {
    const timestampWrites = this.timer?.writes();
    return timestampWrites ? enc.beginComputePass({ timestampWrites }) : enc.beginComputePass();
  }

  /** Sets `built`'s pipeline and bind groups (buffers in binding order, or a prepared group) and dispatches `grid`. */
  dispatch(pass: GPUComputePassEncoder, built: BuiltProgram, groups: (GPUBuffer[] | GPUBindGroup)[], grid: [number, number?, number?]): void {
    if (grid.some((d) => d !== undefined && d > this.maxWorkgroupsPerDim)) {
      throw new UnsupportedError(`dispatch [${grid.join(', ')}] exceeds ${this.maxWorkgroupsPerDim} workgroups per dimension`);
    }
    pass.setPipeline(built.pipeline);
    groups.forEach((g, i) => pass.setBindGroup(i, Array.isArray(g) ? this.bindGroup(built.layouts[i]!, g) : g));
    pass.dispatchWorkgroups(grid[0], grid[1] ?? 1, grid[2] ?? 1);
  }
}
