// No call leaks device buffers, failing or not (issue 19): 1000 calls that fail part-way (after the
// outputs, uploads and per-call uniforms exist: a dispatch beyond the grid limit, an upload beyond
// the binding limit) or at validation, then 1000 good ones (host and device-resident, forward and
// backward, lse not asked for); the buffers held return to the baseline after each phase, and the
// process's RSS stays within a bound. Before, every failing call leaked its out and lse (5 failing
// calls: 16 → 26 buffers) and a device-resident call with returnLse: false never freed its lse.
import { describe, expect, it } from 'vitest';
import { FlexAttnError, ShapeError, UnsupportedError } from '@flexattn/ir';
import { randomTensor } from '@flexattn/ir/testing';
import { createWebGPUBackend, WebGPUBackend, type GpuTensor } from './index.js';
import { testDevice } from './gpu.test-helpers.js';

const ctx = await testDevice();
const CALLS = 1000;
/**
 * RSS growth allowed over each phase of CALLS calls, after WARMUP calls of each kind. Good calls
 * alone grow RSS by ~70 MB over their first ~1500 calls on lavapipe and then stay flat (allocator
 * pools, V8's heap, Dawn's bookkeeping: ~3 MB per 500 empty submits); the buffer counts are the
 * exact check, this bound catches gross leaks (a pipeline or a large buffer per call).
 */
const RSS_BOUND_MB = 64;
const WARMUP = 400;

const rssMb = () => process.memoryUsage().rss / 2 ** 20;

describe.skipIf(typeof ctx === 'string')('webgpu: buffers and memory stay bounded over failing and good calls', () => {
  it(`${CALLS} failing calls, then ${CALLS} good ones: buffers back to the baseline, RSS bounded`, async () => {
    if (typeof ctx === 'string') return;
    // limits small enough that a call fails mid-way on its own: 2 heads exceed 1 workgroup per grid
    // dimension (thrown at dispatch, after the outputs, uploads and uniforms exist); a 640-byte K
    // exceeds 256-byte bindings (thrown at its upload, after q's and the outputs)
    const failing = new WebGPUBackend({ ...ctx, owned: false, caps: { ...ctx.caps, maxWorkgroupsPerDim: 1, maxStorageBindingSize: 256 } });
    const good = await createWebGPUBackend({ device: ctx.device });
    const t = (shape: number[], seed: number) => randomTensor(shape, 'f32', seed);
    const twoHeads = { q: t([1, 2, 4, 4], 1), k: t([1, 2, 4, 4], 2), v: t([1, 2, 4, 4], 3) };
    const longK = { q: t([1, 1, 4, 4], 4), k: t([1, 1, 40, 4], 5), v: t([1, 1, 40, 4], 6) };
    const dOut = t([1, 2, 4, 4], 7);
    const failures: (() => Promise<unknown>)[] = [
      () => failing.flexAttention(twoHeads.q, twoHeads.k, twoHeads.v),
      () => failing.flexAttentionBackward(twoHeads.q, twoHeads.k, twoHeads.v, twoHeads.q, t([1, 2, 4], 8), dOut),
      () => failing.flexAttention(longK.q, longK.k, longK.v, { returnLse: true }),
      () => failing.flexAttention(twoHeads.q, { ...twoHeads.k, shape: [1, 2, 5, 4] }, twoHeads.v), // validation
    ];
    const expected = [UnsupportedError, UnsupportedError, UnsupportedError, ShapeError];
    const g = { q: good.toGpu(twoHeads.q), k: good.toGpu(twoHeads.k), v: good.toGpu(twoHeads.v), dOut: good.toGpu(dOut) };
    const goods: (() => Promise<unknown>)[] = [
      () => good.flexAttention(twoHeads.q, twoHeads.k, twoHeads.v, { returnLse: true }),
      async () => {
        const r = await good.flexAttention(g.q, g.k, g.v); // no lse asked for: none kept
        good.release(r.out);
      },
      async () => {
        const r = await good.flexAttention(g.q, g.k, g.v, { returnLse: true });
        const grads = await good.flexAttentionBackward(g.q, g.k, g.v, r.out, r.lse!, g.dOut);
        [r.out, r.lse!, grads.dq, grads.dk, grads.dv].forEach((x: GpuTensor) => good.release(x));
      },
      () => good.flexAttentionBackward(twoHeads.q, twoHeads.k, twoHeads.v, twoHeads.q, t([1, 2, 4], 8), dOut),
    ];
    const runFailing = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const err = await failures[i % failures.length]!().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(expected[i % failures.length]!);
        expect(err).toBeInstanceOf(FlexAttnError);
      }
    };
    const runGood = async (n: number) => {
      for (let i = 0; i < n; i++) await goods[i % goods.length]!();
    };
    // warm up: pipelines built, allocator pools and JIT settled
    await runFailing(WARMUP);
    await runGood(WARMUP);
    const baseFailing = failing.cacheStats().buffers.count;
    const baseGood = good.cacheStats().buffers.count;

    const rss0 = rssMb();
    await runFailing(CALLS);
    expect(failing.cacheStats().buffers.count).toBe(baseFailing);
    const rss1 = rssMb();
    await runGood(CALLS);
    expect(good.cacheStats().buffers.count).toBe(baseGood);
    const rss2 = rssMb();
    expect(rss1 - rss0, `RSS over ${CALLS} failing calls: ${rss0.toFixed(0)} → ${rss1.toFixed(0)} MB`).toBeLessThan(RSS_BOUND_MB);
    expect(rss2 - rss1, `RSS over ${CALLS} good calls: ${rss1.toFixed(0)} → ${rss2.toFixed(0)} MB`).toBeLessThan(RSS_BOUND_MB);
    Object.values(g).forEach((x) => good.release(x));
    expect(good.cacheStats().buffers.count).toBe(baseGood - 4);
    failing.dispose();
    good.dispose();
  });
});
