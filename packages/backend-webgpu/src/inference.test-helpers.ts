// The inference-shaped problem the K/V-broadcast, aux-output and f16 tests share: three query
// batches over one K/V (batch 1, as a paged KV cache serves them), each batch seeing its own number
// of keys (a ragged length per batch, causal at its end; the last sees none), GQA 4/2, an ALiBi-like score mod with
// learnable slopes. One mod and one shape family for every test, so lavapipe compiles each kernel
// variant once (its LLVM takes seconds per pipeline).
import { afterAll, expect } from 'vitest';
import { createWebGPUBackend, type WebGPUBackend, type WebGPUBackendOptions } from './index.js';
import { capture, type BlockMask, type CapturedTensor, type DType, type FlexAttentionBackend, type FlexAttentionBackwardOptions, type FlexAttentionGrads, type ScoreMod, type Tensor } from '@flexattn/ir';
import { createBlockMask } from '@flexattn/blockmask';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { compareClose, randomTensor } from '@flexattn/ir/testing';

export const KV_LEN = 150;
export const BATCH = 3;
/** keys each query batch sees (its sequence length; 0: rows with no visible key); rows are causal at its end */
export const LENGTHS = Int32Array.from([150, 97, 0]);

export interface InferenceProblem {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  dOut: Tensor;
  dLse: Tensor;
  slopes: CapturedTensor;
  options: FlexAttentionBackwardOptions & { blockMask: BlockMask; scoreMod: ScoreMod };
}

/** `Lq` query rows per batch (1: a decode step) in `dtype`, K/V of batch 1. */
export function inferenceProblem(Lq: number, dtype: DType, seed = 1): InferenceProblem {
  const lengths = capture(LENGTHS, [BATCH], { name: 'lengths' });
  const slopes = capture(Float32Array.from([0.5, 0.25, 0.125, 0.0625]), [4], { name: 'slopes', requiresGrad: true });
  const blockMask = createBlockMask((b, _h, q, kv) => kv.lt(lengths.at(b)).and(kv.le(q.add(lengths.at(b)).sub(Lq))), { B: BATCH, qLen: Lq, kvLen: KV_LEN, blockSize: 16 });
  const scoreMod: ScoreMod = (s, _b, h, q, kv) => s.add(slopes.at(h).mul(kv.sub(q).toFloat()).mul(0.05));
  return {
    q: randomTensor([BATCH, 4, Lq, 8], dtype, seed),
    k: randomTensor([1, 2, KV_LEN, 8], dtype, seed + 1),
    v: randomTensor([1, 2, KV_LEN, 8], dtype, seed + 2),
    dOut: randomTensor([BATCH, 4, Lq, 8], dtype, seed + 3),
    dLse: randomTensor([BATCH, 4, Lq], 'f32', seed + 4),
    slopes,
    options: { blockMask, scoreMod, enableGqa: true, returnAux: { lse: true, maxScores: true } },
  };
}

type Tolerance = { atol: number; rtol: number };

export function expectClose(got: Tensor | Float32Array, want: Tensor | Float32Array, t: Tolerance, what: string): void {
  const c = compareClose(got, want, t);
  expect(c.ok, `${what}: max |error| ${c.maxAbsError} at ${c.worstIndex}`).toBe(true);
}

/**
 * The backward with dLse of `inferenceProblem(9, dtype, seed)` on `be` against the float64 reference:
 * dq, dk/dv (K/V of batch 1: summed over the query batches) within `tol`, the slopes' gradient
 * within `slopesTol`. Returns what `be` computed, and the problem.
 */
export async function checkBackwardWithDLse(be: FlexAttentionBackend, dtype: DType, seed: number, tol: Tolerance, slopesTol: Tolerance): Promise<{ got: FlexAttentionGrads; x: InferenceProblem }> {
  const reference = createReferenceBackend();
  const x = inferenceProblem(9, dtype, seed);
  const forward = { ...x.options, returnAux: { lse: true } };
  const options = { ...forward, dLse: x.dLse };
  const fwd = await be.flexAttention(x.q, x.k, x.v, forward);
  const got = await be.flexAttentionBackward(x.q, x.k, x.v, fwd.out, fwd.lse!, x.dOut, options);
  const ref = await reference.flexAttention(x.q, x.k, x.v, forward);
  const want = await reference.flexAttentionBackward(x.q, x.k, x.v, ref.out, ref.lse!, x.dOut, options);
  expect(got.dk.shape).toEqual([1, 2, KV_LEN, 8]);
  expectClose(got.dq, want.dq, tol, 'dq');
  expectClose(got.dk, want.dk, tol, 'dk');
  expectClose(got.dv, want.dv, tol, 'dv');
  expectClose(got.captureGrads.get(x.slopes)!, want.captureGrads.get(x.slopes)!, slopesTol, 'grad(slopes)');
  return { got, x };
}

/** WebGPU backends on `device` made with the given options, disposed after the calling describe block. */
export function backendsOn(device: GPUDevice | undefined): (opts: WebGPUBackendOptions) => Promise<WebGPUBackend> {
  const made: WebGPUBackend[] = [];
  afterAll(() => made.forEach((b) => b.dispose()));
  return async (opts) => {
    const be = await createWebGPUBackend({ device, ...opts });
    made.push(be);
    return be;
  };
}
