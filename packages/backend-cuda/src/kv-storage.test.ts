// KvStorage on the device (kv-storage.ts) against ir's host implementation (writeHostKvRows, the
// reference backend's), on a stand-in addon whose device memory is real bytes: random shapes,
// dtypes, destination rows (runs and scattered), host and device sources. Its pages are ordinary
// device tensors (device-tensors.ts): release, owner and size checks are the validator's.
import fc from 'fast-check';
import { allocateHostKv, OptionError, ShapeError, writeHostKvRows, type DType, type Tensor } from '@flexattn/ir';
import { kvAllocationRefusals } from '@flexattn/ir/testing';
import { describe, expect, it } from 'vitest';
import { cudaTensors, deviceToken, HeldMemory, type CudaTensor } from './device-tensors';
import { consecutiveRuns, CudaKvStorage } from './kv-storage';

/** Device memory as byte arrays behind fake pointers; pointer arithmetic inside an allocation works. */
function fakeMemory() {
  const blocks = new Map<bigint, Uint8Array>();
  let next = 0x10000n;
  const locate = (p: bigint, bytes: number): Uint8Array => {
    for (const [base, mem] of blocks) {
      if (p >= base && p + BigInt(bytes) <= base + BigInt(mem.length)) return mem.subarray(Number(p - base), Number(p - base) + bytes);
    }
    throw new Error(`fake device: ${bytes} bytes at ${p} are outside every allocation`);
  };
  const bytesOf = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  const calls = { copies: 0, frees: 0 };
  const native = {
    alloc: (bytes: number) => {
      const p = next;
      blocks.set(p, new Uint8Array(bytes).fill(0xab)); // garbage until memset
      next += BigInt(bytes) + 0x1000n;
      return p;
    },
    free: (p: bigint) => {
      calls.frees++;
      blocks.delete(p);
    },
    memsetD8: (p: bigint, value: number, bytes: number) => void locate(p, bytes).fill(value),
    copyHtoD: (dst: bigint, src: ArrayBufferView) => {
      calls.copies++;
      locate(dst, src.byteLength).set(bytesOf(src));
    },
    copyDtoD: (dst: bigint, src: bigint, bytes: number) => {
      calls.copies++;
      locate(dst, bytes).set(locate(src, bytes).slice());
    },
  };
  /** A device tensor's contents as a host tensor. */
  const read = (t: CudaTensor): Tensor => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const bytes = locate(t.ptr, n * (t.dtype === 'f32' ? 4 : 2)).slice();
    return { data: t.dtype === 'f32' ? new Float32Array(bytes.buffer) : new Uint16Array(bytes.buffer), shape: [...t.shape], dtype: t.dtype };
  };
  return { native, read, calls };
}

/** KvStorage of one backend on GPU `ordinal` of `native`, and the validator's view of its tensors. */
function kvOn(native: object, ordinal = 0) {
  const device = deviceToken(native, ordinal);
  const held = new HeldMemory(native as never, device);
  const tensors = cudaTensors(device);
  return { store: new CudaKvStorage(native as never, held, tensors), held, tensors };
}

const hostRows = (heads: number, n: number, D: number, dtype: DType, seed: number): Tensor => {
  const t = allocateHostKv([1, heads, n, D], dtype);
  for (let i = 0; i < t.data.length; i++) t.data[i] = dtype === 'f32' ? Math.fround(Math.sin(seed + i)) : (seed * 7919 + i * 31) & 0x3bff;
  return t;
};

