/**
 * The one path from a BlockMask to what a kernel walks: the mask's tables in the kernel's own tile
 * shape (tileQ × tileKv), both views, in one allocation — memoised on the mask per tile shape, so a
 * repeated call with an unchanged mask converts nothing.
 *
 * A tile is EMPTY when every mask block it overlaps is empty, FULL when every one is full, PARTIAL
 * otherwise; then (unless the tiles are the mask's own blocks) each PARTIAL tile is sharpened with the
 * mask mod's interval analysis: proven fully visible → FULL (mask_mod skipped), proven fully masked →
 * EMPTY (never visited). E.g. causal with 128-blocks on 64×32 tiles: of the 8 tiles of a diagonal
 * block, 2 become empty and 2 full. Sound as the analysis: 'some' keeps the tile partial.
 *
 * Tiles may be shifted up by `qOffset` rows: q tile t then covers rows [t·tileQ − qOffset,
 * (t+1)·tileQ − qOffset) clipped to [0, Lq), so the first tile is the short one instead of the last
 * (shortTileFirstOffset: a causal-like mask's last q tile sees the most kv tiles, so it is the one
 * worth keeping whole).
 *
 * Invalidation: users may mutate a mask's typed arrays (or a captured tensor its mask mod reads) in
 * place, so identity alone cannot key the memo. Each call takes a 64-bit fingerprint of what the
 * tables depend on — the shape, the kv-major lists (only their used entries), and, when tiles are
 * refined, the mask mod's captured data and scalar values — and converts again when it changed. The
 * fingerprint is O(visible blocks + captured elements): ~10 µs for an L=8192 document mask. Masks
 * that change themselves in place (BlockMask.generation: a decode mask's new kv blocks or position)
 * bump their generation, which the memo compares too.
 */
import {
  allocateBlockTables, ceilDiv, EMPTY, FULL, PARTIAL, readTablesPlane, writeTablesPlane, type PackedBlockTables,
} from './block-tables';
import type { BlockMask } from './block-mask';
import { ShapeError } from './errors';
import { compileMaskInterval, type CompiledInterval } from './interval';
import { CapturedTensor } from './params';
import { checkBlockMaskTables } from './validate-mask';

/** A BlockMask's tables in a kernel's tile units: qBlocks × kvBlocks count tiles here. */
export interface TileTables extends PackedBlockTables {
  readonly tileQ: number;
  readonly tileKv: number;
  /** Rows the q tiles are shifted up by (TileTableOptions.qOffset): q tile t starts at row t·tileQ − qOffset. */
  readonly qOffset: number;
}

/**
 * The q offset that makes the first q tile the partial one (Lq mod tileQ rows) and every later tile
 * whole, with the same ceil(Lq / tileQ) tiles: (tileQ − Lq mod tileQ) mod tileQ. A kernel that
 * tiles its queries this way must read tables built with it (TileTableOptions.qOffset).
 */
export function shortTileFirstOffset(Lq: number, tileQ: number): number {
  return (tileQ - (Lq % tileQ)) % tileQ;
}

export interface TileTableOptions {
  /**
   * The problem's batch size and query heads. A mask broadcast over them (its B or H is 1) is
   * refined over all of them, since one tile then stands for every batch / head (default 1).
   */
  batch?: number;
  heads?: number;
  /** Sharpen partial tiles with the mask mod's interval analysis (default true). */
  refine?: boolean;
  /**
   * Shift the q tiles up by this many rows, an integer in [0, tileQ) (default 0): q tile t covers
   * rows [t·tileQ − qOffset, (t+1)·tileQ − qOffset) ∩ [0, Lq), and there are ceil((Lq + qOffset) /
   * tileQ) of them. See shortTileFirstOffset.
   */
  qOffset?: number;
}

let conversions = 0;
/** How many tile-table conversions this process has run (tests prove a repeated call runs none). */
export const tileTableConversions = (): number => conversions;

interface Memo<T> {
  generation: number;
  fp1: number;
  fp2: number;
  value: T;
}
const memos = new WeakMap<BlockMask, Map<string, Memo<TileTables | Uint8Array>>>();

function memoised<T extends TileTables | Uint8Array>(mask: BlockMask, key: string, withCaptures: boolean, build: () => T): T {
  // A mask that changed itself in place (a growing decode mask) says so by its generation; the
  // fingerprint still catches what users change in place behind its back.
  const generation = mask.generation ?? 0;
  const [fp1, fp2] = fingerprint(mask, withCaptures);
  let perMask = memos.get(mask);
  if (!perMask) memos.set(mask, (perMask = new Map()));
  const hit = perMask.get(key);
  if (hit && hit.generation === generation && hit.fp1 === fp1 && hit.fp2 === fp2) return hit.value as T;
  if (withCaptures) refreshChangedRanges(mask);
  conversions++;
  const value = build();
  perMask.set(key, { generation, fp1, fp2, value });
  return value;
}

