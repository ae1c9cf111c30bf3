// Device tensors that cannot be used are typed errors before any GPU work (issue 19): a shape larger
// than its buffer, a released tensor, one from another device, a buffer without STORAGE usage or
// still mapped, a device tensor of an unknown dtype; and any call after dispose() is a BackendDisposedError.
// Before, each of these resolved with garbage or zeros (plus a Dawn `validation:` line on stderr).
import { describe, expect, it } from 'vitest';
import { BackendDisposedError, FlexAttnError, OptionError, ShapeError } from '@flexattn/ir';
import { randomTensor } from '@flexattn/ir/testing';
import { acquireDevice } from './device.js';
import { createWebGPUBackend, type GpuTensor, type WebGPUBackend } from './index.js';
import { testDevice } from './gpu.test-helpers.js';

const ctx = await testDevice();

/** Runs `call`, expects a typed error of `kind` matching `message`, and that the backend made no buffer for it. */
async function expectRejected(be: WebGPUBackend, call: () => Promise<unknown>, kind: typeof FlexAttnError, message: RegExp): Promise<void> {
  const before = be.cacheStats().buffers.count;
  const err = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the call resolved').toBeInstanceOf(kind);
  expect((err as Error).message).toMatch(message);
  expect(be.cacheStats().buffers.count).toBe(before);
}

