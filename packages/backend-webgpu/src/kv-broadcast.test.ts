// K/V with batch 1 for a query batch > 1 (what a paged KV cache hands the kernels): not supported
// here yet, so refused with a typed UnsupportedError before any GPU work (issue 16 adds it).
import { describe, expect, it } from 'vitest';
import { UnsupportedError } from '@flexattn/ir';
import { randomTensor } from '@flexattn/ir/testing';
import { createWebGPUBackend } from './index.js';
import { testDevice } from './gpu.test-helpers.js';

const ctx = await testDevice();
describe.skipIf(typeof ctx === 'string')('webgpu: K/V shared across the batch', () => {
  it('is refused with an UnsupportedError naming the way out', async () => {
    const be = await createWebGPUBackend({ device: typeof ctx === 'string' ? undefined : ctx.device });
    const q = randomTensor([2, 2, 3, 8], 'f32', 1);
    const kv = randomTensor([1, 2, 5, 8], 'f32', 2);
    const err = await be.flexAttention(q, kv, kv).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedError);
    expect((err as Error).message).toMatch(/repeat k\/v to batch 2/);
    be.dispose();
  });
});
