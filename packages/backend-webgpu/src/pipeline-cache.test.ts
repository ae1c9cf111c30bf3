// The pipeline cache is bounded (issue 19: `Engine.pipelines` grew by one entry, ~7 MB on lavapipe,
// per distinct mod for ever). The LRU rules on a stand-in device; then a soak on the real device:
// many distinct mods through a backend with a small cache keep the pipeline count at its capacity,
// and evicted mods still compute the right answer (rebuilt on their next call).
import { describe, expect, it } from 'vitest';
import { OptionError, traceScoreMod } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { compareClose, randomTensor } from '@flexattn/ir/testing';
import { createWebGPUBackend, DEFAULT_PIPELINE_CACHE_SIZE } from './index.js';
import { PipelineCache } from './pipeline-cache.js';
import type { GpuProgram } from './program.js';
import { testDevice } from './gpu.test-helpers.js';

/** Just enough of a GPUDevice for PipelineCache: compiles count, WGSL containing 'bad' fails. */
function standInDevice() {
  const compiled: string[] = [];
  const device = {
    pushErrorScope: () => {},
    popErrorScope: async () => null,
    createShaderModule: ({ code }: { code: string }) => {
      compiled.push(code);
      return { getCompilationInfo: async () => ({ messages: code.includes('bad') ? [{ type: 'error', lineNum: 1, linePos: 1, message: 'bad' }] : [] }) };
    },
    createBindGroupLayout: () => ({}),
    createPipelineLayout: () => ({}),
    createComputePipelineAsync: async () => ({}),
  };
  return { device: device as unknown as GPUDevice, compiled };
}

const program = (key: string): GpuProgram => ({ key, code: () => `// ${key}`, groups: [] });

describe('PipelineCache: least recently used out', () => {
  it('keeps at most `capacity` pipelines, drops the least recently used, rebuilds it on demand', async () => {
    const { device, compiled } = standInDevice();
    const cache = new PipelineCache(device, 3);
    for (const k of ['a', 'b', 'c']) await cache.get(program(k));
    await cache.get(program('a')); // a is now the most recent: b goes first
    await cache.get(program('d'));
    expect(cache.stats()).toEqual({ size: 3, capacity: 3, hits: 1, misses: 4, evictions: 1 });
    await cache.get(program('a'));
    await cache.get(program('c'));
    expect(compiled).toHaveLength(4); // a, c, d still cached
    await cache.get(program('b'));
    expect(compiled.at(-1)).toBe('// b'); // rebuilt
    expect(cache.stats()).toMatchObject({ size: 3, misses: 5, evictions: 2 });
  });

  it('forgets a failed build so a later call retries, and refuses a capacity below 1', async () => {
    const { device, compiled } = standInDevice();
    const cache = new PipelineCache(device, 2);
    await expect(cache.get(program('bad'))).rejects.toThrow(/did not compile/);
    expect(cache.size).toBe(0);
    await expect(cache.get(program('bad'))).rejects.toThrow(/did not compile/);
    expect(compiled).toHaveLength(2);
    expect(() => new PipelineCache(device, 0)).toThrow(OptionError);
    expect(() => new PipelineCache(device, 1.5)).toThrow(OptionError);
    expect(new PipelineCache(device).capacity).toBe(DEFAULT_PIPELINE_CACHE_SIZE);
  });
});

const ctx = await testDevice();
describe.skipIf(typeof ctx === 'string')('webgpu: many distinct mods keep the pipeline count bounded', () => {
  it('12 distinct score mods through a 3-pipeline cache: size stays 3, every result right', async () => {
    const capacity = 3;
    // the smallest forward tile without the row/column split: lavapipe compiles it in ~2 s (the
    // default 64×32 tile takes ~35 s); the cache is the same for every kernel
    const tuning = { forward: { BR: 4, BC: 4, TX: 2, TY: 2, hoist: false } };
    const be = await createWebGPUBackend({ device: typeof ctx === 'string' ? undefined : ctx.device, pipelineCacheSize: capacity, tuning });
    const ref = createReferenceBackend();
    const q = randomTensor([1, 1, 4, 4], 'f32', 1), k = randomTensor([1, 1, 6, 4], 'f32', 2), v = randomTensor([1, 1, 6, 4], 'f32', 3);
    // a new constant per step: a new mod hash, hence a new pipeline (as when a training loop traces a
    // fresh mod with this step's value baked in)
    const mods = Array.from({ length: 12 }, (_, i) => traceScoreMod((s) => s.mul(1 + i / 16)));
    for (const scoreMod of [...mods, mods[0]!]) {
      const got = await be.flexAttention(q, k, v, { scoreMod });
      const want = await ref.flexAttention(q, k, v, { scoreMod });
      expect(compareClose(got.out, want.out, { atol: 1e-5, rtol: 1e-5 }).ok).toBe(true);
      expect(be.cacheStats().pipelines.size).toBeLessThanOrEqual(capacity);
    }
    const stats = be.cacheStats().pipelines;
    // 13 forwards (the first mod was evicted long ago and built again) + the V-flag pre-pass, which
    // every forward uses and so stays the most recently used entry: built once
    expect(stats.misses).toBe(14);
    expect(stats.evictions).toBe(stats.misses - stats.size);
    be.dispose();
  });
});
