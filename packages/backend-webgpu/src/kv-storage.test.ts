// KvStorage on WebGPU (what a paged KV cache writes through): zero-filled device tensors, rows
// scattered from host or device sources in f32 and f16 (odd widths: f16 rows that are not whole
// words), and typed errors that leave the destination untouched; pages are device tensors like any
// other: counted by cacheStats, validated (released, foreign, disposed backend) by the same checks.
import { afterAll, describe, expect, it } from 'vitest';
import { BackendDisposedError, OptionError, ShapeError, toFloat64, type Tensor } from '@flexattn/ir';
import { kvAllocationRefusals, randomTensor } from '@flexattn/ir/testing';
import { createWebGPUBackend, type WebGPUBackend } from './index.js';
import { testDevice } from './gpu.test-helpers.js';

const ctx = await testDevice();

/** What the destination must hold: a host mirror that writes rows by the definition. */
function mirror(H: number, L: number, D: number) {
  const values = new Array<number>(H * L * D).fill(0);
  return {
    values,
    write(rows: number[], src: Tensor) {
      const s = toFloat64(src);
      for (let h = 0; h < H; h++) for (let i = 0; i < rows.length; i++) for (let d = 0; d < D; d++) values[(h * L + rows[i]!) * D + d] = s[(h * rows.length + i) * D + d]!;
    },
  };
}

describe.skipIf(typeof ctx === 'string')('KvStorage on webgpu', () => {
  let be: WebGPUBackend;
  afterAll(() => be?.dispose());

  for (const [dtype, D] of [['f32', 5], ['f16', 3]] as const) {
    it(`${dtype}, width ${D}: allocateKv is zero-filled; writeKvRows scatters host and device rows`, async () => {
      be ??= await createWebGPUBackend({ device: typeof ctx === 'string' ? undefined : ctx.device });
      const dst = be.allocateKv([1, 2, 11, D], dtype);
      const want = mirror(2, 11, D);
      const read = async () => Array.from(toFloat64(await be.toHost(dst)));
      expect(await read()).toEqual(want.values);
      const host = randomTensor([1, 2, 3, D], dtype, 1);
      await be.writeKvRows(dst, Int32Array.from([7, 0, 10]), host);
      want.write([7, 0, 10], host);
      expect(await read()).toEqual(want.values);
      // a device source: its rows land in place, the other rows are kept
      const device = randomTensor([1, 2, 2, D], dtype, 2);
      const gpuSrc = be.toGpu(device);
      await be.writeKvRows(dst, Int32Array.from([1, 7]), gpuSrc);
      want.write([1, 7], device);
      expect(await read()).toEqual(want.values);
      be.release(gpuSrc);
      be.releaseKv(dst);
    });
  }

  it('f16 K/V take half the device bytes of f32 (the device has shader-f16)', async () => {
    be ??= await createWebGPUBackend({ device: typeof ctx === 'string' ? undefined : ctx.device });
    expect(be.f16Storage).toBe(true);
    const shape = [1, 8, 64 * 128, 128];
    const f32 = be.allocateKv(shape, 'f32');
    const f16 = be.allocateKv(shape, 'f16');
    expect(f32.buffer.size).toBe(8 * 64 * 128 * 128 * 4);
    expect(f16.buffer.size).toBe(f32.buffer.size / 2);
    be.releaseKv(f32);
    be.releaseKv(f16);
  });

  it('a bad write is a typed error and writes nothing', async () => {
    be ??= await createWebGPUBackend({ device: typeof ctx === 'string' ? undefined : ctx.device });
    const dst = be.allocateKv([1, 2, 4, 4], 'f32');
    const src = randomTensor([1, 2, 2, 4], 'f32', 3);
    await expect(be.writeKvRows(dst, Int32Array.from([1, 4]), src)).rejects.toBeInstanceOf(ShapeError);
    await expect(be.writeKvRows(dst, Int32Array.from([1]), src)).rejects.toBeInstanceOf(ShapeError);
    await expect(be.writeKvRows(dst, Int32Array.from([0, 1]), randomTensor([1, 2, 2, 4], 'f16', 3))).rejects.toBeInstanceOf(OptionError);
    await expect(be.writeKvRows(dst, Int32Array.from([0, 1]), randomTensor([1, 1, 2, 4], 'f32', 3))).rejects.toBeInstanceOf(ShapeError);
    expect(Array.from((await be.toHost(dst)).data)).toEqual(new Array(32).fill(0));
    be.releaseKv(dst);
  });

  it("allocateKv refuses exactly what ir's checkKvAllocation refuses, with its class and message, before allocating a buffer", async () => {
    be ??= await createWebGPUBackend({ device: typeof ctx === 'string' ? undefined : ctx.device });
    const before = be.cacheStats().buffers;
    for (const { shape, dtype, error } of kvAllocationRefusals()) {
      expect(() => be.allocateKv(shape, dtype)).toThrow(error);
      expect(() => be.allocateKv(shape, dtype)).toThrow(error.constructor as typeof Error);
    }
    expect(be.cacheStats().buffers).toEqual(before);
  });

  it('KV pages count in cacheStats().buffers until releaseKv; a released or foreign page is refused before any write', async () => {
    be ??= await createWebGPUBackend({ device: typeof ctx === 'string' ? undefined : ctx.device });
    const before = be.cacheStats().buffers;
    const page = be.allocateKv([1, 2, 8, 4], 'f16');
    const bytes = be.f16Storage ? 2 * 8 * 4 * 2 : 2 * 8 * 4 * 4;
    expect(be.cacheStats().buffers).toEqual({ count: before.count + 1, bytes: before.bytes + bytes });
    const src = randomTensor([1, 2, 1, 4], 'f16', 5);
    // a shape larger than the page's storage (checked in storage bytes, like a call's inputs)
    await expect(be.writeKvRows({ ...page, shape: [1, 2, 16, 4] }, Int32Array.from([9]), src)).rejects.toThrow(/^writeKvRows: the destination has shape \[1, 2, 16, 4\]/);
    be.releaseKv(page);
    expect(be.cacheStats().buffers).toEqual(before);
    await expect(be.writeKvRows(page, Int32Array.from([0]), src)).rejects.toThrow(OptionError);
    await expect(be.writeKvRows(page, Int32Array.from([0]), src)).rejects.toThrow(/^writeKvRows: the destination was released/);
    const other = await createWebGPUBackend({ device: be.device });
    const theirs = other.allocateKv([1, 2, 8, 4], 'f16');
    other.dispose();
    await expect(be.writeKvRows(theirs, Int32Array.from([0]), src)).rejects.toThrow(/was released \(or its backend disposed\)/);
    expect(() => other.allocateKv([1, 2, 8, 4], 'f16')).toThrow(BackendDisposedError);
    await expect(other.writeKvRows(theirs, Int32Array.from([0]), src)).rejects.toThrow(BackendDisposedError);
  });
});