/**
 * The mask's tables in tiles of tileQ × tileKv (both views, refined), memoised on the mask per
 * tile shape. The result is shared: treat it as read-only.
 */
export function tileTables(mask: BlockMask, tileQ: number, tileKv: number, options: TileTableOptions = {}): TileTables {
  for (const [name, v] of [['tileQ', tileQ], ['tileKv', tileKv]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ShapeError(`tileTables: ${name} must be a positive integer, got ${v}`);
  }
  const qOffset = options.qOffset ?? 0;
  if (!Number.isInteger(qOffset) || qOffset < 0 || qOffset >= tileQ) {
    throw new ShapeError(`tileTables: qOffset must be an integer in [0, tileQ = ${tileQ}), got ${qOffset}`);
  }
  const [bq, bk] = mask.blockSize;
  // shifted tiles are not the mask's own blocks even where the sizes match
  const refine = (options.refine ?? true) && (tileQ !== bq || tileKv !== bk || qOffset !== 0);
  const batch = mask.B === 1 ? (options.batch ?? 1) : mask.B;
  const heads = mask.H === 1 ? (options.heads ?? 1) : mask.H;
  const shape = qOffset === 0 ? `${tileQ}x${tileKv}` : `${tileQ}x${tileKv} q-${qOffset}`;
  const key = refine ? `${shape} refined over b<${batch} h<${heads}` : shape;
  return memoised(mask, key, refine, () => convert(mask, tileQ, tileKv, qOffset, refine ? intervalOf(mask) : undefined, batch, heads));
}

/**
 * The dense [B, H, qBlocks, kvBlocks] block classes of the mask's own blocks (for kernels that look
 * classes up by position instead of walking lists), memoised like tileTables. Read-only.
 */
export function blockClasses(mask: BlockMask): Uint8Array {
  return memoised(mask, 'classes', false, () => {
    checkBlockMaskTables(mask);
    const planeCells = mask.qBlocks * mask.kvBlocks;
    const out = new Uint8Array(mask.B * mask.H * planeCells);
    for (let p = 0; p < mask.B * mask.H; p++) readTablesPlane(mask, p, out, p * planeCells);
    return out;
  });
}

function intervalOf(mask: BlockMask): CompiledInterval | undefined {
  try {
    return compileMaskInterval(mask.maskMod);
  } catch {
    return undefined; // e.g. no runtime code generation (a CSP without unsafe-eval): keep the unrefined classes
  }
}

function convert(
  mask: BlockMask, tileQ: number, tileKv: number, qOffset: number, interval: CompiledInterval | undefined, batch: number, heads: number,
): TileTables {
  checkBlockMaskTables(mask);
  const [Lq, Lkv] = mask.seqLengths;
  const [bq, bk] = mask.blockSize;
  const { qBlocks, kvBlocks } = mask;
  const qTiles = ceilDiv(Lq + qOffset, tileQ);
  const kvTiles = ceilDiv(Lkv, tileKv);
  // the mask blocks each tile row / column overlaps (inclusive); tiles start `offset` before t·tile
  const span = (tiles: number, tile: number, offset: number, len: number, block: number, blocks: number) => {
    const first = new Int32Array(tiles);
    const last = new Int32Array(tiles);
    for (let t = 0; t < tiles; t++) {
      const [lo, hi] = tileRange(t, tile, offset, len);
      first[t] = Math.floor(lo / block);
      last[t] = Math.min(blocks - 1, Math.floor(hi / block));
    }
    return { first, last };
  };
  const rows = span(qTiles, tileQ, qOffset, Lq, bq, qBlocks);
  const cols = span(kvTiles, tileKv, 0, Lkv, bk, kvBlocks);
  const t = allocateBlockTables(mask.B, mask.H, qTiles, kvTiles);
  const blockPlane = new Uint8Array(qBlocks * kvBlocks);
  const tilePlane = new Uint8Array(qTiles * kvTiles);
  for (let p = 0; p < mask.B * mask.H; p++) {
    readTablesPlane(mask, p, blockPlane, 0);
    for (let qt = 0; qt < qTiles; qt++) {
      for (let kt = 0; kt < kvTiles; kt++) {
        let anyVisible = false;
        let allFull = true;
        for (let qb = rows.first[qt]!; qb <= rows.last[qt]!; qb++) {
          for (let kb = cols.first[kt]!; kb <= cols.last[kt]!; kb++) {
            const c = blockPlane[qb * kvBlocks + kb];
            if (c !== EMPTY) anyVisible = true;
            if (c !== FULL) allFull = false;
          }
        }
        tilePlane[qt * kvTiles + kt] = allFull ? FULL : anyVisible ? PARTIAL : EMPTY;
      }
    }
    if (interval) refinePlane(tilePlane, p, mask, interval, tileQ, tileKv, qOffset, batch, heads);
    writeTablesPlane(t, p, tilePlane, 0);
  }
  return { ...t, tileQ, tileKv, qOffset };
}

/** The first and last index (inclusive) of tile t of `tile` indices starting `offset` before t·tile, clipped to [0, len). */
function tileRange(t: number, tile: number, offset: number, len: number): [number, number] {
  return [Math.max(0, t * tile - offset), Math.min(len, (t + 1) * tile - offset) - 1];
}

/** Sharpens the partial tiles of plane p (see the file comment); the box spans every batch / head a broadcast plane serves. */
function refinePlane(
  tiles: Uint8Array, p: number, mask: BlockMask, interval: CompiledInterval, tileQ: number, tileKv: number, qOffset: number,
  batch: number, heads: number,
): void {
  const [Lq, Lkv] = mask.seqLengths;
  const kvTiles = ceilDiv(Lkv, tileKv);
  const b = Math.floor(p / mask.H);
  const h = p % mask.H;
  const [b0, b1] = mask.B === 1 ? [0, batch - 1] : [b, b];
  const [h0, h1] = mask.H === 1 ? [0, heads - 1] : [h, h];
  for (let i = 0; i < tiles.length; i++) {
    if (tiles[i] !== PARTIAL) continue;
    const qt = Math.floor(i / kvTiles);
    const kt = i % kvTiles;
    const [q0, q1] = tileRange(qt, tileQ, qOffset, Lq);
    const [k0, k1] = tileRange(kt, tileKv, 0, Lkv);
    const code = interval(b0, b1, h0, h1, q0, q1, k0, k1);
    if (code === EMPTY || code === FULL) tiles[i] = code;
  }
}

/** The data fingerprint of each captured tensor when a conversion last read it. */
const seenData = new WeakMap<CapturedTensor, number>();

/**
 * The interval analysis caches value ranges per captured tensor (rebuilding them costs ~10–50 ms
 * for 8192 ids here); data changed in place since a conversion last read it — or never read by one
 * yet, so possibly changed since the ranges were built — makes them stale: those tensors, and only
 * those, are invalidated before refining.
 */
function refreshChangedRanges(mask: BlockMask): void {
  for (const c of mask.maskMod.captures) {
    if (!(c instanceof CapturedTensor)) continue;
    const fp = new Fingerprint().words(c.data).value()[0];
    if (seenData.get(c) !== fp) c.invalidate();
    seenData.set(c, fp);
  }
}

/** A 64-bit running hash (two 32-bit multiplicative lanes) of 32-bit words. */
class Fingerprint {
  private h1 = 0x811c9dc5;
  private h2 = 0x9e3779b9;
  private static readonly f64 = new Float64Array(1);
  private static readonly f64Words = new Int32Array(Fingerprint.f64.buffer);

  add(x: number): this {
    this.h1 = Math.imul(this.h1 ^ x, 0x01000193);
    this.h2 = Math.imul(this.h2 ^ x, 0x5bd1e995);
    this.h2 ^= this.h2 >>> 15;
    return this;
  }

  /** Every element's bits (floats as their bit patterns); `add` inlined by hand: this loop is the per-call cost. */
  words(data: Int32Array | Float32Array): this {
    const w = data instanceof Int32Array ? data : new Int32Array(data.buffer, data.byteOffset, data.length);
    let h1 = this.h1;
    let h2 = this.h2;
    for (let i = 0; i < w.length; i++) {
      h1 = Math.imul(h1 ^ w[i]!, 0x01000193);
      h2 = Math.imul(h2 ^ w[i]!, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    this.h1 = h1;
    this.h2 = h2;
    return this;
  }

  number(x: number): this {
    Fingerprint.f64[0] = x;
    return this.add(Fingerprint.f64Words[0]!).add(Fingerprint.f64Words[1]!);
  }

  value(): [number, number] {
    return [this.h1 >>> 0, this.h2 >>> 0];
  }
}

/** A fingerprint of what tile tables of `mask` depend on (see the file comment). */
function fingerprint(mask: BlockMask, withCaptures: boolean): [number, number] {
  const f = new Fingerprint();
  for (const x of [mask.B, mask.H, mask.qBlocks, mask.kvBlocks, ...mask.seqLengths, ...mask.blockSize]) f.add(x);
  const { kvBlocks } = mask;
  for (const [nums, idx] of [[mask.kvNumBlocks, mask.kvIndices], [mask.fullKvNumBlocks, mask.fullKvIndices]] as const) {
    f.add(0x7fffffff); // separates the partial lists from the full ones
    for (let r = 0; r < nums.length; r++) {
      const n = nums[r]!;
      f.add(n);
      const start = r * kvBlocks;
      for (let i = 0; i < n; i++) f.add(idx[start + i]!);
    }
  }
  if (withCaptures) {
    for (const c of mask.maskMod.captures) {
      if (c instanceof CapturedTensor) f.words(c.data);
      else f.number(c.value);
    }
  }
  return f.value();
}
