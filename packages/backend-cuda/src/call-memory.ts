// Device memory of one call: everything a call allocates is freed together when it ends (after the
// stream synchronised), so no allocation outlives the call that made it; and the host tensors the
// results are copied into.
import { tablesView, type PackedBlockTables, type Tensor } from '@flexattn/ir';
import type { CudaNative, DevicePtr } from './native.js';
import type { DeviceBlockTable } from './kernel-args.js';

/** cuMemAlloc rounds small requests up anyway; a floor keeps zero-byte tensors addressable. */
const MIN_ALLOCATION = 256;

export class CallMemory {
  private readonly ptrs: DevicePtr[] = [];
  constructor(private readonly native: CudaNative) {}

  alloc(bytes: number): DevicePtr {
    const p = this.native.alloc(Math.max(MIN_ALLOCATION, bytes));
    this.ptrs.push(p);
    return p;
  }

  upload(data: ArrayBufferView): DevicePtr {
    const p = this.alloc(data.byteLength);
    if (data.byteLength) this.native.copyHtoD(p, data);
    return p;
  }

  zeros(bytes: number): DevicePtr {
    const p = this.alloc(bytes);
    this.native.memsetD8(p, 0, Math.max(MIN_ALLOCATION, bytes));
    return p;
  }

  /**
   * One view of tile tables on the device, copied as one stretch that the kernel's four pointers
   * point into: 'kv-major' (forward: rows of q tiles listing kv tiles) or 'q-major' (backward: rows
   * of kv tiles listing q tiles).
   */
  tileTable(t: PackedBlockTables, view: 'kv-major' | 'q-major'): DeviceBlockTable {
    const v = tablesView(t, view);
    const base = this.upload(v.words);
    const at = (words: number) => base + BigInt(4 * words);
    return {
      numBlocks: at(v.numBlocks), indices: at(v.indices), fullNumBlocks: at(v.fullNumBlocks), fullIndices: at(v.fullIndices),
      mB: v.mB, mH: v.mH, outer: v.outer, inner: v.inner,
    };
  }

  free(): void {
    for (const p of this.ptrs.splice(0)) this.native.free(p);
  }
}

/** A zeroed host tensor for a result (f16/bf16 as bit patterns). */
export function hostTensor(dtype: Tensor['dtype'], shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: dtype === 'f32' ? new Float32Array(n) : new Uint16Array(n), shape, dtype };
}
