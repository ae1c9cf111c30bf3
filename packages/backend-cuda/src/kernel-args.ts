// Packing of the kernels' by-value arguments: the *Args structs of kernels/common.cuh (their byte
// layouts are documented there and mirrored here) and the generated params structs (their layout
// is ir's ParamBlock, from the kernel-hook plan).
import { type ModParam, packParamBlock, type ParamBlock } from '@flexattn/ir';

export type Ptr = bigint;

class Packer {
  readonly buf: ArrayBuffer;
  private readonly view: DataView;
  constructor(size: number) {
    this.buf = new ArrayBuffer(size);
    this.view = new DataView(this.buf);
  }
  ptr(offset: number, p: Ptr | null | undefined): this {
    this.view.setBigUint64(offset, p ?? 0n, true);
    return this;
  }
  i32(offset: number, x: number): this {
    this.view.setInt32(offset, x, true);
    return this;
  }
  i64(offset: number, x: number): this {
    this.view.setBigInt64(offset, BigInt(x), true);
    return this;
  }
  f32(offset: number, x: number): this {
    this.view.setFloat32(offset, x, true);
    return this;
  }
}

/** A block table already in a kernel's tile units (device pointers), or null for "no block mask". */
export interface DeviceBlockTable {
  numBlocks: Ptr;
  indices: Ptr;
  fullNumBlocks: Ptr;
  fullIndices: Ptr;
  mB: number;
  mH: number;
  outer: number;
  inner: number;
}

export const BLOCK_TABLE_BYTES = 48;
function packTable(p: Packer, at: number, t: DeviceBlockTable | null): void {
  if (!t) return;
  p.ptr(at, t.numBlocks).ptr(at + 8, t.indices).ptr(at + 16, t.fullNumBlocks).ptr(at + 24, t.fullIndices);
  p.i32(at + 32, t.mB).i32(at + 36, t.mH).i32(at + 40, t.outer).i32(at + 44, t.inner);
}

export interface Dims {
  B: number;
  Hq: number;
  Hkv: number;
  Lq: number;
  Lkv: number;
  scale: number;
}

export const FWD_ARGS_BYTES = 152;
/**
 * FlexFwdArgs. kvBatchStrides: elements between the K and the V of consecutive batches (0: one
 * K/V for every query batch); maxScores: the optional row-max output.
 */
export function packFwdArgs(
  a: Dims & {
    q: Ptr; k: Ptr; v: Ptr; out: Ptr; lse: Ptr | null; table: DeviceBlockTable | null;
    kvBatchStrides: readonly [number, number]; maxScores?: Ptr | null; tileCounter?: Ptr | null;
  },
): ArrayBuffer {
  const p = new Packer(FWD_ARGS_BYTES);
  p.ptr(0, a.q).ptr(8, a.k).ptr(16, a.v).ptr(24, a.out).ptr(32, a.lse);
  packTable(p, 40, a.table);
  p.i32(88, a.B).i32(92, a.Hq).i32(96, a.Hkv).i32(100, a.Lq).i32(104, a.Lkv).f32(108, a.scale);
  p.i32(112, a.table ? 1 : 0);
  p.ptr(120, a.maxScores).i64(128, a.kvBatchStrides[0]).i64(136, a.kvBatchStrides[1]);
  p.ptr(144, a.tileCounter);
  return p.buf;
}

export const BWD_ARGS_BYTES = 208;
/**
 * FlexBwdArgs. dLse: the optional gradient of the loss with respect to lse ([B, Hq, Lq] f32);
 * kvBatchStrides as in packFwdArgs; dqSemaphore / dqRank: the deterministic FA3-class body's dQ
 * order (zeroed counters [B, Hq, q tiles], dq-order.ts's ranks and visits; null elsewhere).
 */
