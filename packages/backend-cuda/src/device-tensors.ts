// CUDA device tensors and what ir's shared validator needs to know of them (`DeviceTensors`,
// ir/src/validate.ts): every device tensor comes from a backend (toGpu, or a result of a call on
// device tensors) and is recorded here with its allocation — bytes, owning device, released — so a
// tensor whose shape is larger than its allocation, one already released (or whose backend was
// disposed) or one from another GPU gets a typed error before any launch, instead of a kernel
// reading freed or foreign memory. One representation for every device tensor the backend hands
// out: toGpu uploads, device-resident results and a paged KV cache's pages (kv-storage.ts).
import { type DeviceTensorInfo, type DeviceTensors, type DType } from '@flexattn/ir';
import { CallMemory } from './call-memory.js';
import type { CudaNative, DevicePtr } from './native.js';

/** A tensor in CUDA device memory, as this backend hands them out: pass it instead of a host tensor to skip the copies. */
export interface CudaTensor {
  readonly ptr: DevicePtr;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** One device allocation behind one or more CudaTensors. */
interface Allocation {
  readonly ptr: DevicePtr;
  readonly bytes: number;
  readonly device: object;
  released: boolean;
}

/** The allocation of every CudaTensor a backend made. */
const allocations = new WeakMap<object, Allocation>();
/**
 * Live allocations by base pointer, per device: a `{ ptr, shape, dtype }` object built by hand over
 * a live allocation (a reshaped view) is checked against that allocation's size. (A hand-built
 * object over an address that was freed and handed out again cannot be told apart; tensors a
 * backend made always can.)
 */
const liveAllocations = new WeakMap<object, Map<DevicePtr, Allocation>>();
function liveOn(device: object): Map<DevicePtr, Allocation> {
  let m = liveAllocations.get(device);
  if (!m) liveAllocations.set(device, (m = new Map()));
  return m;
}

/** A CudaTensor or not: host tensors have `data`, device ones a `ptr`. */
export const isCudaTensor = (t: object): t is CudaTensor => 'ptr' in t && !('data' in t);

/**
 * The identity of a device: one object per (addon, ordinal), so two backends on the same GPU (one
 * primary context) share tensors and backends on different GPUs do not.
 */
const devices = new WeakMap<object, Map<number, object>>();
export function deviceToken(native: object, ordinal: number): object {
  let m = devices.get(native);
  if (!m) devices.set(native, (m = new Map()));
  let token = m.get(ordinal);
  if (!token) m.set(ordinal, (token = Object.freeze({ ordinal })));
  return token;
}

const ELEMENT_BYTES: Record<DType, number> = { f32: 4, f16: 2, bf16: 2 };
/** Bytes per element on the device (f16/bf16 as 16-bit bit patterns). */
export const elementBytes = (dtype: DType): number => ELEMENT_BYTES[dtype];

/** The `tensors` policy the CUDA backend passes to resolveAttention (ir's `AttentionSupport.tensors`). */
export function cudaTensors(device: object): DeviceTensors {
  return {
    backend: 'cuda',
    device,
    isDeviceTensor: (t) => isCudaTensor(t),
    describe: (t) => describeCudaTensor(t as CudaTensor, device),
    elementBytes,
  };
}

function describeCudaTensor(t: CudaTensor, device: object): DeviceTensorInfo {
  const a = allocations.get(t) ?? (typeof t.ptr === 'bigint' ? liveOn(device).get(t.ptr) : undefined);
  // an address with no live allocation of this device behind it reads as released: there is no
  // memory there to use (the validator's message names the argument and says to upload again)
  return a ? { byteLength: a.bytes, released: a.released, device: a.device } : { byteLength: 0, released: true, device };
}

/**
 * The device memory a backend holds across calls: toGpu uploads and device-resident results, until
 * `release` or `dispose`. `stats` is what `cacheStats().buffers` reports.
 */
export class HeldMemory {
  private readonly held = new Set<Allocation>();

  constructor(
    private readonly native: CudaNative,
    readonly device: object,
  ) {}

  /** Records `ptr` (of `bytes`, already allocated on this device) as held, and a tensor over it. */
  adopt(ptr: DevicePtr, bytes: number, shape: readonly number[], dtype: DType): CudaTensor {
    const a: Allocation = { ptr, bytes, device: this.device, released: false };
    this.held.add(a);
    liveOn(this.device).set(ptr, a);
    const t: CudaTensor = Object.freeze({ ptr, shape: Object.freeze([...shape]), dtype });
    allocations.set(t, a);
    return t;
  }

  /**
   * A new held tensor over the allocation `make` fills in a scope of its own (an upload, zeros): if
   * filling it fails, the allocation is freed with that scope and nothing is held.
   */
  hold(shape: readonly number[], dtype: DType, make: (mem: CallMemory) => DevicePtr): CudaTensor {
    const mem = new CallMemory(this.native);
    try {
      const ptr = make(mem);
      return this.adopt(ptr, mem.handOver(ptr), shape, dtype);
    } finally {
      mem.free();
    }
  }

  /** Frees a tensor this backend holds; a released one, or another backend's, is left alone. */
  release(t: CudaTensor): void {
    const a = allocations.get(t);
    if (!a || !this.held.has(a)) return;
    this.held.delete(a);
    a.released = true;
    liveOn(this.device).delete(a.ptr);
    this.native.free(a.ptr);
  }

  /** Frees everything held (dispose): every tensor handed out reads as released from then on. */
  releaseAll(): void {
    const errors: unknown[] = [];
    for (const a of this.held) {
      a.released = true;
      liveOn(this.device).delete(a.ptr);
      try {
        this.native.free(a.ptr);
      } catch (e) {
        errors.push(e);
      }
    }
    this.held.clear();
    if (errors.length) throw errors[0];
  }

  stats(): { count: number; bytes: number } {
    let bytes = 0;
    for (const a of this.held) bytes += a.bytes;
    return { count: this.held.size, bytes };
  }
}
