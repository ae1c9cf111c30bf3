// K/V of batch 1 read by three query batches (what a paged KV cache sends), returnAux.maxScores and
// the backward's dLse, on each kernel path — the fused forward kernel, the split-KV lanes decoder and
// the split-mode forward template — against the float64 reference; dk/dv of the shared K/V are the
// sums over the batches. Both extras are pipeline variants: the default kernels do not change.
import { describe, expect, it } from 'vitest';
import { compareClose, DEFAULT_TOLERANCE } from '@flexattn/ir/testing';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { UnsupportedError } from '@flexattn/ir';
import { createWebGPUBackend } from './index.js';
import { testDevice } from './gpu.test-helpers.js';
import { backendsOn, checkBackwardWithDLse, expectClose, inferenceProblem } from './inference.test-helpers.js';
import { forwardKernel, mergeKernel } from './programs/forward.js';
import { preprocessKernel } from './programs/backward.js';
import { NOOP_CAPTURE_GRADS, NOOP_MASK_MOD, NOOP_SCORE_GRAD, NOOP_SCORE_MOD } from './programs/hooks.js';

const ctx = await testDevice();
const reference = createReferenceBackend();
const tol = DEFAULT_TOLERANCE.f32;

describe('kernel variants', () => {
  const hooks = { key: 'noop', scoreMod: NOOP_SCORE_MOD, maskMod: NOOP_MASK_MOD, scoreModGrad: NOOP_SCORE_GRAD, captureGrads: NOOP_CAPTURE_GRADS, captures: [], scalars: [] };
  const cfg = { BR: 32, BC: 32, TX: 8, TY: 8, E: 16, Ev: 16, subgroups: false, mode: 'forward' as const };
  it('maxScores is a variant of the forward and merge kernels: one store per row, nothing in the default kernels', () => {
    expect(forwardKernel(cfg, hooks)).not.toMatch(/MAXS/);
    const withMax = forwardKernel({ ...cfg, maxScores: true }, hooks);
    expect(withMax.match(/MAXS\[/g)).toHaveLength(cfg.BR / cfg.TY);
    // the loop over key tiles is the same text with or without it
    const loop = (wgsl: string) => wgsl.slice(wgsl.indexOf('for (var t = t_begin'), wgsl.indexOf('// finish'));
    expect(loop(withMax)).toBe(loop(forwardKernel(cfg, hooks)));
    expect(mergeKernel(16, 16, 4)).not.toMatch(/MAXS/);
    expect(mergeKernel(16, 16, 4, { maxScores: true })).toMatch(/MAXS\[row\] = /);
  });
  it('dLse enters the backward as a shift of delta in the preprocess kernel only', () => {
    expect(preprocessKernel(16)).not.toMatch(/DLSE/);
    expect(preprocessKernel(16, { dLse: true })).toMatch(/DELTA\[row\] = acc - DLSE\[row\];/);
  });
});

describe.skipIf(typeof ctx === 'string')('K/V shared by the query batch, maxScores, dLse (webgpu)', () => {
  const make = backendsOn(typeof ctx === 'string' ? undefined : ctx.device);

  const paths = [
    { name: 'fused forward kernel (9 rows per batch)', Lq: 9, opts: { splitKv: false } },
    { name: 'split-KV lanes decoder (one row per batch)', Lq: 1, opts: { splitKv: true } },
    { name: 'split-mode forward template (one row per batch)', Lq: 1, opts: { splitKv: true, tuning: { decode: { kernel: 'tiles' as const } } } },
  ];
  for (const path of paths) {
    it(`forward: ${path.name} — out, lse and maxScores equal the reference`, async () => {
      const be = await make(path.opts);
      const x = inferenceProblem(path.Lq, 'f32');
      const want = await reference.flexAttention(x.q, x.k, x.v, x.options);
      const got = await be.flexAttention(x.q, x.k, x.v, x.options);
      expectClose(got.out, want.out, tol.forward, 'out');
      expectClose(got.lse!, want.lse!, tol.forward, 'lse');
      expect(got.maxScores?.shape).toEqual([3, 4, path.Lq]);
      expectClose(got.maxScores!, want.maxScores!, tol.forward, 'maxScores');
      // the last batch sees no key: out 0, lse and maxScores −inf
      expect(Array.from(got.maxScores!.data.slice(-4 * path.Lq))).toEqual(Array(4 * path.Lq).fill(-Infinity));
    });
  }

  it('maxScores of device-resident inputs come back on the device', async () => {
    const be = await make({ splitKv: false });
    const x = inferenceProblem(9, 'f32');
    const q = be.toGpu(x.q), k = be.toGpu(x.k), v = be.toGpu(x.v);
    const r = await be.flexAttention(q, k, v, x.options);
    const maxScores = await be.toHost(r.maxScores!);
    const want = await reference.flexAttention(x.q, x.k, x.v, x.options);
    expectClose(maxScores, want.maxScores!, tol.forward, 'maxScores');
    [q, k, v, r.out, r.lse!, r.maxScores!].forEach((t) => be.release(t));
  });

  it('a kernel that binds more storage buffers than the device allows is an UnsupportedError, not a GPU error', async () => {
    const adapter = (await (typeof ctx === 'string' ? undefined : ctx.gpu)!.requestAdapter({ powerPreference: 'low-power' }))!;
    const small = await adapter.requestDevice(); // the default limit: 8 storage buffers per stage
    const be = await createWebGPUBackend({ device: small, splitKv: false });
    const x = inferenceProblem(9, 'f32');
    // tables, q, k, v, out, lse, maxScores, the scalars' placeholder and two captured tensors: 10
    await expect(be.flexAttention(x.q, x.k, x.v, x.options)).rejects.toThrow(UnsupportedError);
    await expect(be.flexAttention(x.q, x.k, x.v, x.options)).rejects.toThrow(/storage buffers/);
    be.dispose();
    small.destroy();
  });

  it('backward with dLse: dq, dk/dv summed over the batches, and the slopes gradient equal the reference', async () => {
    const be = await make({ splitKv: false });
    const { got, x } = await checkBackwardWithDLse(be, 'f32', 5, tol.backward, { atol: 2e-2, rtol: 2e-3 });
    const forward = { ...x.options, returnAux: { lse: true } };
    const fwd = await be.flexAttention(x.q, x.k, x.v, forward);
    // the lse term matters here: without dLse the gradients differ
    const plain = await be.flexAttentionBackward(x.q, x.k, x.v, fwd.out, fwd.lse!, x.dOut, forward);
    expect(compareClose(plain.dq, got.dq, tol.backward).ok).toBe(false);
  });
});
