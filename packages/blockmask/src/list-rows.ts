/**
 * BlockMask tables copied list by list from another mask's kv-major rows, without a block map in
 * between: the rows of a slice that each lie in one block row of the source (a decode step's one
 * row, or a block-aligned start: kept as lists until its tables are read, classified.ts), and a
 * resize that changes only kvLen (the columns it keeps are a prefix of every row's list). The work
 * is in proportion to the blocks listed — a sliding window's row lists a few of the 256 blocks at
 * L = 32k — and the q-major view is their transpose (writeQMajorPlane): nothing is classified again
 * and no map of the whole row is filled and read.
 *
 * Relies on the lists of a ClassifiedBlockMask being ascending, which every writer of its tables
 * keeps (writeTablesPlane, GrowableTables).
 */
import { allocateBlockTables, ceilDiv, writeQMajorPlane, FULL, PARTIAL, type BlockGrid, type BlockTables, type PackedBlockTables } from '@flexattn/ir';

/** Copies the entries of a row below kv block `limit` into row `dstRow` of `dst` (setting its counts). */
export type RowCopier = (srcRow: number, dst: BlockTables, dstRow: number, limit: number) => void;

/** Copies the entries of row `srcRow` of `src` below kv block `limit` into row `dstRow` of `dst` (setting its counts). */
export function copyRow(src: BlockTables, srcRow: number, dst: BlockTables, dstRow: number, limit: number): void {
  const from = srcRow * src.kvBlocks;
  const to = dstRow * dst.kvBlocks;
  let n = 0;
  for (const m = src.kvNumBlocks[srcRow]!; n < m && src.kvIndices[from + n]! < limit; n++) dst.kvIndices[to + n] = src.kvIndices[from + n]!;
  dst.kvNumBlocks[dstRow] = n;
  let f = 0;
  for (const m = src.fullKvNumBlocks[srcRow]!; f < m && src.fullKvIndices[from + f]! < limit; f++) dst.fullKvIndices[to + f] = src.fullKvIndices[from + f]!;
  dst.fullKvNumBlocks[dstRow] = f;
}

/** Appends columns [c0, c0 + width) of row `row` of `t`, their classes at classes[offset ..), to its lists. */
export function appendClasses(t: BlockTables, row: number, classes: Uint8Array, offset: number, c0: number, width: number): void {
  const lists = row * t.kvBlocks;
  let n = t.kvNumBlocks[row]!;
  let f = t.fullKvNumBlocks[row]!;
  for (let i = 0; i < width; i++) {
    const c = classes[offset + i]!;
    if (c === PARTIAL) t.kvIndices[lists + n++] = c0 + i;
    else if (c === FULL) t.fullKvIndices[lists + f++] = c0 + i;
  }
  t.kvNumBlocks[row] = n;
  t.fullKvNumBlocks[row] = f;
}

/**
 * Whether every block row of the slice [start, start + qLen) lies in one block row of its source
 * (block size bq): a block-aligned start, or rows that end before the next block boundary.
 */
export const withinSourceRows = (start: number, qLen: number, bq: number): boolean => start % bq === 0 || (start % bq) + qLen <= bq;

/**
 * A slice's rows as lists copied from its source: per row of the slice (plane-major), its partial and
 * its full kv blocks, ascending. Plain arrays: a young-generation allocation costs far less than a
 * typed array's backing store, and a decode step's row slice is usually only resized, never read.
 */
export interface RowLists {
  partial: number[][];
  full: number[][];
}

/** Copies entries [from, from + n) of `src` into a plain array. */
function listOf(src: Int32Array, from: number, n: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = src[from + i]!;
  return out;
}

/**
 * The lists of query rows [starts[b], starts[b] + qLen) of each batch b of `mask` (plane b, or 0
 * when the mask broadcasts over the batch), when every slice passes withinSourceRows.
 */
export function sliceRowLists(mask: BlockTables & { blockSize: [number, number] }, starts: Int32Array, qLen: number): RowLists {
  const bq = mask.blockSize[0];
  const { H, qBlocks: srcRows, kvBlocks } = mask;
  const rows = ceilDiv(qLen, bq);
  const lists: RowLists = { partial: [], full: [] };
  for (let b = 0; b < starts.length; b++) {
    const srcPlane0 = (mask.B === 1 ? 0 : b) * H;
    const firstRow = Math.floor(starts[b]! / bq);
    for (let h = 0; h < H; h++) {
      for (let rb = 0; rb < rows; rb++) {
        const r = (srcPlane0 + h) * srcRows + firstRow + rb;
        lists.partial.push(listOf(mask.kvIndices, r * kvBlocks, mask.kvNumBlocks[r]!));
        lists.full.push(listOf(mask.fullKvIndices, r * kvBlocks, mask.fullKvNumBlocks[r]!));
      }
    }
  }
  return lists;
}

/** Like copyRow, from row `row` of `lists`. */
export function copyListRow(lists: RowLists, row: number, dst: BlockTables, dstRow: number, limit: number): void {
  const to = dstRow * dst.kvBlocks;
  const partial = lists.partial[row]!;
  let n = 0;
  for (; n < partial.length && partial[n]! < limit; n++) dst.kvIndices[to + n] = partial[n]!;
  dst.kvNumBlocks[dstRow] = n;
  const full = lists.full[row]!;
  let f = 0;
  for (; f < full.length && full[f]! < limit; f++) dst.fullKvIndices[to + f] = full[f]!;
  dst.fullKvNumBlocks[dstRow] = f;
}

/** The tables of `grid` whose rows are `lists` (one per row of every plane). */
export function tablesFromRowLists(lists: RowLists, grid: BlockGrid): PackedBlockTables {
  const { B, H, qBlocks, kvBlocks } = grid;
  const t = allocateBlockTables(B, H, qBlocks, kvBlocks);
  for (let p = 0; p < B * H; p++) {
    for (let qb = 0; qb < qBlocks; qb++) copyListRow(lists, p * qBlocks + qb, t, p * qBlocks + qb, kvBlocks);
    writeQMajorPlane(t, p);
  }
  return t;
}
