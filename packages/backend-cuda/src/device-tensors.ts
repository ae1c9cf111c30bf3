// CUDA device tensors: tensors that live in one backend's device memory across calls — what a paged
// KV cache's pages need (ir's KvStorage: allocateKv, writeKvRows, releaseKv). The backend's calls
// read them in place (no upload); host tensors are still uploaded per call. The validator sees them
// through `DeviceTensors` (ir validate.ts): size, released state and owning backend are checked
// before any GPU work.
import { checkKvRowWrite, numel, OptionError, ShapeError, type DeviceTensorInfo, type DeviceTensors, type DType, type Tensor } from '@flexattn/ir';
import type { CudaNative, DevicePtr } from './native.js';

/** A tensor in a CUDA backend's device memory (f16/bf16 as 16-bit elements, f32 as 32-bit). */
export interface CudaTensor {
  readonly ptr: DevicePtr;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export const elementBytes = (dtype: DType): number => (dtype === 'f32' ? 4 : 2);

/** Whether `t` is a device tensor (of some CUDA backend) rather than a host tensor with `data`. */
export function isCudaTensor(t: object): t is CudaTensor {
  return typeof (t as Partial<CudaTensor>).ptr === 'bigint';
}

/**
 * The device tensors one backend created: their storage, release and the validator's view. Every
 * allocation is tracked, so the backend's dispose frees what its users did not release.
 */
export class CudaTensorStore implements DeviceTensors {
  readonly backend = 'cuda';
  /** This store itself identifies the device (one per backend, hence per CUDA context). */
  readonly device: unknown = this;
  private readonly owned = new Map<CudaTensor, { bytes: number; released: boolean }>();

  constructor(private readonly native: Pick<CudaNative, 'alloc' | 'free' | 'memsetD8' | 'copyHtoD' | 'copyDtoD'>) {}

  isDeviceTensor(t: object): boolean {
    return isCudaTensor(t);
  }

  describe(t: object): DeviceTensorInfo {
    const info = this.owned.get(t as CudaTensor);
    // another backend's tensor: a foreign device (the validator names the fix)
    return info ? { byteLength: info.bytes, released: info.released, device: this } : { byteLength: 0, released: false, device: undefined };
  }

  elementBytes(dtype: DType): number {
    return elementBytes(dtype);
  }

  /** A zero-filled device tensor [1, heads, rows, D] (KvStorage.allocateKv). */
  allocateKv(shape: readonly number[], dtype: DType): CudaTensor {
    if (dtype !== 'f32' && dtype !== 'f16' && dtype !== 'bf16') throw new OptionError(`allocateKv: unknown dtype '${String(dtype)}'; use 'f32', 'f16' or 'bf16'`);
    if (shape.length !== 4 || shape[0] !== 1 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new ShapeError(`allocateKv: the shape must be [1, heads, rows, D] of positive integers, got [${shape.join(', ')}]`);
    }
    const bytes = numel(shape) * elementBytes(dtype);
    const ptr = this.native.alloc(bytes);
    this.native.memsetD8(ptr, 0, bytes);
    const t: CudaTensor = Object.freeze({ ptr, shape: Object.freeze([...shape]), dtype });
    this.owned.set(t, { bytes, released: false });
    return t;
  }

  /**
   * dst[0, h, rows[i], :] = src[0, h, i, :] (KvStorage.writeKvRows): everything is checked before
   * the first copy, then one copy per run of consecutive destination rows per head — host→device
   * for a host source, device→device for one of this backend's tensors. The addon's copies are
   * synchronous with the default stream, so every later call sees the rows.
   */
  writeKvRows(dst: CudaTensor, rows: Int32Array, src: CudaTensor | Tensor): void {
    checkKvRowWrite(dst, rows, src);
    this.checkOwned('the destination', dst);
    if (isCudaTensor(src)) this.checkOwned('the source', src);
    else if (src.data.length !== numel(src.shape)) {
      throw new ShapeError(`writeKvRows: the source has ${src.data.length} elements but shape [${src.shape.join(', ')}] needs ${numel(src.shape)}`);
    }
    const [, heads, dstRows, D] = dst.shape as [number, number, number, number];
    const es = elementBytes(dst.dtype);
    const n = rows.length;
    for (const [i0, i1] of consecutiveRuns(rows)) {
      for (let h = 0; h < heads; h++) {
        const dstByte = ((h * dstRows + rows[i0]!) * D) * es;
        const from = (h * n + i0) * D;
        const count = (i1 - i0) * D;
        if (isCudaTensor(src)) this.native.copyDtoD(dst.ptr + BigInt(dstByte), src.ptr + BigInt(from * es), count * es);
        else this.native.copyHtoD(dst.ptr + BigInt(dstByte), src.data.subarray(from, from + count));
      }
    }
  }

  /** Frees a tensor from allocateKv; later use is a typed error (the validator sees it released). */
  release(t: CudaTensor): void {
    const info = this.owned.get(t);
    if (!info || info.released) return;
    info.released = true;
    this.native.free(t.ptr);
  }

  /** Frees every tensor still held (the backend's dispose). */
  releaseAll(): void {
    // the entries stay (released): a later use is reported as released, not as a foreign tensor
    for (const t of this.owned.keys()) this.release(t);
  }

  private checkOwned(what: string, t: CudaTensor): void {
    const info = this.owned.get(t);
    if (!info) throw new OptionError(`writeKvRows: ${what} is not a tensor of this CUDA backend; allocate it with this backend's allocateKv`);
    if (info.released) throw new OptionError(`writeKvRows: ${what} was released (or its backend disposed)`);
  }
}

/** [start, end) index ranges of `rows` whose values go up by one: each is one contiguous copy. */
export function consecutiveRuns(rows: Int32Array): [number, number][] {
  const runs: [number, number][] = [];
  let start = 0;
  for (let i = 1; i <= rows.length; i++) {
    if (i === rows.length || rows[i] !== rows[i - 1]! + 1) {
      if (i > start) runs.push([start, i]);
      start = i;
    }
  }
  return runs;
}
