// Backend behaviour beyond the conformance suite: device selection errors, device-resident tensors,
// pipeline reuse across scalar values, block tables converted once per mask, dispose.
import { describe, expect, it } from 'vitest';
import { createBlockMask } from '@flexattn/blockmask';
import { documentMask } from '@flexattn/mods';
import { BackendUnavailableError, scalar, tileTableConversions, traceScoreMod } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { compareClose, randomTensor } from '@flexattn/ir/testing';
import { createWebGPUBackend } from './index.js';
import { testDevice } from './gpu.test-helpers.js';

describe('device acquisition', () => {
  it('a GPU without adapters gives BackendUnavailableError listing what was tried', async () => {
    const gpu = { requestAdapter: async () => null } as unknown as GPU;
    const err = await createWebGPUBackend({ gpu }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as BackendUnavailableError).tried.length).toBeGreaterThan(0);
    expect((err as Error).message).toMatch(/no adapter/);
  });
});

const ctx = await testDevice();
describe.skipIf(typeof ctx === 'string')('webgpu backend', () => {
  const device = typeof ctx === 'string' ? undefined : ctx.device;

  it('takes device-resident tensors and returns device-resident results', async () => {
    const be = await createWebGPUBackend({ device });
    const q = randomTensor([1, 2, 9, 8], 'f32', 1), k = randomTensor([1, 2, 12, 8], 'f32', 2), v = randomTensor([1, 2, 12, 8], 'f32', 3);
    const r = await be.flexAttention(be.toGpu(q), be.toGpu(k), be.toGpu(v), { returnLse: true });
    expect('buffer' in r.out).toBe(true);
    const out = await be.toHost(r.out);
    const want = await createReferenceBackend().flexAttention(q, k, v);
    expect(compareClose(out, want.out, { atol: 2e-4, rtol: 2e-4 }).ok).toBe(true);
    be.dispose();
  });

  it('measure() times each pass on batches and leaves the backend computing correct results', async () => {
    const be = await createWebGPUBackend({ device });
    const q = randomTensor([1, 2, 20, 8], 'f32', 7), k = randomTensor([1, 2, 24, 8], 'f32', 8), v = randomTensor([1, 2, 24, 8], 'f32', 9);
    const dOut = randomTensor([1, 2, 20, 8], 'f32', 10);
    for (const pass of ['fwd', 'bwd', 'both'] as const) {
      const r = await be.measure(q, k, v, {}, { pass, warmup: 1, iterations: 3, dOut });
      expect(r.ms).toHaveLength(3);
      expect(r.ms.every((x) => Number.isFinite(x) && x > 0)).toBe(true);
    }
    const got = await be.flexAttention(q, k, v);
    const want = await createReferenceBackend().flexAttention(q, k, v);
    expect(compareClose(got.out, want.out, { atol: 2e-4, rtol: 2e-4 }).ok).toBe(true);
    // device-resident inputs are timed in place and stay usable (measure() releases only its own uploads)
    const g = [be.toGpu(q), be.toGpu(k), be.toGpu(v)] as const;
    expect((await be.measure(g[0], g[1], g[2], {}, { pass: 'fwd', warmup: 1, iterations: 2 })).ms).toHaveLength(2);
    const again = await be.flexAttention(g[0], g[1], g[2]);
    expect(compareClose(await be.toHost(again.out), want.out, { atol: 2e-4, rtol: 2e-4 }).ok).toBe(true);
    be.dispose();
  });

  it('new scalar values reuse the compiled pipeline and change the result', async () => {
    const be = await createWebGPUBackend({ device });
    const s = scalar(1, { name: 'temp' });
    const mod = traceScoreMod((x) => x.mul(s));
    const q = randomTensor([1, 1, 5, 4], 'f32', 4), k = randomTensor([1, 1, 7, 4], 'f32', 5), v = randomTensor([1, 1, 7, 4], 'f32', 6);
    const a = await be.flexAttention(q, k, v, { scoreMod: mod });
    const pipelines = () => be.cacheStats().pipelines.size;
    const built = pipelines();
    expect(built).toBeGreaterThan(0);
    s.value = 3;
    const b = await be.flexAttention(q, k, v, { scoreMod: mod });
    expect(pipelines()).toBe(built);
    const want = await createReferenceBackend().flexAttention(q, k, v, { scoreMod: mod });
    expect(compareClose(b.out, want.out, { atol: 2e-4, rtol: 2e-4 }).ok).toBe(true);
    expect(compareClose(a.out, b.out, { atol: 1e-6, rtol: 0 }).ok).toBe(false);
    be.dispose();
  });

  it('converts a block mask to tile tables once while it is unchanged, and again when it changes', async () => {
    const be = await createWebGPUBackend({ device });
    const q = randomTensor([1, 2, 70, 4], 'f32', 11), k = randomTensor([1, 2, 70, 4], 'f32', 12), v = randomTensor([1, 2, 70, 4], 'f32', 13);
    const ids = Int32Array.from({ length: 70 }, (_, i) => (i < 20 ? 0 : i < 45 ? 1 : 2));
    const docs = documentMask(ids);
    const blockMask = createBlockMask(docs, { qLen: 70, kvLen: 70, blockSize: 16 });
    const ref = createReferenceBackend();
    const n0 = tileTableConversions();
    const first = await be.flexAttention(q, k, v, { blockMask });
    expect(tileTableConversions()).toBe(n0 + 1);
    for (let i = 0; i < 3; i++) await be.flexAttention(q, k, v, { blockMask });
    expect(tileTableConversions()).toBe(n0 + 1);
    expect(compareClose(first.out, (await ref.flexAttention(q, k, v, { blockMask })).out, { atol: 2e-4, rtol: 2e-4 }).ok).toBe(true);
    // new documents in place (same block structure claimed by the mask): the tiles are refined again
    docs.setDocuments(ids.fill(3, 30, 45));
    const moved = await be.flexAttention(q, k, v, { blockMask });
    expect(tileTableConversions()).toBe(n0 + 2);
    expect(compareClose(moved.out, (await ref.flexAttention(q, k, v, { blockMask })).out, { atol: 2e-4, rtol: 2e-4 }).ok).toBe(true);
    be.dispose();
  });

  it('widens f16 inputs and returns f16', async () => {
    const be = await createWebGPUBackend({ device });
    const q = randomTensor([1, 1, 6, 8], 'f16', 7), k = randomTensor([1, 1, 6, 8], 'f16', 8), v = randomTensor([1, 1, 6, 8], 'f16', 9);
    const r = await be.flexAttention(q, k, v);
    expect(r.out.dtype).toBe('f16');
    const want = await createReferenceBackend().flexAttention(q, k, v);
    expect(compareClose(r.out, want.out, { atol: 4e-3, rtol: 1e-2 }).ok).toBe(true);
    be.dispose();
  });
});
