/**
 * The engine's GPU buffers: creation within the device's limits, uploads and read-backs, named
 * scratch buffers kept across calls, and per-call buffers freed once the GPU is done with them.
 */
import type { GpuCaps } from './device.js';
import { UnsupportedError } from './errors.js';

/** GPUBufferUsage flags as numbers, so nothing depends on the GPUBufferUsage global being installed. */
export const BufferUsage = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;

const DEFAULT_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;

export class GpuMemory {
  private readonly owned = new Set<GPUBuffer>();
  private readonly scratchBuffers = new Map<string, GPUBuffer>();
  private placeholder?: GPUBuffer;
  /** Per-call buffers (params, tables, scalars) freed after the next submit completes. */
  private perCall: GPUBuffer[] = [];

  constructor(readonly device: GPUDevice, private readonly caps: GpuCaps) {}

  createBuffer(bytes: number, usage: number = DEFAULT_USAGE, label?: string): GPUBuffer {
    const size = Math.max(16, Math.ceil(bytes / 4) * 4);
    if (size > this.caps.maxBufferSize || size > this.caps.maxStorageBindingSize) {
      throw new UnsupportedError(`a ${size}-byte buffer exceeds this device's limits (binding ≤ ${this.caps.maxStorageBindingSize} bytes)`);
    }
    const buf = this.device.createBuffer({ size, usage, label });
    this.owned.add(buf);
    return buf;
  }

  upload(data: ArrayBufferView | ArrayBuffer, usage: number = DEFAULT_USAGE, label?: string): GPUBuffer {
    const buf = this.createBuffer(data.byteLength, usage, label);
    const view = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    // writeBuffer wants whole words, and dawn.node rejects views of a SharedArrayBuffer: copy those
    const shared = typeof SharedArrayBuffer !== 'undefined' && view.buffer instanceof SharedArrayBuffer; // undefined in non-isolated pages
    if (view.byteLength % 4 === 0 && !shared) {
      this.device.queue.writeBuffer(buf, 0, view as Uint8Array<ArrayBuffer>);
    } else {
      const padded = new Uint8Array(Math.ceil(view.byteLength / 4) * 4);
      padded.set(view);
      this.device.queue.writeBuffer(buf, 0, padded);
    }
    return buf;
  }

  async read(buf: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({ size: Math.max(16, size), usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(buf, 0, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(1 /* GPUMapMode.READ */);
    const out = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    staging.destroy();
    return out;
  }

  release(buf: GPUBuffer): void {
    if (this.owned.delete(buf)) buf.destroy();
  }

  /** `buf` lives until the work of the next submit is done. */
  freeAfterSubmit(buf: GPUBuffer): GPUBuffer {
    this.perCall.push(buf);
    return buf;
  }

  /** Uploads per-call data (tables, params) freed after the next submit. */
  uploadForCall(data: ArrayBufferView | ArrayBuffer, usage: number, label: string): GPUBuffer {
    return this.freeAfterSubmit(this.upload(data, usage, label));
  }

  /**
   * A device-only work buffer of at least `bytes`, kept for later calls instead of allocated and
   * freed per call (split-KV partials: MBs per decode step). Sharing one across calls is safe:
   * calls run in queue order and Dawn puts barriers between passes that write the same buffer.
   * Contents are garbage between calls; kernels write what they read. A larger request replaces
   * the buffer (the old one is freed once the work already queued on it is done).
   */
  scratch(name: string, bytes: number): GPUBuffer {
    let b = this.scratchBuffers.get(name);
    if (!b || b.size < bytes) {
      if (b) this.freeAfterSubmit(b);
      b = this.createBuffer(bytes, BufferUsage.STORAGE, name);
      this.scratchBuffers.set(name, b);
    }
    return b;
  }

  /** A 16-byte buffer bound where a kernel declares a binding it will not read (no mask, no scalars). */
  unusedBinding(): GPUBuffer {
    this.placeholder ??= this.createBuffer(16, BufferUsage.STORAGE | BufferUsage.COPY_DST, 'unused binding');
    return this.placeholder;
  }

  /** Submits and, once the GPU is done with them, frees the per-call buffers. */
  submit(enc: GPUCommandEncoder): Promise<void> {
    const bufs = this.perCall;
    this.perCall = [];
    this.device.queue.submit([enc.finish()]);
    return this.device.queue.onSubmittedWorkDone().then(() => bufs.forEach((b) => this.release(b)));
  }

  dispose(): void {
    for (const b of this.owned) b.destroy();
    this.owned.clear();
    this.scratchBuffers.clear();
    this.placeholder = undefined;
  }
}
