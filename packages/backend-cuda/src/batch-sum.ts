// The gradient of K/V that every query batch shared (batch stride 0: a paged KV cache, a shared
// prefix): the backward kernels write one dK/dV partial per query batch, and the gradient of the
// one shared tensor is their sum. Summed on the host in float64 from the copied partials, then
// rounded once to the dtype (16-bit partials were each rounded once by the kernel).
import { fromFloats, numel, toFloat64, type Tensor } from '@flexattn/ir';

/** [B, ...rest] → [1, ...rest], the sum over the leading (batch) dimension. */
export function sumOverBatch(t: Tensor): Tensor {
  const [B, ...rest] = t.shape as [number, ...number[]];
  const per = numel(rest);
  const x = toFloat64(t);
  const sum = new Float64Array(per);
  for (let b = 0; b < B; b++) {
    const at = b * per;
    for (let i = 0; i < per; i++) sum[i] = sum[i]! + x[at + i]!;
  }
  return fromFloats(sum, [1, ...rest], t.dtype);
}
