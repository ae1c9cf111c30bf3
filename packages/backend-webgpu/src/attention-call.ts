/** What the engine is asked to run: one attention call's shape, buffers, hooks and block tables. */
import type { AttentionShape, PackedBlockTables } from '@flexattn/ir';
import type { CaptureState } from './program.js';
import type { WgslHooks } from './programs/hooks.js';

/** The mask's tables in a kernel's tile shape (tileQ query rows × tileKv keys). */
export type TablesFn = (tileQ: number, tileKv: number) => PackedBlockTables;

export interface ForwardCall {
  shape: AttentionShape;
  scale: number;
  q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; out: GPUBuffer; lse: GPUBuffer;
  hooks: WgslHooks;
  captures: CaptureState;
  /** the block tables at the chosen kernel's tiles; undefined = no block mask (every tile full) */
  tables?: TablesFn;
  /** the mask's H (split-KV decoding needs tables shared by all heads: 1) */
  maskH?: number;
  /** encode into this encoder (the caller submits); default: a fresh one, submitted */
  encoder?: GPUCommandEncoder;
}

export interface BackwardCall extends Omit<ForwardCall, 'maskH'> {
  dOut: GPUBuffer;
  dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer;
}

/** The Params every attention kernel shares. */
export const shapeParams = (c: { shape: AttentionShape; scale: number }) => {
  const s = c.shape;
  return { B: s.B, Hq: s.Hq, Hkv: s.Hkv, Lq: s.Lq, Lkv: s.Lkv, group: s.Hq / s.Hkv, scale: c.scale };
};
