// The TMA tensor maps of the persistent Hopper forward (kernels/flex_fwd_fa3.cuh, fwd_fa3): Q as
// rank 3 [B·Hq, Lq, E], K and V as rank 4 [Bkv, Hkv, Lkv, E] in boxes of 64 columns (one
// 128-byte-swizzled panel) by the tile's rows. Rows past Lq / Lkv fall outside the tensor, so the
// copy engine zero-fills them. A batch stride of 0 (one K/V for every query batch) is a batch
// dimension of 1 that the kernel always reads at 0.
import type { AttentionShape, DType } from '@flexattn/ir';
import { CU, type CudaNative, type DevicePtr } from './native.js';

export interface Fa3MapInputs extends AttentionShape {
  dtype: Exclude<DType, 'f32'>;
  q: DevicePtr;
  k: DevicePtr;
  v: DevicePtr;
  /** Elements between consecutive batches of K / of V; 0 broadcasts batch 0. */
  kvBatchStrides: readonly [number, number];
  /** The q tile (rows of one Q box) and the kv tile (rows of one K/V box). */
  bm: number;
  bn: number;
}

/** The three 128-byte kernel parameters tq, tk, tv, in launch order. */
export function fa3TensorMaps(native: Pick<CudaNative, 'tensorMapEncodeTiled'>, x: Fa3MapInputs): ArrayBuffer[] {
  const type = x.dtype === 'f16' ? CU.TENSOR_MAP_DATA_TYPE_FLOAT16 : CU.TENSOR_MAP_DATA_TYPE_BFLOAT16;
  const swizzle = CU.TENSOR_MAP_SWIZZLE_128B;
  const q = native.tensorMapEncodeTiled(type, x.q, [x.E, x.Lq, x.B * x.Hq], [x.E * 2, x.Lq * x.E * 2], [64, x.bm, 1], swizzle);
  const kv = (base: DevicePtr, e: number, batchStride: number) => {
    // the batch stride of a broadcast (one batch) is never followed; any valid value serves
    const stride = batchStride !== 0 ? batchStride : x.Hkv * x.Lkv * e;
    const batches = batchStride !== 0 ? x.B : 1;
    return native.tensorMapEncodeTiled(type, base, [e, x.Lkv, x.Hkv, batches], [e * 2, x.Lkv * e * 2, stride * 2], [64, x.bn, 1, 1], swizzle);
  };
  return [q, kv(x.k, x.E, x.kvBatchStrides[0]), kv(x.v, x.Ev, x.kvBatchStrides[1])];
}
