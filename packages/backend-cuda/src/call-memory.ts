// Device memory of one call: everything a call allocates is freed together when it ends (after the
// stream synchronised), on every path — a failing upload, compile, launch or copy included — so no
// allocation outlives the call that made it unless it is handed over (a device-resident result);
// and the host tensors the results are copied into.
import { tablesView, type PackedBlockTables, type Tensor } from '@flexattn/ir';
import type { CudaNative, DevicePtr } from './native.js';
import type { DeviceBlockTable } from './kernel-args.js';

/** cuMemAlloc rounds small requests up anyway; a floor keeps zero-byte tensors addressable. */
const MIN_ALLOCATION = 256;

export class CallMemory {
  /** live allocations of this call and their sizes */
  private readonly ptrs = new Map<DevicePtr, number>();
  private readonly endHooks: (() => void)[] = [];
  private readonly failureHooks: (() => void)[] = [];
  constructor(private readonly native: CudaNative) {}

  alloc(bytes: number): DevicePtr {
    const size = Math.max(MIN_ALLOCATION, bytes);
    const p = this.native.alloc(size);
    this.ptrs.set(p, size);
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

  /** Takes `ptr` out of this call's scope (it outlives the call: a result handed to the caller); returns its size. */
  handOver(ptr: DevicePtr): number {
    const bytes = this.ptrs.get(ptr);
    if (bytes === undefined) throw new Error(`handOver: ${ptr} is not an allocation of this call`);
    this.ptrs.delete(ptr);
    return bytes;
  }

  /** Runs `fn` when the call ends (after its memory is freed): module pins (kernel-modules.ts). */
  onFree(fn: () => void): void {
    this.endHooks.push(fn);
  }

  /** Runs `fn` if the call fails after all, its final free included: undoes a hand-over (withCallMemory). */
  onFailure(fn: () => void): void {
    this.failureHooks.push(fn);
  }

  /** Runs the failure hooks (each once; errors in them are dropped: the call's own error is reported). */
  failed(): void {
    for (const fn of this.failureHooks.splice(0)) {
      try {
        fn();
      } catch {
        // the call's own error says what went wrong first
      }
    }
  }

  /** Allocations of this call still held. */
  get count(): number {
    return this.ptrs.size;
  }

  /**
   * Frees every allocation and runs the end hooks, all of them even when one throws (a sticky CUDA
   * error fails every later call alike); the first error is rethrown after.
   */
  free(): void {
    const errors: unknown[] = [];
    const attempt = (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        errors.push(e);
      }
    };
    for (const p of [...this.ptrs.keys()]) attempt(() => this.native.free(p));
    this.ptrs.clear();
    for (const fn of this.endHooks.splice(0)) attempt(fn);
    if (errors.length) throw errors[0];
  }
}

/** A zeroed host tensor for a result (f16/bf16 as bit patterns). */
export function hostTensor(dtype: Tensor['dtype'], shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: dtype === 'f32' ? new Float32Array(n) : new Uint16Array(n), shape, dtype };
}

/**
 * Runs one call in its own CallMemory, freed on every path. When the call fails, its own error is
 * the one reported (a free failing after it, e.g. on a sticky CUDA error, would only hide it), and
 * what it handed over is taken back (`onFailure`): a failed call holds nothing.
 */
export async function withCallMemory<R>(native: CudaNative, fn: (mem: CallMemory) => Promise<R>): Promise<R> {
  const mem = new CallMemory(native);
  let result: R;
  try {
    result = await fn(mem);
  } catch (e) {
    mem.failed();
    try {
      mem.free();
    } catch {
      // the call's own error says what went wrong first
    }
    throw e;
  }
  try {
    mem.free();
  } catch (e) {
    mem.failed();
    throw e;
  }
  return result;
}
