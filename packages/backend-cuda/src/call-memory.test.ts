// Exception-safe call memory (issue 19): every device allocation a call makes is freed on every
// path. The stand-in addon fails each step a call can fail at (allocation, upload, compile, module
// load, launch, synchronize, read-back, even a free) many times over; nothing stays allocated and
// nothing stays loaded beyond the module cache, and good calls after them still work.
import { fromFloats, type Expr, type FlexAttentionResult, type Tensor } from '@flexattn/ir';
import { createBlockMask } from '@flexattn/blockmask';
import { causal } from '@flexattn/mods';
import { describe, expect, it } from 'vitest';
import { CudaBackend } from './backend';
import { CallMemory } from './call-memory';
import type { CudaTensor } from './device-tensors';
import { STAND_IN_H100, standInAddon, type StandInMethod } from './stand-in-addon.test-helpers';

const host = (shape: number[]): Tensor => fromFloats(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5), shape, 'bf16');

describe('call memory', () => {
  const FAILING_STEPS: StandInMethod[] = ['alloc', 'copyHtoD', 'compile', 'moduleLoad', 'moduleGetFunction', 'launch', 'synchronize', 'copyDtoH', 'free'];
  const N = 20;

  it(`${N} failing calls at each step (forward, backward, measure, device results) leave no allocation and no stray module`, async () => {
    const addon = standInAddon();
    const backend = new CudaBackend(addon.native as never, STAND_IN_H100, { cacheDir: false, cudaInclude: '/fake/include', moduleCacheSize: 4 });
    const q = host([1, 2, 100, 64]);
    const lse = { data: new Float32Array(200), shape: [1, 2, 100], dtype: 'f32' as const };
    const mask = createBlockMask(causal(), { qLen: 100, kvLen: 100 });
    // a new constant in the score mod per call: a new module, so compile and module-load steps fail too
    let c = 0;
    const scoreMod = () => {
      const k = 1 + ++c / 1024;
      return (s: Expr) => s.mul(k);
    };
    const kinds = [
      () => backend.flexAttention(q, q, q, { returnLse: true, blockMask: mask, scoreMod: scoreMod() }),
      () => backend.flexAttentionBackward(q, q, q, q, lse, q, { blockMask: mask, scoreMod: scoreMod() }),
      () => backend.measure(q, q, q, {}, { pass: 'both', warmup: 1, iterations: 2 }),
      // a device-resident call: its results would be handed over, were it to succeed
      async () => {
        const g = backend.toGpu(q);
        const held: CudaTensor[] = [g];
        const r = await backend.flexAttention(g, g, g, { returnLse: true }).catch((e: unknown) => e);
        if (!(r instanceof Error)) held.push((r as FlexAttentionResult<CudaTensor>).out, (r as FlexAttentionResult<CudaTensor>).lse!);
        // release each, even when one release's free fails
        const errors = held.flatMap((t) => {
          try {
            backend.release(t);
            return [];
          } catch (e) {
            return [e];
          }
        });
        if (r instanceof Error) throw r;
        if (errors.length) throw errors[0];
      },
    ];
    const failures = new Map<StandInMethod, number>();
    for (const step of FAILING_STEPS) {
      for (let i = 0; i < N; i++) {
        const call = kinds[i % kinds.length]!;
        // fail a different occurrence of the step each time (the 1st alloc, the 2nd, …; a call compiles once)
        addon.failAt(step, step === 'compile' || step === 'moduleLoad' ? 0 : i % 5);
        const outcome = await call().then(() => 'ok', (e: unknown) => e);
        addon.failAt(undefined);
        if (outcome !== 'ok') {
          failures.set(step, (failures.get(step) ?? 0) + 1);
          expect(String(outcome)).toMatch(/stand-in/);
        }
        // a failed call holds nothing; the device-resident call's tensors were released
        expect(addon.allocations, `${step} #${i}`).toBe(0);
      }
    }
    for (const step of FAILING_STEPS) expect(failures.get(step) ?? 0, step).toBeGreaterThanOrEqual(N / 4);
    expect(backend.cacheStats().buffers).toEqual({ count: 0, bytes: 0 });
    expect(addon.allocations).toBe(0);
    // modules: at most the cache's capacity stays loaded
    await new Promise((r) => setTimeout(r, 0));
    expect(addon.loadedModules).toBeLessThanOrEqual(4);
    // and the backend still works
    await backend.flexAttention(q, q, q);
    expect(addon.allocations).toBe(0);
    backend.dispose();
    await new Promise((r) => setTimeout(r, 0));
    expect(addon.loadedModules).toBe(0);
  });

  it('free() frees every allocation and runs every end hook even when one throws, then rethrows the first error', () => {
    const addon = standInAddon();
    const mem = new CallMemory(addon.native as never);
    const ptrs = [mem.alloc(10), mem.alloc(20), mem.alloc(30)];
    const ended: number[] = [];
    mem.onFree(() => ended.push(1));
    mem.onFree(() => {
      throw new Error('hook failed');
    });
    mem.onFree(() => ended.push(3));
    addon.failAt('free', 1);
    expect(() => mem.free()).toThrow(/stand-in free failure/);
    expect(addon.allocations).toBe(0);
    expect(ended).toEqual([1, 3]);
    expect(mem.count).toBe(0);
    // handOver takes an allocation out of the scope
    addon.failAt(undefined);
    const m2 = new CallMemory(addon.native as never);
    const kept = m2.alloc(1000);
    m2.alloc(5);
    expect(m2.handOver(kept)).toBe(1000);
    m2.free();
    expect(addon.allocations).toBe(1);
    expect(() => m2.handOver(ptrs[0]!)).toThrow(/not an allocation of this call/);
  });
});
