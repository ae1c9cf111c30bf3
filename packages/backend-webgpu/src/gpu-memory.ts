/**
 * The engine's GPU buffers: creation within the device's limits, uploads and read-backs, named
 * scratch buffers kept across calls, and per-call buffers freed once the GPU is done with them.
 * Every buffer made here is recorded with its device, and every one released or disposed is
 * remembered, so a device tensor can be checked (owner device, released) before a call uses it
 * (device-tensors.ts).
 */
import type { GpuCaps } from './device.js';
import { UnsupportedError } from './errors.js';

/** The device of every buffer a GpuMemory made (any backend in this realm), while the buffer lives. */
const bufferDevices = new WeakMap<GPUBuffer, GPUDevice>();
/** Buffers a GpuMemory destroyed (released, or its backend disposed). */
const destroyedBuffers = new WeakSet<GPUBuffer>();

/** What GpuMemory knows of a buffer: the device it was made on (undefined: made elsewhere) and whether it was destroyed. */
export function bufferRecord(buf: GPUBuffer): { device: GPUDevice | undefined; destroyed: boolean } {
  return { device: bufferDevices.get(buf), destroyed: destroyedBuffers.has(buf) };
}

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
    bufferDevices.set(buf, this.device);
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
    try {
      const enc = this.device.createCommandEncoder();
      enc.copyBufferToBuffer(buf, 0, staging, 0, size);
      this.device.queue.submit([enc.finish()]);
      await staging.mapAsync(1 /* GPUMapMode.READ */);
      const out = staging.getMappedRange(0, size).slice(0, bytes);
      staging.unmap();
      return out;
    } finally {
      staging.destroy();
    }
  }

  release(buf: GPUBuffer): void {
    if (this.owned.delete(buf)) destroy(buf);
  }

  /** Buffers this memory holds now (scratch and placeholder included) and their bytes. */
  stats(): { count: number; bytes: number } {
    let bytes = 0;
    for (const b of this.owned) bytes += b.size;
    return { count: this.owned.size, bytes };
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

  /**
   * After a call failed while encoding: its per-call buffers wait for a submit that will not come,
   * so an empty submit takes them and frees them once the queue is done. Buffers of another call
   * taken with them are safe as they are with any submit: a call makes its per-call buffers right
   * before its own submit (no await in between), and a buffer destroyed after a submit that uses it
   * lives until that work is done (WebGPU's rule; Dawn defers the free to the last use).
   */
  async abandonEncoding(): Promise<void> {
    if (this.perCall.length) await this.submit(this.device.createCommandEncoder());
  }

  dispose(): void {
    for (const b of this.owned) destroy(b);
    this.owned.clear();
    this.scratchBuffers.clear();
    this.placeholder = undefined;
  }
}

/**
 * The buffers of one backend call: everything the call allocates is released when it ends — on
 * every path, a throw included — except what it hands to the caller (device-resident results).
 */
export class CallBuffers {
  private readonly held = new Set<GPUBuffer>();

  constructor(private readonly memory: GpuMemory) {}

  create(bytes: number, usage?: number): GPUBuffer {
    return this.own(this.memory.createBuffer(bytes, usage));
  }

  upload(data: ArrayBufferView): GPUBuffer {
    return this.own(this.memory.upload(data));
  }

  /** The caller takes `buf`: it outlives the call (the caller releases it). */
  handOver(buf: GPUBuffer): GPUBuffer {
    this.held.delete(buf);
    return buf;
  }

  release(): void {
    for (const b of this.held) this.memory.release(b);
    this.held.clear();
  }

  private own(buf: GPUBuffer): GPUBuffer {
    this.held.add(buf);
    return buf;
  }
}

/** Runs `body` with a fresh CallBuffers and releases what it did not hand over, however it ends. */
export async function withCallBuffers<T>(memory: GpuMemory, body: (bufs: CallBuffers) => Promise<T>): Promise<T> {
  const bufs = new CallBuffers(memory);
  try {
    return await body(bufs);
  } finally {
    bufs.release();
  }
}

function destroy(buf: GPUBuffer): void {
  destroyedBuffers.add(buf);
  buf.destroy();
}
