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
 */
import { OptionError, ShapeError, UnsupportedError, type DeviceTensorInfo, type DeviceTensors, type DType } from '@flexattn/ir';
import { BufferUsage, bufferRecord } from './gpu-memory.js';

/** A device-resident f32 tensor: pass these instead of host tensors to skip the copies. */
export interface GpuTensor {
  readonly buffer: GPUBuffer;
  readonly shape: readonly number[];
  readonly dtype: 'f32';
}

/** A GpuTensor or not: host tensors have `data`, device ones a `buffer`. */
export const isGpuTensor = (t: object): t is GpuTensor => 'buffer' in t;

/** A layout for ir's checkTensor that accepts a tensor of any rank (toGpu, toHost). */
export function anyRank(t: unknown): string {
  const shape = (t as { shape?: unknown } | null)?.shape;
  return Array.isArray(shape) && shape.length ? `[${shape.map((_, i) => `d${i}`).join(', ')}]` : '[d0]';
}

const ELEMENT_BYTES: Record<DType, number> = { f32: 4, f16: 2, bf16: 2 };

/** The `tensors` policy WebGPU passes to resolveAttention (ir's `AttentionSupport.tensors`). */
export function webgpuTensors(device: GPUDevice): DeviceTensors {
  return {
    backend: 'webgpu',
    device,
    isDeviceTensor: (t) => isGpuTensor(t),
    describe: (t) => describeGpuTensor(t as GpuTensor, device),
    elementBytes: (dtype) => ELEMENT_BYTES[dtype],
  };
}

function describeGpuTensor(t: GpuTensor, device: GPUDevice): DeviceTensorInfo {
  const buf = t.buffer as Partial<GPUBuffer> | null;
  if (typeof buf !== 'object' || buf === null || typeof buf.size !== 'number' || typeof buf.usage !== 'number') {
    throw new ShapeError(`a GpuTensor's buffer must be a GPUBuffer, got ${buf === null ? 'null' : typeof buf}; make device tensors with the backend's toGpu()`);
  }
  // kernels read every tensor as f32 storage today: another dtype would be read as garbage
  if (t.dtype !== 'f32') {
    throw new UnsupportedError(`this backend's device tensors hold f32 (got dtype '${String(t.dtype)}'); upload an f16/bf16 host tensor with toGpu(), which widens it`);
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
