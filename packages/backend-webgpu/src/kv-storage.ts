/**
 * ir's KvStorage on the WebGPU device (allocateKv, writeKvRows, releaseKv): what a paged KV cache
 * (@flexattn/kv-cache) needs for its pages. The pages are ordinary device tensors of this backend
 * (device-tensors.ts): buffers of its GpuMemory (counted by cacheStats, freed by release and
 * dispose), validated by ir's shared validator like a call's inputs (size in storage bytes,
 * released, owning device), read in place by the calls.
 */
import { checkKvAllocation, checkKvRowWrite, checkTensor, KV_LAYOUT, numel, OptionError, type DeviceTensors, type DType, type Tensor } from '@flexattn/ir';
import { isGpuTensor, type GpuTensor } from './device-tensors.js';
import type { Engine } from './engine.js';
import { BufferUsage } from './gpu-memory.js';
import { storageBytes, type Storage } from './programs/common.js';

/** What the KV storage needs of its backend: how a dtype is stored, and a host tensor's elements as stored. */
export interface KvStorageHost {
  storageOf(dtype: DType): Storage;
  deviceData(t: Tensor): Float32Array | Uint16Array;
}

export class WebGPUKvStorage {
  constructor(
    private readonly engine: Engine,
    private readonly tensors: DeviceTensors,
    private readonly host: KvStorageHost,
  ) {}

  /** A zero-filled device tensor [1, heads, rows, D] (WebGPU zero-initializes new buffers). */
  allocateKv(shape: readonly number[], dtype: DType): GpuTensor {
    checkKvAllocation(shape, dtype);
    const bytes = numel(shape) * storageBytes(this.host.storageOf(dtype));
    const buffer = this.engine.memory.createBuffer(bytes, BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST, 'kv pages');
    return { buffer, shape: [...shape], dtype };
  }

  /**
   * dst[0, h, rows[i], :] = src[0, h, i, :], on the device (one scatter dispatch; a host source is
   * uploaded first, freed once the GPU is through with it). Everything is checked before anything
   * is written; resolves once the write is queued, so every later call on this backend sees it.
   */
  async writeKvRows(dst: GpuTensor, rows: Int32Array, src: GpuTensor | Tensor): Promise<void> {
    checkKvRowWrite(dst, rows, src);
    if (!isGpuTensor(dst)) throw new OptionError("writeKvRows: the destination must be a device tensor of this WebGPU backend; allocate it with the backend's allocateKv");
    // the same checks as a call's inputs: storage size, released (or backend disposed), device; host data length
    checkTensor('writeKvRows: the destination', dst, KV_LAYOUT, this.tensors);
    checkTensor('writeKvRows: the source', src, KV_LAYOUT, this.tensors);
    if (rows.length === 0) return;
    const source = isGpuTensor(src) ? src.buffer : this.host.deviceData(src);
    const [, heads, dstRows, width] = dst.shape as [number, number, number, number];
    await this.engine.writeRows({ dst: dst.buffer, rows, src: source, heads, dstRows, width, storage: this.host.storageOf(dst.dtype) });
  }
}
