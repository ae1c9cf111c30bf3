// The module cache is bounded (issue 19: it grew by a module per distinct mod for ever): an LRU of
// `moduleCacheSize` modules whose evicted modules are unloaded — but not while a call that loaded
// them may still launch them. On the stand-in addon (no GPU).
import { fromFloats, OptionError, type Expr } from '@flexattn/ir';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CudaBackend } from './backend';
import { CallMemory } from './call-memory';
import { DEFAULT_MODULE_CACHE_SIZE, KernelModules } from './kernel-modules';
import { STAND_IN_H100, standInAddon } from './stand-in-addon.test-helpers';

const prelude = (i: number) => `#define FLEX_STAND_IN_MOD ${i}\n`;
const settle = () => new Promise((r) => setTimeout(r, 0));

describe('KernelModules (LRU)', () => {
  it('keeps at most `capacity` modules, unloads the least recently used, and counts hits, misses and evictions', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 40 }), async (capacity, uses) => {
        const addon = standInAddon();
        const modules = new KernelModules(addon.native as never, 'sm_90a', { cacheDir: false, cudaInclude: '/fake', capacity });
        // an independent model of an LRU: most recent last
        const model: number[] = [];
        let hits = 0;
        let evictions = 0;
        for (const i of uses) {
          await modules.load(prelude(i), 'fwd', {});
          const at = model.indexOf(i);
          if (at >= 0) {
            hits++;
            model.splice(at, 1);
          }
          model.push(i);
          if (model.length > capacity) {
            model.shift();
            evictions++;
          }
        }
        await settle();
        expect(modules.stats()).toEqual({ size: model.length, capacity, hits, misses: uses.length - hits, evictions });
        expect(addon.loadedModules).toBe(model.length);
        modules.unloadAll();
        await settle();
        expect(addon.loadedModules).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it('a module a running call loaded is unloaded only when that call ends', async () => {
    const addon = standInAddon();
    const modules = new KernelModules(addon.native as never, 'sm_90a', { cacheDir: false, cudaInclude: '/fake', capacity: 1 });
    const call = new CallMemory(addon.native as never);
    await modules.forCall(call).load(prelude(1), 'fwd', {});
    await modules.load(prelude(2), 'fwd', {}); // evicts module 1 while the call still runs
    await settle();
    expect(modules.stats()).toMatchObject({ size: 1, evictions: 1 });
    expect(addon.loadedModules).toBe(2);
    call.free();
    await settle();
    expect(addon.loadedModules).toBe(1);
  });

  it('rejects a capacity that is not a positive integer', () => {
    const addon = standInAddon();
    for (const capacity of [0, -1, 1.5, NaN]) {
      expect(() => new KernelModules(addon.native as never, 'sm_90a', { cacheDir: false, capacity })).toThrow(OptionError);
    }
    expect(DEFAULT_MODULE_CACHE_SIZE).toBe(64);
  });

  it('a backend tracing a new mod per call holds at most moduleCacheSize modules (cacheStats)', async () => {
    const addon = standInAddon();
    const backend = new CudaBackend(addon.native as never, STAND_IN_H100, { cacheDir: false, cudaInclude: '/fake/include', moduleCacheSize: 3 });
    const q = fromFloats(new Float32Array(2 * 64 * 64).fill(0.25), [1, 2, 64, 64], 'bf16');
    for (let i = 0; i < 30; i++) {
      const k = 1 + i / 64;
      await backend.flexAttention(q, q, q, { scoreMod: (s: Expr) => s.mul(k) });
    }
    await settle();
    const stats = backend.cacheStats().modules;
    expect(stats).toEqual({ size: 3, capacity: 3, hits: 0, misses: 30, evictions: 27 });
    expect(addon.loadedModules).toBe(3);
  });
});
