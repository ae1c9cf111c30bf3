// ir's KvStorage on the CUDA device (allocateKv, writeKvRows, releaseKv): what a paged KV cache
// (@flexattn/kv-cache) needs for its pages. The pages are ordinary device tensors of this backend
// (device-tensors.ts): held and released like toGpu uploads, validated by ir's shared validator
// (size, released, owning device), read in place by the calls.
import { checkKvAllocation, checkKvRowWrite, checkTensor, KV_LAYOUT, numel, OptionError, type DeviceTensors, type DType, type Tensor } from '@flexattn/ir';
import { elementBytes, isCudaTensor, type CudaTensor, type HeldMemory } from './device-tensors.js';
import type { CudaNative } from './native.js';

export class CudaKvStorage {
  constructor(
    private readonly native: Pick<CudaNative, 'copyHtoD' | 'copyDtoD'>,
    private readonly held: HeldMemory,
    private readonly tensors: DeviceTensors,
  ) {}

  /** A zero-filled device tensor [1, heads, rows, D], held until releaseKv or the backend's dispose. */
  allocateKv(shape: readonly number[], dtype: DType): CudaTensor {
    checkKvAllocation(shape, dtype);
    const bytes = numel(shape) * elementBytes(dtype);
    return this.held.hold(shape, dtype, (mem) => mem.zeros(bytes));
  }

  /**
   * dst[0, h, rows[i], :] = src[0, h, i, :]: everything is checked before the first copy (a bad
   * call writes nothing), then one copy per run of consecutive destination rows per head —
   * host→device for a host source, device→device for a device one. The addon's copies are
   * synchronous with the default stream, so every later call sees the rows.
   */
  writeKvRows(dst: CudaTensor, rows: Int32Array, src: CudaTensor | Tensor): void {
    checkKvRowWrite(dst, rows, src);
    if (!isCudaTensor(dst)) throw new OptionError(`writeKvRows: the destination must be a device tensor of this CUDA backend; allocate it with the backend's allocateKv`);
    // the same checks as a call's inputs: allocation size, released (or backend disposed), device
    checkTensor('writeKvRows: the destination', dst, KV_LAYOUT, this.tensors);
    checkTensor('writeKvRows: the source', src, KV_LAYOUT, this.tensors);
    const [, heads, dstRows, D] = dst.shape as [number, number, number, number];
    const es = elementBytes(dst.dtype);
    const n = rows.length;
    for (const [i0, i1] of consecutiveRuns(rows)) {
      for (let h = 0; h < heads; h++) {
        const dstByte = (h * dstRows + rows[i0]!) * D * es;
        const from = (h * n + i0) * D;
        const count = (i1 - i0) * D;
        if (isCudaTensor(src)) this.native.copyDtoD(dst.ptr + BigInt(dstByte), src.ptr + BigInt(from * es), count * es);
        else this.native.copyHtoD(dst.ptr + BigInt(dstByte), src.data.subarray(from, from + count));
      }
    }
  }

  /** Frees a tensor from allocateKv; later use is a typed error (the validator sees it released). */
  releaseKv(t: CudaTensor): void {
    this.held.release(t);
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