export function packBwdArgs(
  a: Dims & {
    q: Ptr; k: Ptr; v: Ptr; out: Ptr; dout: Ptr; lse: Ptr; delta: Ptr; dqAccum: Ptr;
    dq: Ptr; dk: Ptr; dv: Ptr; table: DeviceBlockTable | null; dLse?: Ptr | null;
    kvBatchStrides: readonly [number, number];
    dqSemaphore?: Ptr | null; dqRank?: Ptr | null;
  },
): ArrayBuffer {
  const p = new Packer(BWD_ARGS_BYTES);
  p.ptr(0, a.q).ptr(8, a.k).ptr(16, a.v).ptr(24, a.out).ptr(32, a.dout).ptr(40, a.lse).ptr(48, a.delta);
  p.ptr(56, a.dqAccum).ptr(64, a.dq).ptr(72, a.dk).ptr(80, a.dv);
  packTable(p, 88, a.table);
  p.i32(136, a.B).i32(140, a.Hq).i32(144, a.Hkv).i32(148, a.Lq).i32(152, a.Lkv).f32(156, a.scale);
  p.i32(160, a.table ? 1 : 0);
  p.ptr(168, a.dLse).i64(176, a.kvBatchStrides[0]).i64(184, a.kvBatchStrides[1]);
  p.ptr(192, a.dqSemaphore).ptr(200, a.dqRank);
  return p.buf;
}

/** The dense class table of a decode call, at the user's block granularity. */
export interface DeviceClassTable {
  cls: Ptr;
  mB: number;
  mH: number;
  qBlocks: number;
  kvBlocks: number;
  blockQ: number;
  blockKv: number;
}

export const DECODE_ARGS_BYTES = 168;
/**
 * FlexDecodeArgs. maxScores / partMax: the optional row-max output and its per-split workspace;
 * kvBatchStrides as in packFwdArgs; mergeCount: an int per (batch, kv head, row group), zero when
 * allocated (the kernel's last split of a column merges it and re-zeroes its counter).
 */
export function packDecodeArgs(
  a: Dims & {
    q: Ptr; k: Ptr; v: Ptr; out: Ptr; lse: Ptr | null; partO: Ptr; partLse: Ptr;
    numSplits: number; keysPerSplit: number; classes: DeviceClassTable | null;
    /** the first split's first key (keys before it are masked for every row); default 0 */
    keyOffset?: number;
    maxScores?: Ptr | null; partMax?: Ptr | null;
    kvBatchStrides: readonly [number, number];
    mergeCount: Ptr;
  },
): ArrayBuffer {
  const p = new Packer(DECODE_ARGS_BYTES);
  p.ptr(0, a.q).ptr(8, a.k).ptr(16, a.v).ptr(24, a.out).ptr(32, a.lse).ptr(40, a.partO).ptr(48, a.partLse);
  p.ptr(56, a.classes?.cls);
  p.i32(64, a.B).i32(68, a.Hq).i32(72, a.Hkv).i32(76, a.Lq).i32(80, a.Lkv).f32(84, a.scale);
  p.i32(88, a.numSplits).i32(92, a.keysPerSplit).i32(96, a.classes ? 1 : 0);
  const c = a.classes;
  if (c) p.i32(100, c.mB).i32(104, c.mH).i32(108, c.qBlocks).i32(112, c.kvBlocks).i32(116, c.blockQ).i32(120, c.blockKv);
  p.i32(124, a.keyOffset ?? 0);
  p.ptr(128, a.maxScores).ptr(136, a.partMax).i64(144, a.kvBatchStrides[0]).i64(152, a.kvBatchStrides[1]);
  p.ptr(160, a.mergeCount);
  return p.buf;
}

/**
 * A generated params struct: captured tensors by device pointer (`tensorPtr(slot)`), their
 * gradient buffers (`gradPtr(slot)`, null in the forward pass), dims, and scalar values.
 */
export function packModParams(
  layout: ParamBlock,
  captures: readonly ModParam[],
  tensorPtr: (slot: number) => Ptr,
  gradPtr: (slot: number) => Ptr | null,
): ArrayBuffer {
  return packParamBlock(layout, captures, { tensor: tensorPtr, grad: gradPtr });
}