describe.skipIf(typeof ctx === 'string')('webgpu device tensors are validated before any GPU work', () => {
  const device = typeof ctx === 'string' ? undefined : ctx.device;
  const host = { q: randomTensor([1, 2, 5, 8], 'f32', 1), k: randomTensor([1, 2, 7, 8], 'f32', 2), v: randomTensor([1, 2, 7, 8], 'f32', 3) };

  it('a GpuTensor whose shape is larger than its buffer is a ShapeError naming the argument', async () => {
    const be = await createWebGPUBackend({ device });
    const [q, k, v] = [be.toGpu(host.q), be.toGpu(host.k), be.toGpu(host.v)];
    const longK: GpuTensor = { ...k, shape: [1, 2, 9, 8] };
    const longV: GpuTensor = { ...v, shape: [1, 2, 9, 8] };
    await expectRejected(be, () => be.flexAttention(q, longK, longV), ShapeError, /^k has shape \[1, 2, 9, 8\] \(576 bytes of f32\) but its device storage holds 448 bytes/);
    const r = await be.flexAttention(q, k, v, { returnLse: true });
    const dOut: GpuTensor = { ...r.out, shape: [1, 2, 5, 9] };
    await expectRejected(be, () => be.flexAttentionBackward(q, k, v, r.out, r.lse!, { ...r.out, shape: [2, 2, 5, 8] }), ShapeError, /^dOut must be \[1, 2, 5, 8\]/);
    await expectRejected(be, () => be.flexAttentionBackward(q, k, v, r.out, r.lse!, dOut), ShapeError, /^dOut must be/);
    be.dispose();
  });

  it('an f16 GpuTensor is sized in its storage bytes: 2 an element where f16 stays f16, else 4', async () => {
    const be = await createWebGPUBackend({ device });
    const f16 = (t: typeof host.q) => randomTensor(t.shape, 'f16', 4);
    const [q, k, v] = [be.toGpu(f16(host.q)), be.toGpu(f16(host.k)), be.toGpu(f16(host.v))];
    const es = be.f16Storage ? 2 : 4;
    expect(k.buffer.size).toBe(2 * 7 * 8 * es);
    const longK: GpuTensor = { ...k, shape: [1, 2, 9, 8] };
    const longV: GpuTensor = { ...v, shape: [1, 2, 9, 8] };
    const message = new RegExp(`^k has shape \\[1, 2, 9, 8\\] \\(${2 * 9 * 8 * es} bytes of f16\\) but its device storage holds ${2 * 7 * 8 * es} bytes`);
    await expectRejected(be, () => be.flexAttention(q, longK, longV), ShapeError, message);
    const r = await be.flexAttention(q, k, v);
    expect(r.out.dtype).toBe('f16');
    be.dispose();
  });

  it('a released GpuTensor (or one of a disposed backend) is an OptionError', async () => {
    const be = await createWebGPUBackend({ device });
    const [q, k, v] = [be.toGpu(host.q), be.toGpu(host.k), be.toGpu(host.v)];
    const r = await be.flexAttention(q, k, v, { returnLse: true });
    be.release(r.lse!);
    await expectRejected(be, () => be.flexAttentionBackward(q, k, v, r.out, r.lse!, r.out), OptionError, /^lse was released/);
    be.release(k);
    await expectRejected(be, () => be.flexAttention(q, k, v), OptionError, /^k was released/);
    await expectRejected(be, () => be.toHost(k), OptionError, /^toHost was released/);
    // a result of a backend that was disposed since, passed to another backend on the same device
    const other = await createWebGPUBackend({ device });
    const kept = [other.toGpu(host.q), other.toGpu(host.k), other.toGpu(host.v)] as const;
    other.dispose();
    await expectRejected(be, () => be.flexAttention(kept[0], kept[1], kept[2]), OptionError, /^q was released \(or its backend disposed\)/);
    be.dispose();
  });

  it('a GpuTensor from another device is an OptionError; one from another backend on the same device is fine', async () => {
    const be = await createWebGPUBackend({ device });
    const elsewhere = await createWebGPUBackend(await acquireDevice({ powerPreference: 'low-power' }));
    expect(elsewhere.device).not.toBe(be.device);
    const foreign = elsewhere.toGpu(host.k);
    const [q, k, v] = [be.toGpu(host.q), be.toGpu(host.k), be.toGpu(host.v)];
    await expectRejected(be, () => be.flexAttention(q, foreign, v), OptionError, /^k lives on another device than this webgpu backend's/);
    elsewhere.dispose();
    const sameDevice = await createWebGPUBackend({ device });
    const shared = await sameDevice.flexAttention(q, k, v);
    expect(await sameDevice.toHost(shared.out)).toEqual(await be.toHost((await be.flexAttention(q, k, v)).out));
    sameDevice.dispose();
    be.dispose();
  });

  it("buffers the kernels cannot read are refused: no STORAGE usage, mapped, not a GPUBuffer; an unknown dtype", async () => {
    const be = await createWebGPUBackend({ device });
    const [q, k, v] = [be.toGpu(host.q), be.toGpu(host.k), be.toGpu(host.v)];
    const bytes = 2 * 7 * 8 * 4;
    const noStorage = be.device.createBuffer({ size: bytes, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    await expectRejected(be, () => be.flexAttention(q, { ...k, buffer: noStorage }, v), OptionError, /needs GPUBufferUsage.STORAGE/);
    const mapped = be.device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE, mappedAtCreation: true });
    await expectRejected(be, () => be.flexAttention(q, { ...k, buffer: mapped }, v), OptionError, /is mapped; unmap it/);
    await expectRejected(be, () => be.flexAttention(q, { ...k, buffer: { size: bytes } as GPUBuffer }, v), ShapeError, /must be a GPUBuffer/);
    await expectRejected(be, () => be.flexAttention(q, { ...k, dtype: 'f64' } as unknown as GpuTensor, v), OptionError, /^k has dtype 'f64'/);
    // a buffer the caller made on this device, with the usage the kernels need, is taken as it is
    const own = be.device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    be.device.queue.writeBuffer(own, 0, host.k.data as Float32Array<ArrayBuffer>);
    const viaOwn = await be.toHost((await be.flexAttention(q, { ...k, buffer: own }, v)).out);
    expect(viaOwn).toEqual(await be.toHost((await be.flexAttention(q, k, v)).out));
    [noStorage, mapped, own].forEach((b) => b.destroy());
    be.dispose();
  });

  it('every method after dispose() throws BackendDisposedError (was a DOMException with an empty message)', async () => {
    const be = await createWebGPUBackend({ device });
    const g = be.toGpu(host.q);
    be.dispose();
    be.dispose(); // idempotent
    const calls: [string, () => unknown][] = [
      ['flexAttention', () => be.flexAttention(host.q, host.k, host.v)],
      ['flexAttentionBackward', () => be.flexAttentionBackward(host.q, host.k, host.v, host.q, host.q, host.q)],
      ['toGpu', () => be.toGpu(host.q)],
      ['toHost', () => be.toHost(g)],
      ['measure', () => be.measure(host.q, host.k, host.v, {}, { pass: 'fwd', warmup: 1, iterations: 1 })],
    ];
    for (const [name, call] of calls) {
      const err = await Promise.resolve()
        .then(call)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err, name).toBeInstanceOf(BackendDisposedError);
      expect((err as Error).message, name).toBe('this webgpu backend was disposed; create a new one with createWebGPUBackend()');
    }
  });
});
