/** What the engine is asked to run: one attention call's shape, buffers, hooks and block tables. */
import type { AttentionShape, PackedBlockTables } from '@flexattn/ir';
import type { CaptureState } from './program.js';
import type { Storage } from './programs/common.js';
import type { WgslHooks } from './programs/hooks.js';

/** The mask's tables in a kernel's tile shape (tileQ query rows × tileKv keys). */
export type TablesFn = (tileQ: number, tileKv: number) => PackedBlockTables;

export interface ForwardCall {
  shape: AttentionShape;
  scale: number;
  q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; out: GPUBuffer; lse: GPUBuffer;
  /** how q, k, v and out (backward: also dOut and the gradients) are stored; default f32 */
  storage?: Storage;
  /** k and v have batch 1 and serve every query batch (read with a batch stride of 0) */
  kvShared?: boolean;
  /** also write each row's max post-mod score here (returnAux.maxScores; forward only) */
  maxScores?: GPUBuffer;
  hooks: WgslHooks;
  captures: CaptureState;
  /** the block tables at the chosen kernel's tiles; undefined = no block mask (every tile full) */
  tables?: TablesFn;
  /** the mask's H (split-KV decoding needs tables shared by all heads: 1) */
  maskH?: number;
  /** encode into this encoder (the caller submits); default: a fresh one, submitted */
  encoder?: GPUCommandEncoder;
}

export interface BackwardCall extends Omit<ForwardCall, 'maskH' | 'maxScores'> {
  dOut: GPUBuffer;
  /** the gradient w.r.t. the forward's lse ([B, Hq, Lq] f32); absent = zero */
  dLse?: GPUBuffer;
  /** dk and dv have k/v's batch (1 when kvShared: summed over the query batches) */
  dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer;
}

/** The Params every attention kernel shares. */
export const shapeParams = (c: { shape: AttentionShape; scale: number; kvShared?: boolean }) => {
  const s = c.shape;
  return { B: s.B, Hq: s.Hq, Hkv: s.Hkv, Lq: s.Lq, Lkv: s.Lkv, group: s.Hq / s.Hkv, scale: c.scale, kvBatchStride: c.kvShared ? 0 : s.Hkv * s.Lkv };
};
