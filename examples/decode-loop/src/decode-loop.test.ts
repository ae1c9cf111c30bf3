/**
 * The decode-loop example, run by CI on every backend that holds paged KV caches (ir's KvStorage,
 * and K/V shared across the batch): the reference and WebGPU (lavapipe in CI).
 */
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, type FlexAttentionBackend } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { createWebGPUBackend } from '@flexattn/backend-webgpu';
import { runDecodeLoop, type DecodeLoopOptions } from './decode-loop';

interface BackendCase {
  name: string;
  create: () => Promise<FlexAttentionBackend>;
}

const BACKENDS: BackendCase[] = [
  { name: 'reference', create: async () => createReferenceBackend() },
  { name: 'webgpu', create: () => createWebGPUBackend({ powerPreference: 'low-power' }) },
];

const OPTIONS: DecodeLoopOptions = { prompts: [21, 40, 3], steps: 12, dModel: 16, kvHeads: 2, groupSize: 2, headDim: 8, pageSize: 8, sinks: 2, window: 13, seed: 7 };

/** The backend, or why this machine has none (a missing GPU adapter fails only where WebGPU is required). */
async function load(c: BackendCase): Promise<FlexAttentionBackend | string> {
  try {
    return await c.create();
  } catch (err) {
    if (err instanceof BackendUnavailableError && process.env.FLEXATTN_REQUIRE_WEBGPU !== '1') return err.message.split('\n')[0]!;
    throw err;
  }
}

for (const c of BACKENDS) {
  const backend = await load(c);
  describe.skipIf(typeof backend === 'string')(`decode loop on ${c.name}${typeof backend === 'string' ? ` (${backend})` : ''}`, () => {
    const be = backend as FlexAttentionBackend;
    it('prefills three prompts, generates 12 tokens each; every call equals dense attention', async () => {
      const result = await runDecodeLoop(be, OPTIONS);
      expect(result.calls).toHaveLength(OPTIONS.prompts.length + OPTIONS.steps);
      for (const call of result.calls) expect(call, `${call.phase} at ${call.positions.join(',')}: max error ${call.maxAbsError}`).toMatchObject({ ok: true });
      // The window is shorter than the sequences: the mask, not the cache size, bounds what is read.
      expect(result.calls.at(-1)!.positions).toEqual(OPTIONS.prompts.map((p) => p + OPTIONS.steps - 1));
      expect(result.pagesUsed).toBe(OPTIONS.prompts.reduce((s, p) => s + Math.ceil((p + OPTIONS.steps) / OPTIONS.pageSize), 0));
      expect(result.last.every((x) => x.every(Number.isFinite))).toBe(true);
    }, 600_000); // lavapipe compiles each pipeline in seconds to tens of seconds
  });
}
