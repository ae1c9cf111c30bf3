// The device tensors' row writes against ir's host implementation (writeHostKvRows, the
// reference backend's), on a stand-in addon whose device memory is real bytes: random shapes,
// dtypes, destination rows (runs and scattered), host and device sources.
import fc from 'fast-check';
import { allocateHostKv, OptionError, ShapeError, writeHostKvRows, type DType, type Tensor } from '@flexattn/ir';
import { describe, expect, it } from 'vitest';
import { consecutiveRuns, CudaTensorStore, type CudaTensor } from './device-tensors';

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

const hostRows = (heads: number, n: number, D: number, dtype: DType, seed: number): Tensor => {
  const t = allocateHostKv([1, heads, n, D], dtype);
  for (let i = 0; i < t.data.length; i++) t.data[i] = dtype === 'f32' ? Math.fround(Math.sin(seed + i)) : (seed * 7919 + i * 31) & 0x3bff;
  return t;
};

describe('CudaTensorStore (KvStorage on the device)', () => {
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
          const store = new CudaTensorStore(native as never);
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
    const store = new CudaTensorStore(native as never);
    const dst = store.allocateKv([1, 8, 64, 16], 'bf16');
    store.writeKvRows(dst, Int32Array.from([10, 11, 12, 40, 41]), hostRows(8, 5, 16, 'bf16', 1));
    expect(calls.copies).toBe(2 * 8);
  });

  it('checks everything before the first copy: a bad write leaves the tensor as it was', () => {
    const { native, read, calls } = fakeMemory();
    const store = new CudaTensorStore(native as never);
    const dst = store.allocateKv([1, 2, 8, 4], 'f32');
    store.writeKvRows(dst, Int32Array.from([1]), hostRows(2, 1, 4, 'f32', 3));
    const before = read(dst).data.slice();
    const copies = calls.copies;
    expect(() => store.writeKvRows(dst, Int32Array.from([0, 8]), hostRows(2, 2, 4, 'f32', 4))).toThrow(ShapeError);
    expect(() => store.writeKvRows(dst, Int32Array.from([0]), hostRows(2, 1, 4, 'bf16', 4))).toThrow(OptionError);
    expect(() => store.writeKvRows(dst, Int32Array.from([0]), { ...hostRows(2, 1, 4, 'f32', 4), data: new Float32Array(3) })).toThrow(ShapeError);
    const foreign = new CudaTensorStore(native as never).allocateKv([1, 2, 8, 4], 'f32');
    expect(() => store.writeKvRows(foreign, Int32Array.from([0]), hostRows(2, 1, 4, 'f32', 4))).toThrow(/not a tensor of this CUDA backend/);
    expect(calls.copies).toBe(copies);
    expect(read(dst).data).toEqual(before);
    expect(() => store.allocateKv([2, 2, 8, 4], 'f32')).toThrow(ShapeError);
    expect(() => store.allocateKv([1, 2, 8, 4], 'f64' as never)).toThrow(OptionError);
  });

  it('release frees once; the validator then sees the tensor released, and other stores\' tensors as foreign', () => {
    const { native, calls } = fakeMemory();
    const store = new CudaTensorStore(native as never);
    const t = store.allocateKv([1, 1, 4, 4], 'f16');
    expect(store.describe(t)).toEqual({ byteLength: 32, released: false, device: store });
    store.release(t);
    store.release(t);
    expect(calls.frees).toBe(1);
    expect(store.describe(t).released).toBe(true);
    expect(() => store.writeKvRows(t, Int32Array.from([0]), hostRows(1, 1, 4, 'f16', 1))).toThrow(/released/);
    const other = new CudaTensorStore(native as never);
    expect(other.describe(store.allocateKv([1, 1, 4, 4], 'f16')).device).toBeUndefined();
    const u = store.allocateKv([1, 1, 4, 4], 'f16');
    store.releaseAll();
    expect(store.describe(u).released).toBe(true);
    expect(calls.frees).toBe(3);
  });
});
