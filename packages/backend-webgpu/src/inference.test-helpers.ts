// The inference-shaped problem the K/V-broadcast, aux-output and f16 tests share: three query
// batches over one K/V (batch 1, as a paged KV cache serves them), each batch seeing its own number
// of keys (a ragged length per batch, causal at its end; the last sees none), GQA 4/2, an ALiBi-like score mod with
// learnable slopes. One mod and one shape family for every test, so lavapipe compiles each kernel
// variant once (its LLVM takes seconds per pipeline).
import { capture, type BlockMask, type CapturedTensor, type DType, type FlexAttentionBackwardOptions, type ScoreMod, type Tensor } from '@flexattn/ir';
import { createBlockMask } from '@flexattn/blockmask';
import { randomTensor } from '@flexattn/ir/testing';

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
