// Tile configurations of the CUDA kernels and their shared-memory sizes. The kernels take the
// config as macros (FLEX_FWD_BM, …) from the prelude, so this file is the one source of truth;
// the defaults in kernels/*.cuh only matter for hand-built sources. Byte counts mirror
// flex::SmemTile / FwdCfg / BwdCfg / DecCfg in kernels/*.cuh.
import type { DType } from '@flexattn/ir';

export interface FwdConfig {
  /** Query rows per CTA (the q tile of the block tables). */
  bm: number;
  /** Keys per pipeline stage (the kv tile of the block tables). */
  bn: number;
  warps: number;
  stages: number;
  threads: number;
  smemBytes: number;
}

export interface BwdConfig {
  /** q tile (inner axis of the kv-major tables). */
  bmq: number;
  /** kv rows per CTA (outer axis): 16 per warp. */
  bn: number;
  warps: number;
  threads: number;
  smemBytes: number;
}

export interface DecodeConfig {
  /** (query head, query index) rows per CTA. */
  rows: number;
  /** Keys per tile; keys_per_split is a multiple of it. */
  bn: number;
  maxTiles: number;
  threads: number;
  smemBytes: number;
}

const ceil16 = (x: number) => Math.ceil(x / 16) * 16;
const ceil8 = (x: number) => Math.ceil(x / 8) * 8;

/** Bytes of a ROWS x COLS 16-bit tile (flex::SmemTile): swizzled rows, or one chunk of padding. */
export function smemTileBytes(rows: number, cols: number): number {
  const chunks = cols / 8;
  const stride = chunks % 8 === 0 ? cols : cols + 8;
  return rows * stride * 2;
}

/** f32 (SIMT) kernels use 32 x 32 tiles, 8 warps, static shared memory only. */
export const F32_TILE = 32;

export function fwdConfig(dtype: DType, E: number, Ev: number): FwdConfig {
  if (dtype === 'f32') return { bm: F32_TILE, bn: F32_TILE, warps: 8, stages: 1, threads: 256, smemBytes: 0 };
  let c: { bm: number; bn: number; warps: number; stages: number };
  // measured on the H100 (harness/results): D64 BN 128 0.915 ms vs BN 64 1.00 ms, BM 256 1.04 ms
  if (E <= 64 && Ev <= 64) c = { bm: 128, bn: 128, warps: 4, stages: 2 };
  else if (E <= 128 && Ev <= 128) c = { bm: 128, bn: 64, warps: 4, stages: 2 };
  else c = { bm: 64, bn: 32, warps: 4, stages: 2 };
  const dp = ceil16(E);
  const dvp = ceil16(Ev);
  const smemBytes = smemTileBytes(c.bm, dp) + c.stages * (smemTileBytes(c.bn, dp) + smemTileBytes(c.bn, dvp));
  return { ...c, threads: c.warps * 32, smemBytes };
}

export function bwdConfig(dtype: DType, E: number, Ev: number): BwdConfig {
  if (dtype === 'f32') return { bmq: F32_TILE, bn: F32_TILE, warps: 8, threads: 256, smemBytes: 0 };
  let c: { bmq: number; warps: number };
  if (E <= 64 && Ev <= 64) c = { bmq: 64, warps: 8 };
  else if (E <= 128 && Ev <= 128) c = { bmq: 64, warps: 8 };
  else c = { bmq: 32, warps: 4 };
  const bn = 16 * c.warps;
  const dp = ceil16(E);
  const dvp = ceil16(Ev);
  const smemBytes =
    smemTileBytes(bn, dp) + smemTileBytes(bn, dvp) + 2 * (smemTileBytes(c.bmq, dp) + smemTileBytes(c.bmq, dvp)) +
    smemTileBytes(bn, c.bmq) + 2 * 2 * c.bmq * 4;
  return { bmq: c.bmq, bn, warps: c.warps, threads: c.warps * 32, smemBytes };
}

/** rows: the smallest of 4, 8, 16 that holds G·Lq (16 with several row groups beyond that). */
export function decodeConfig(dtype: DType, E: number, Ev: number, groupRows: number): DecodeConfig {
  const rows = groupRows <= 4 ? 4 : groupRows <= 8 ? 8 : 16;
  const esize = dtype === 'f32' ? 4 : 2;
  const bn = 64;
  const maxTiles = 512;
  const dp = ceil8(E);
  const dvp = ceil8(Ev);
  const offV = 2 * bn * (dp + 8) * esize;
  const offQ = offV + 2 * bn * (dvp + 8) * esize;
  const offP = offQ + rows * dp * 4;
  const offStat = offP + rows * bn * 4;
  const offTiles = offStat + 5 * rows * 4;
  return { rows, bn, maxTiles, threads: 256, smemBytes: offTiles + maxTiles * 2 + 16 };
}

/** Whether a call is a decoding shape (few queries, long kv): the split-KV kernel serves it. */
export function useDecode(Lq: number, Lkv: number, groupSize: number): boolean {
  return Lq <= 16 && Lq * groupSize <= 64 && Lkv >= 512;
}

/** The prelude macros that select a config. */
export function configDefines(fwd: FwdConfig, bwd: BwdConfig, decodeRows: number): Record<string, number> {
  return {
    FLEX_FWD_BM: fwd.bm,
    FLEX_FWD_BN: fwd.bn,
    FLEX_FWD_WARPS: fwd.warps,
    FLEX_FWD_STAGES: Math.max(2, fwd.stages),
    FLEX_BWD_BMQ: bwd.bmq,
    FLEX_BWD_WARPS: bwd.warps,
    FLEX_DEC_ROWS: decodeRows,
  };
}