describe('CudaKvStorage (KvStorage on the device)', () => {
  it('writeKvRows equals the reference\'s host writes: random shapes, dtypes, row sets, host and device sources', () => {
    fc.assert(
      fc.property(
        fc.record({
          heads: fc.integer({ min: 1, max: 3 }),
          rows: fc.integer({ min: 1, max: 40 }),
          D: fc.integer({ min: 1, max: 9 }),
          dtype: fc.constantFrom<DType>('f32', 'f16', 'bf16'),
          picks: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
          fromDevice: fc.boolean(),
          seed: fc.nat(1000),
        }),
        ({ heads, rows, D, dtype, picks, fromDevice, seed }) => {
          const { native, read } = fakeMemory();
          const { store } = kvOn(native);
          const dst = store.allocateKv([1, heads, rows, D], dtype);
          const want = allocateHostKv([1, heads, rows, D], dtype);
          expect(read(dst).data).toEqual(want.data); // zero-filled
          // several writes of distinct rows: a run from a random start, then a scattered set
          for (const [w, pick] of picks.entries()) {
            const n = 1 + (pick % rows);
            const start = pick % (rows - n + 1);
            const set = w % 2 === 0 ? Array.from({ length: n }, (_, i) => start + i) : [...new Set(Array.from({ length: n }, (_, i) => (pick * (i + 3)) % rows))];
            const idx = Int32Array.from(set);
            const src = hostRows(heads, idx.length, D, dtype, seed + w);
            let source: CudaTensor | Tensor = src;
            if (fromDevice) {
              const d = store.allocateKv(src.shape, dtype);
              store.writeKvRows(d, Int32Array.from({ length: idx.length }, (_, i) => i), src);
              source = d;
            }
            store.writeKvRows(dst, idx, source);
            writeHostKvRows(want, idx, src);
          }
          expect(read(dst).data).toEqual(want.data);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('one copy per run of consecutive rows and head', () => {
    expect(consecutiveRuns(Int32Array.from([4, 5, 6, 9, 2, 3, 3]))).toEqual([[0, 3], [3, 4], [4, 6], [6, 7]]);
    expect(consecutiveRuns(new Int32Array(0))).toEqual([]);
    const { native, calls } = fakeMemory();
    const { store } = kvOn(native);
    const dst = store.allocateKv([1, 8, 64, 16], 'bf16');
    store.writeKvRows(dst, Int32Array.from([10, 11, 12, 40, 41]), hostRows(8, 5, 16, 'bf16', 1));
    expect(calls.copies).toBe(2 * 8);
  });

  it('checks everything before the first copy: a bad write leaves the tensor as it was', () => {
    const { native, read, calls } = fakeMemory();
    const { store } = kvOn(native);
    const dst = store.allocateKv([1, 2, 8, 4], 'f32');
    store.writeKvRows(dst, Int32Array.from([1]), hostRows(2, 1, 4, 'f32', 3));
    const before = read(dst).data.slice();
    const copies = calls.copies;
    expect(() => store.writeKvRows(dst, Int32Array.from([0, 8]), hostRows(2, 2, 4, 'f32', 4))).toThrow(ShapeError);
    expect(() => store.writeKvRows(dst, Int32Array.from([0]), hostRows(2, 1, 4, 'bf16', 4))).toThrow(OptionError);
    expect(() => store.writeKvRows(dst, Int32Array.from([0]), { ...hostRows(2, 1, 4, 'f32', 4), data: new Float32Array(3) })).toThrow(ShapeError);
    const foreign = kvOn(native, 1).store.allocateKv([1, 2, 8, 4], 'f32');
    expect(() => store.writeKvRows(foreign, Int32Array.from([0]), hostRows(2, 1, 4, 'f32', 4))).toThrow(/^writeKvRows: the destination lives on another device/);
    const foreignRow = kvOn(native, 1).store.allocateKv([1, 2, 1, 4], 'f32');
    expect(() => store.writeKvRows(dst, Int32Array.from([0]), foreignRow)).toThrow(/^writeKvRows: the source lives on another device/);
    expect(() => store.writeKvRows(hostRows(2, 8, 4, 'f32', 4) as never, Int32Array.from([0]), hostRows(2, 1, 4, 'f32', 4))).toThrow(/the destination must be a device tensor/);
    // a hand-built view larger than the allocation behind it
    const big = { ptr: dst.ptr, shape: [1, 2, 64, 4], dtype: 'f32' } as CudaTensor;
    expect(() => store.writeKvRows(big, Int32Array.from([63]), hostRows(2, 1, 4, 'f32', 4))).toThrow(/device storage holds 256 bytes/);
    expect(calls.copies).toBe(copies);
    expect(read(dst).data).toEqual(before);
  });

  it("allocateKv refuses exactly what ir's checkKvAllocation refuses, with its class and message, before allocating", () => {
    const { native } = fakeMemory();
    const { store, held } = kvOn(native);
    for (const { shape, dtype, error } of kvAllocationRefusals()) {
      expect(() => store.allocateKv(shape, dtype)).toThrow(error);
      expect(() => store.allocateKv(shape, dtype)).toThrow(error.constructor as typeof Error);
    }
    expect(held.stats()).toEqual({ count: 0, bytes: 0 });
  });

  it('releaseKv frees once; the validator then sees the tensor released, and other GPUs\' tensors as foreign', () => {
    const { native, calls } = fakeMemory();
    const { store, held, tensors } = kvOn(native);
    const t = store.allocateKv([1, 1, 4, 4], 'f16');
    // 32 bytes asked, the call-memory floor of 256 allocated (the validator checks against that)
    expect(tensors.describe(t)).toEqual({ byteLength: 256, released: false, device: tensors.device });
    expect(held.stats()).toEqual({ count: 1, bytes: 256 });
    store.releaseKv(t);
    store.releaseKv(t);
    expect(calls.frees).toBe(1);
    expect(tensors.describe(t).released).toBe(true);
    expect(() => store.writeKvRows(t, Int32Array.from([0]), hostRows(1, 1, 4, 'f16', 1))).toThrow(/^writeKvRows: the destination was released/);
    const other = kvOn(native, 1).tensors;
    expect(other.describe(store.allocateKv([1, 1, 4, 4], 'f16')).device).not.toBe(other.device);
    const u = store.allocateKv([1, 1, 4, 4], 'f16');
    held.releaseAll();
    expect(tensors.describe(u).released).toBe(true);
    expect(calls.frees).toBe(3);
  });
});
