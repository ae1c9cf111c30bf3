/**
 * WebGPU's device tensors as ir's shared validator sees them (`DeviceTensors`, validate.ts): a
 * `GpuTensor` is checked before any GPU work — its buffer holds the bytes its shape needs, it was
 * not released (or destroyed by a disposed backend), and it was made on this backend's device.
 * Without these checks such a tensor gave garbage or zeros and only a Dawn `validation:` line.
 *
 * What is known of a buffer comes from GpuMemory's records (gpu-memory.ts): every buffer a backend
 * made in this realm, with its device, and every one it destroyed. A GPUBuffer the caller made
 * itself is taken on trust for its device and liveness (WebGPU exposes neither), but its size,
 * usage and map state are checked here too.
 *
 * Sizes are in storage bytes: f16 is 2 bytes where the backend keeps f16 as f16 (`shader-f16`),
 * every other case 4 (widened to f32), so a tensor's buffer is checked against how it is stored.
 */
import { OptionError, ShapeError, type DeviceTensorInfo, type DeviceTensors, type DType } from '@flexattn/ir';
import { BufferUsage, bufferRecord } from './gpu-memory.js';
import { storageBytes, type Storage } from './programs/common.js';

/**
 * A device-resident tensor: pass these instead of host tensors to skip the copies. Its elements are
 * stored as the backend's `storageOf(dtype)` says: f16 as f16 on `shader-f16` devices, everything
 * else as f32 (bf16 widened).
 */
export interface GpuTensor {
  readonly buffer: GPUBuffer;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** A GpuTensor or not: host tensors have `data`, device ones a `buffer`. */
export const isGpuTensor = (t: object): t is GpuTensor => 'buffer' in t;

/** A layout for ir's checkTensor that accepts a tensor of any rank (toGpu, toHost). */
export function anyRank(t: unknown): string {
  const shape = (t as { shape?: unknown } | null)?.shape;
  return Array.isArray(shape) && shape.length ? `[${shape.map((_, i) => `d${i}`).join(', ')}]` : '[d0]';
}

/**
 * How a backend whose f16 storage is `f16Storage` keeps `dtype` on the device. Pure (no note):
 * validation asks it for every tensor; the backend's `storageOf` adds the one-time fallback note.
 */
export const storageFor = (dtype: DType, f16Storage: boolean): Storage => (dtype === 'f16' && f16Storage ? 'f16' : 'f32');

/** The `tensors` policy WebGPU passes to resolveAttention (ir's `AttentionSupport.tensors`). */
export function webgpuTensors(device: GPUDevice, f16Storage: boolean): DeviceTensors {
  return {
    backend: 'webgpu',
    device,
    isDeviceTensor: (t) => isGpuTensor(t),
    describe: (t) => describeGpuTensor(t as GpuTensor, device),
    elementBytes: (dtype) => storageBytes(storageFor(dtype, f16Storage)),
  };
}

function describeGpuTensor(t: GpuTensor, device: GPUDevice): DeviceTensorInfo {
  const buf = t.buffer as Partial<GPUBuffer> | null;
  if (typeof buf !== 'object' || buf === null || typeof buf.size !== 'number' || typeof buf.usage !== 'number') {
    throw new ShapeError(`a GpuTensor's buffer must be a GPUBuffer, got ${buf === null ? 'null' : typeof buf}; make device tensors with the backend's toGpu()`);
  }
  const record = bufferRecord(buf as GPUBuffer);
  const released = record.destroyed;
  if (!released && !(buf.usage & BufferUsage.STORAGE)) {
    throw new OptionError('a GpuTensor\'s buffer needs GPUBufferUsage.STORAGE to be read by the kernels; create it with STORAGE | COPY_SRC | COPY_DST, or use toGpu()');
  }
  if (!released && buf.mapState !== undefined && buf.mapState !== 'unmapped') {
    throw new OptionError(`a GpuTensor's buffer is ${buf.mapState === 'mapped' ? 'mapped' : 'being mapped'}; unmap it before passing it to a call`);
  }
  return { byteLength: buf.size, released, device: record.device ?? device };
}
