// Bad device tensors and what each must throw (issue 19): one list for the stand-in test
// (device-tensors.test.ts, CI) and the GPU machine's runner (harness/e2e/fuzz-real.ts), so both
// check the same messages. The tensors are the caller's: q of [1, 2, 64, 64] bf16, a released one
// of the same shape, lse of [1, 2, 64] f32 and a released one; `foreign` (a tensor of another GPU)
// and `host` (a host tensor of q's shape) where the caller has them.
import { OptionError, ShapeError, type Tensor } from '@flexattn/ir';
import type { CudaBackend } from './backend';
import type { CudaTensor } from './device-tensors';

export type MisuseCase = [what: string, call: () => Promise<unknown>, type: new (...a: never[]) => Error, message: RegExp];

export interface MisuseTensors {
  q: CudaTensor;
  released: CudaTensor;
  lse: CudaTensor;
  releasedLse: CudaTensor;
  foreign?: CudaTensor;
  host?: Tensor;
}

export function deviceTensorMisuse(backend: CudaBackend, t: MisuseTensors): MisuseCase[] {
  const { q, released, lse, releasedLse, foreign, host } = t;
  return [
    ['shape larger than the allocation', () => backend.flexAttention({ ...q, shape: [1, 2, 65, 64] }, q, q), ShapeError, /^q has shape \[1, 2, 65, 64\] \(16640 bytes of bf16\) but its device storage holds 16384 bytes/],
    ['released', () => backend.flexAttention(q, released, q), OptionError, /^k was released/],
    ...(foreign ? [['another GPU', () => backend.flexAttention(q, q, foreign), OptionError, /^v lives on another device than this cuda backend's/] as MisuseCase] : []),
    ['not a device allocation', () => backend.flexAttention(q, { ptr: 0x123n, shape: [1, 2, 64, 64], dtype: 'bf16' } as CudaTensor, q), OptionError, /^k was released/],
    ...(host ? [['a host tensor without data', () => backend.flexAttention(host, { shape: [1, 2, 64, 64], dtype: 'bf16' } as never, q), ShapeError, /^k has no data/] as MisuseCase] : []),
    ['backward: lse released', () => backend.flexAttentionBackward(q, q, q, q, releasedLse, q), OptionError, /^lse was released/],
    ['backward: lse of the wrong shape', () => backend.flexAttentionBackward(q, q, q, q, q, q), ShapeError, /^lse must have 3 dimensions \[1, 2, 64\]/],
    ['backward: dOut shorter than its shape (a view over a smaller allocation)', () => backend.flexAttentionBackward(q, q, q, q, lse, { ptr: lse.ptr, shape: [1, 2, 64, 64], dtype: 'bf16' }), ShapeError, /^dOut has shape \[1, 2, 64, 64\] \(16384 bytes of bf16\) but its device storage holds 512 bytes/],
    ['toHost of a released tensor', () => backend.toHost(released), OptionError, /^toHost was released/],
  ];
}
