// Real f16 on WebGPU: with `shader-f16` (lavapipe has it) f16 tensors stay f16 on the device — half
// the bytes — and the kernels load f16 and accumulate in f32, in the forward, split-KV decode and
// backward kernels; results equal the f32 kernels' on the same (f16-rounded) inputs within f16
// tolerance, and the float64 reference. Without `shader-f16` (the H100's Dawn) f16 is widened to
// f32 on the device, with a one-time note instead of an error.
import { describe, expect, it, vi } from 'vitest';
import { fromFloats, toFloat64, type Tensor } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { DEFAULT_TOLERANCE } from '@flexattn/ir/testing';
import { createWebGPUBackend } from './index.js';
import { testDevice } from './gpu.test-helpers.js';
import { backendsOn, checkBackwardWithDLse, expectClose, inferenceProblem, type InferenceProblem } from './inference.test-helpers.js';

const ctx = await testDevice();
const reference = createReferenceBackend();
const tol = DEFAULT_TOLERANCE.f16;


/** The same values as f32 tensors (f16 inputs are exact in f32). */
const widened = (t: Tensor): Tensor => fromFloats(toFloat64(t), t.shape, 'f32');
const asF32 = (x: InferenceProblem): InferenceProblem => ({ ...x, q: widened(x.q), k: widened(x.k), v: widened(x.v), dOut: widened(x.dOut) });

describe.skipIf(typeof ctx === 'string')('f16 on webgpu', () => {
  const make = backendsOn(typeof ctx === 'string' ? undefined : ctx.device);

  it('f16 tensors stay f16 on the device: half the bytes of f32', async () => {
    const be = await make({});
    expect(be.f16Storage, `${be.deviceDescription} lacks shader-f16`).toBe(true);
    const x = inferenceProblem(1, 'f16');
    const k16 = be.toGpu(x.k);
    const k32 = be.toGpu(widened(x.k));
    expect(k16.buffer.size).toBe(150 * 2 * 8 * 2);
    expect(k32.buffer.size).toBe(2 * k16.buffer.size);
    // the bits come back as they went
    expect(Array.from((await be.toHost(k16)).data)).toEqual(Array.from(x.k.data));
    const r = await be.flexAttention(be.toGpu(x.q), k16, be.toGpu(x.v), x.options);
    expect(r.out.dtype).toBe('f16');
    expect(r.out.buffer.size).toBe(3 * 4 * 1 * 8 * 2);
    expect(r.lse!.dtype).toBe('f32');
  });

  const paths = [
    { name: 'fused forward kernel', Lq: 9, opts: { splitKv: false } },
    { name: 'split-KV lanes decoder', Lq: 1, opts: { splitKv: true } },
  ];
  for (const path of paths) {
    it(`forward, ${path.name}: f16 equals f32 on the same inputs within f16 tolerance, and the reference`, async () => {
      const be = await make(path.opts);
      const x = inferenceProblem(path.Lq, 'f16', 7);
      const half = await be.flexAttention(x.q, x.k, x.v, x.options);
      const x32 = asF32(x);
      const full = await be.flexAttention(x32.q, x32.k, x32.v, x32.options);
      const want = await reference.flexAttention(x.q, x.k, x.v, x.options);
      expect(half.out.dtype).toBe('f16');
      expectClose(half.out, full.out, tol.forward, 'out vs f32');
      expectClose(half.out, want.out, tol.forward, 'out vs reference');
      expectClose(half.lse!, want.lse!, tol.forward, 'lse');
      expectClose(half.maxScores!, want.maxScores!, tol.forward, 'maxScores');
    });
  }

  it('backward with dLse in f16: dq, dk, dv (summed over the batches) and the slopes gradient', async () => {
    const { got } = await checkBackwardWithDLse(await make({ splitKv: false }), 'f16', 9, tol.backward, { atol: 0.3, rtol: 3e-2 });
    expect(got.dk.dtype).toBe('f16');
  });

  it('a device without shader-f16 widens f16 to f32 on the device, with one note, and still returns f16', async () => {
    const adapter = (await (typeof ctx === 'string' ? undefined : ctx.gpu)!.requestAdapter({ powerPreference: 'low-power' }))!;
    // the adapter's limits, none of its features
    const { maxStorageBuffersPerShaderStage, maxComputeWorkgroupStorageSize, maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX } = adapter.limits;
    const plain = await adapter.requestDevice({ requiredLimits: { maxStorageBuffersPerShaderStage, maxComputeWorkgroupStorageSize, maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX } });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const be = await createWebGPUBackend({ device: plain, splitKv: false });
      expect(be.f16Storage).toBe(false);
      const x = inferenceProblem(9, 'f16', 7);
      const got = await be.flexAttention(x.q, x.k, x.v, x.options);
      await be.flexAttention(x.q, x.k, x.v, x.options);
      expect(be.toGpu(x.k).buffer.size).toBe(150 * 2 * 8 * 4);
      expect(got.out.dtype).toBe('f16');
      expectClose(got.out, (await reference.flexAttention(x.q, x.k, x.v, x.options)).out, tol.forward, 'out');
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/shader-f16/);
      be.dispose();
    } finally {
      warn.mockRestore();
      plain.destroy();
    }
  });
});
