// What the playground runs, without the page: the BlockMask of a mask mod, a WebGPU forward pass
// checked against the float64 reference, and a timed WebGPU forward pass.
import { createBlockMask } from '@flexattn/blockmask';
import { type BlockMask, compareClose, type FlexAttentionBackend, type FlexAttentionOptions, type MaskMod, randomTensor, type ScoreMod, type Tensor } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';

export interface Shape {
  /** Heads (query and key/value alike), sequence length (query and key alike), head dim. */
  H: number;
  L: number;
  D: number;
  blockSize: number;
}

export interface Mods {
  mask?: MaskMod;
  score?: ScoreMod;
}

export function blockMaskFor(mods: Mods, shape: Shape): BlockMask | undefined {
  return mods.mask && createBlockMask(mods.mask, { H: shape.H, qLen: shape.L, kvLen: shape.L, blockSize: shape.blockSize });
}

function inputs(shape: Shape): [Tensor, Tensor, Tensor] {
  const dims = [1, shape.H, shape.L, shape.D];
  return [randomTensor(dims, 'f32', 1), randomTensor(dims, 'f32', 2), randomTensor(dims, 'f32', 3)];
}

function options(mods: Mods, shape: Shape): FlexAttentionOptions {
  return { scoreMod: mods.score, blockMask: blockMaskFor(mods, shape), returnLse: true };
}

export interface Check {
  maxAbsErrorOut: number;
  maxAbsErrorLse: number;
  ok: boolean;
}

/** f32 kernels against the float64 reference: the tolerance the conformance suite gives f32. */
export const CHECK_TOLERANCE = { atol: 2e-4, rtol: 2e-4 };

/** One forward pass on `backend` and on the reference, same inputs; the largest differences. */
export async function checkAgainstReference(backend: FlexAttentionBackend, mods: Mods, shape: Shape): Promise<Check> {
  const [q, k, v] = inputs(shape);
  const opts = options(mods, shape);
  const [got, want] = [await backend.flexAttention(q, k, v, opts), await createReferenceBackend().flexAttention(q, k, v, opts)];
  const out = compareClose(got.out, want.out, CHECK_TOLERANCE);
  const lse = compareClose(got.lse!, want.lse!, CHECK_TOLERANCE);
  return { maxAbsErrorOut: out.maxAbsError, maxAbsErrorLse: lse.maxAbsError, ok: out.ok && lse.ok };
}

export interface Timing {
  /** Median milliseconds per forward pass. */
  ms: number;
  /** Tera floating-point operations per second over the blocks the mask keeps. */
  tflops: number;
  timer: string;
}

/** Times the forward pass with the backend's own measure() (GPU timestamps where it has them). */
export async function timeForward(backend: FlexAttentionBackend, mods: Mods, shape: Shape, iterations = 5): Promise<Timing> {
  if (!backend.measure) throw new Error(`the ${backend.name} backend cannot time itself`);
  const [q, k, v] = inputs(shape);
  const opts = options(mods, shape);
  const { ms, timer } = await backend.measure(q, k, v, opts, { pass: 'fwd', warmup: 2, iterations });
  const sorted = [...ms].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const kept = 1 - (opts.blockMask?.sparsity() ?? 0) / 100;
  const flops = 4 * shape.H * shape.L * shape.L * shape.D * kept; // QKᵀ and PV: 2 flops per multiply-add each
  return { ms: median, tflops: flops / (median * 1e9), timer };
}
