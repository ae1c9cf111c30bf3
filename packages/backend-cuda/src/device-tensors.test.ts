// Device tensors on the CUDA backend (issue 19): a bad one — larger shape than its allocation,
// released, from another GPU, not a device tensor at all — gets ir's typed error before anything
// is uploaded or launched; good ones round-trip and serve as inputs and results; a disposed backend
// throws BackendDisposedError; a paged KV cache's pages (KvStorage) are such tensors too. Runs on the
// stand-in addon (no GPU).
import { BackendDisposedError, fromFloats, toFloat64, type Tensor } from '@flexattn/ir';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CudaBackend } from './backend';
import { isCudaTensor, type CudaTensor } from './device-tensors';
import { deviceTensorMisuse } from './device-tensor-misuse.test-helpers';
import { STAND_IN_H100, standInAddon } from './stand-in-addon.test-helpers';

function setup() {
  const addon = standInAddon();
  const backend = new CudaBackend(addon.native as never, STAND_IN_H100, { cacheDir: false, cudaInclude: '/fake/include' });
  return { addon, backend };
}
const host = (shape: number[], dtype: Tensor['dtype'] = 'bf16'): Tensor =>
  fromFloats(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => ((i * 7) % 13) - 6), shape, dtype);

describe('CUDA device tensors', () => {
  it('toGpu and toHost round-trip any shape and dtype, and release frees the allocation', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }), fc.constantFrom('f32', 'f16', 'bf16' as const), async (shape, dtype) => {
        const { addon, backend } = setup();
        const t = host(shape, dtype);
        const g = backend.toGpu(t);
        expect(backend.cacheStats().buffers).toEqual({ count: 1, bytes: Math.max(256, t.data.byteLength) });
        const back = await backend.toHost(g);
        expect(back.dtype).toBe(dtype);
        expect([...back.shape]).toEqual(shape);
        expect([...toFloat64(back)]).toEqual([...toFloat64(t)]);
        backend.release(g);
        backend.release(g); // a second release is a no-op
        expect(backend.cacheStats().buffers).toEqual({ count: 0, bytes: 0 });
        expect(addon.allocations).toBe(0);
      }),
      { numRuns: 25 },
    );
  });

  it('bad device tensors get typed errors naming the argument, before any upload or launch', async () => {
    const { addon, backend } = setup();
    const q = backend.toGpu(host([1, 2, 64, 64]));
    const released = backend.toGpu(host([1, 2, 64, 64]));
    backend.release(released);
    const releasedLse = backend.toGpu(host([1, 2, 64], 'f32'));
    backend.release(releasedLse);
    const other = new CudaBackend(addon.native as never, { ...STAND_IN_H100, ordinal: 1 }, { cacheDir: false, cudaInclude: '/fake/include' });
    const foreign = other.toGpu(host([1, 2, 64, 64]));
    const lse = backend.toGpu(host([1, 2, 64], 'f32'));
    const held = addon.allocations;
    const cases = deviceTensorMisuse(backend, { q, released, lse, releasedLse, foreign, host: host([1, 2, 64, 64]) });
    for (const [what, call, type, message] of cases) {
      const error = await call().then(() => undefined, (e: unknown) => e);
      expect(error, what).toBeInstanceOf(type);
      expect((error as Error).message, what).toMatch(message);
    }
    expect(addon.launches).toEqual([]);
    expect(addon.allocations).toBe(held);
  });

  it('device tensors in, device tensors out: inputs are not copied, results stay until released', async () => {
    const { addon, backend } = setup();
    const q = backend.toGpu(host([1, 2, 64, 64]));
    const r = await backend.flexAttention(q, q, q, { returnLse: true });
    expect([...r.out.shape]).toEqual([1, 2, 64, 64]);
    expect('ptr' in r.out && 'ptr' in r.lse!).toBe(true);
    expect(backend.cacheStats().buffers.count).toBe(3);
    const g = await backend.flexAttentionBackward(q, q, q, r.out, r.lse!, q);
    expect('ptr' in g.dq && 'ptr' in g.dk && 'ptr' in g.dv).toBe(true);
    expect(backend.cacheStats().buffers.count).toBe(6);
    for (const t of [q, r.out, r.lse!, g.dq, g.dk, g.dv]) backend.release(t as CudaTensor);
    expect(addon.allocations).toBe(0);
    // host in, host out: nothing held after the call
    const h = await backend.flexAttention(host([1, 2, 64, 64]), host([1, 2, 64, 64]), host([1, 2, 64, 64]));
    expect('data' in h.out).toBe(true);
    expect(addon.allocations).toBe(0);
  });

  it('KV pages (KvStorage) are the same device tensors: held, read back, freed by dispose; shared K/V gradients of a device q stay on the device', async () => {
    const { addon, backend } = setup();
    const k = backend.allocateKv([1, 2, 64, 64], 'bf16');
    const rows = host([1, 2, 2, 64]);
    await backend.writeKvRows(k, Int32Array.from([5, 6]), rows);
    expect(backend.cacheStats().buffers).toEqual({ count: 1, bytes: 2 * 64 * 64 * 2 });
    const page = toFloat64(await backend.toHost(k));
    const src = toFloat64(rows);
    for (const h of [0, 1]) {
      expect([...page.subarray((h * 64 + 4) * 64, (h * 64 + 7) * 64)]).toEqual([...new Array(64).fill(0), ...src.subarray(h * 128, h * 128 + 128)]);
    }
    // three query batches over the one K/V: dK/dV are the batch sums, [1, …], held like any result
    const q = backend.toGpu(host([3, 2, 64, 64]));
    const lse = backend.toGpu(host([3, 2, 64], 'f32'));
    const g = await backend.flexAttentionBackward(q, k, k, q, lse, q);
    expect([g.dq, g.dk, g.dv].map((t) => [isCudaTensor(t), [...t.shape]])).toEqual([
      [true, [3, 2, 64, 64]], [true, [1, 2, 64, 64]], [true, [1, 2, 64, 64]],
    ]);
    expect(backend.cacheStats().buffers.count).toBe(6); // k, q, lse, dq, dk, dv: the per-batch partials were freed
    backend.dispose();
    expect(addon.allocations).toBe(0);
    await expect(backend.writeKvRows(k, Int32Array.from([0]), host([1, 2, 1, 64]))).rejects.toBeInstanceOf(BackendDisposedError);
    expect(() => backend.allocateKv([1, 2, 64, 64], 'bf16')).toThrow(BackendDisposedError);
  });

  it('dispose() frees what the backend holds; its tensors then read as released, and every method throws BackendDisposedError', async () => {
    const { addon, backend } = setup();
    const q = backend.toGpu(host([1, 2, 64, 64]));
    await backend.flexAttention(q, q, q);
    expect(addon.loadedModules).toBeGreaterThan(0);
    backend.dispose();
    backend.dispose();
    expect(addon.allocations).toBe(0);
    await new Promise((r) => setTimeout(r, 0)); // modules unload once their load has settled
    expect(addon.loadedModules).toBe(0);
    const calls: [string, () => unknown][] = [
      ['flexAttention', () => backend.flexAttention(q, q, q)],
      ['flexAttentionBackward', () => backend.flexAttentionBackward(q, q, q, q, q, q)],
      ['measure', () => backend.measure(q, q, q, {}, { pass: 'fwd', warmup: 0, iterations: 1 })],
      ['toGpu', () => backend.toGpu(host([2]))],
      ['toHost', () => backend.toHost(q)],
    ];
    for (const [name, call] of calls) {
      const error = await (async () => call())().then(() => undefined, (e: unknown) => e);
      expect(error, name).toBeInstanceOf(BackendDisposedError);
      expect((error as Error).message, name).toMatch(/createCudaBackend\(\)/);
    }
    // a live backend on the same device sees the disposed one's tensor as released
    const { backend: live } = { backend: new CudaBackend(addon.native as never, STAND_IN_H100, { cacheDir: false, cudaInclude: '/fake/include' }) };
    await expect(live.flexAttention(q, q, q)).rejects.toThrow(/^q was released/);
  });
});
