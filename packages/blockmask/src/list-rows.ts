/**
 * BlockMask tables copied list by list from another mask's kv-major rows, without a block map in
 * between: the rows of a slice that each lie in one block row of the source (a decode step's one
 * row, or a block-aligned start: kept as lists until its tables are read, classified.ts), and a
 * resize that changes only kvLen (the columns it keeps are a prefix of every row's list). The work
 * is in proportion to the blocks listed — a sliding window's row lists a few of the 256 blocks at
 * L = 32k — and the q-major view is their transpose (built when read, classified.ts): nothing is
 * classified again and no map of the whole row is filled and read.
 *
 * Relies on the lists of a ClassifiedBlockMask being ascending, which every writer of its tables
 * keeps (writeTablesPlane, GrowableTables).
 */
import { allocateKvMajor, ceilDiv, FULL, PARTIAL, type BlockGrid, type KvMajorTables } from '@flexattn/ir';

/** Copies the entries of a row below kv block `limit` into row `dstRow` of `dst` (setting its counts). */
export type RowCopier = (srcRow: number, dst: KvMajorTables, dstRow: number, limit: number) => void;

/** Copies the entries of row `srcRow` of `src` below kv block `limit` into row `dstRow` of `dst` (setting its counts). */
export function copyRow(src: KvMajorTables, srcRow: number, dst: KvMajorTables, dstRow: number, limit: number): void {
  const from = srcRow * src.kvBlocks;
  const to = dstRow * dst.kvBlocks;
  dst.kvNumBlocks[dstRow] = copyBelow(src.kvIndices, from, src.kvNumBlocks[srcRow]!, dst.kvIndices, to, limit);
  dst.fullKvNumBlocks[dstRow] = copyBelow(src.fullKvIndices, from, src.fullKvNumBlocks[srcRow]!, dst.fullKvIndices, to, limit);
}

/** Lists at least this long are copied by TypedArray#set (a memmove) rather than element by element. */
const BULK_COPY = 24;

/**
 * Copies the entries of the ascending list src[from, from + n) that are below `limit` to out[to ..);
 * returns how many. The cut only drops a tail, found from the end (a decode step's cut drops at most
 * a block or two). A long list goes by `set` — a builtin, as fast before the JIT has optimised this
 * code as after, where a loop runs in the interpreter for a decode loop's first few hundred steps.
 */
function copyBelow(src: Int32Array, from: number, n: number, out: Int32Array, to: number, limit: number): number {
  let kept = n;
  while (kept > 0 && src[from + kept - 1]! >= limit) kept--;
  if (kept >= BULK_COPY) out.set(src.subarray(from, from + kept), to);
  else for (let i = 0; i < kept; i++) out[to + i] = src[from + i]!;
  return kept;
}

/** Appends columns [c0, c0 + width) of row `row` of `t`, their classes at classes[offset ..), to its lists. */
export function appendClasses(t: KvMajorTables, row: number, classes: Uint8Array, offset: number, c0: number, width: number): void {
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
 * A slice's rows copied from its source: per row of the slice (plane-major), its partial and its full
 * kv blocks as runs of consecutive blocks, flat [start, end) pairs, ascending. Runs, since a
 * structured mask's row is a few of them (causal: its full blocks are one run) however many blocks it
 * lists; plain arrays, since a young-generation allocation costs far less than a typed array's
 * backing store, and a decode step's row slice is usually only resized, never read.
 */
export interface RowLists {
  partial: number[][];
  full: number[][];
}

/**
 * The runs of the ascending, distinct entries [from, from + n) of `src`, as flat [start, end) pairs.
 * A stretch whose last entry is its first plus its length − 1 is one run, checked in O(1), so a row
 * of a few runs costs O(runs · log n) however many blocks it lists (causal: one run of full blocks).
 */
function runsOf(src: Int32Array, from: number, n: number): number[] {
  const runs: number[] = [];
  const split = (i: number, j: number): void => {
    // entries [i, j), j > i
    if (src[from + j - 1]! - src[from + i]! === j - 1 - i) {
      const last = runs.length;
      // join a run that ends where this one starts (a split may cut one run in two)
      if (last > 0 && runs[last - 1] === src[from + i]) runs[last - 1] = src[from + j - 1]! + 1;
      else runs.push(src[from + i]!, src[from + j - 1]! + 1);
      return;
    }
    const mid = (i + j) >>> 1;
    split(i, mid);
    split(mid, j);
  };
  if (n > 0) split(0, n);
  return runs;
}

/**
 * The lists of query rows [starts[b], starts[b] + qLen) of each batch b of `mask` (plane b, or 0
 * when the mask broadcasts over the batch), when every slice passes withinSourceRows.
 */
export function sliceRowLists(mask: KvMajorTables & { blockSize: [number, number] }, starts: Int32Array, qLen: number): RowLists {
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
        lists.partial.push(runsOf(mask.kvIndices, r * kvBlocks, mask.kvNumBlocks[r]!));
        lists.full.push(runsOf(mask.fullKvIndices, r * kvBlocks, mask.fullKvNumBlocks[r]!));
      }
    }
  }
  return lists;
}

/** Like copyRow, from row `row` of `lists`. */
export function copyListRow(lists: RowLists, row: number, dst: KvMajorTables, dstRow: number, limit: number): void {
  const to = dstRow * dst.kvBlocks;
  dst.kvNumBlocks[dstRow] = expandRuns(lists.partial[row]!, dst.kvIndices, to, limit);
  dst.fullKvNumBlocks[dstRow] = expandRuns(lists.full[row]!, dst.fullKvIndices, to, limit);
}

/** The rows of a slice as a RowCopier over `lists` (a snapshot of them, see sliceRowLists). */
export const listRowCopier = (lists: RowLists): RowCopier => (row, dst, dstRow, limit) => copyListRow(lists, row, dst, dstRow, limit);

/**
 * The rows [starts[b], starts[b] + qLen) of each batch b of `tables` (plane b, or 0 when they
 * broadcast over the batch; every slice passes withinSourceRows) as a RowCopier that reads them
 * straight from those tables when asked: nothing is copied until the slice is resized or read.
 * Only for tables nothing writes again (a mask whose tables cannot grow in place: extendKv copies
 * such tables before it grows them, and re-points the mask, not these arrays), since the copier
 * keeps the arrays, not the mask.
 */
export function sourceRowCopier(tables: KvMajorTables, bq: number, starts: Int32Array, qLen: number): RowCopier {
  const { B, H, qBlocks: srcRows } = tables;
  const src: KvMajorTables = { B, H, qBlocks: srcRows, kvBlocks: tables.kvBlocks, kvNumBlocks: tables.kvNumBlocks, kvIndices: tables.kvIndices, fullKvNumBlocks: tables.fullKvNumBlocks, fullKvIndices: tables.fullKvIndices };
  const rows = ceilDiv(qLen, bq);
  return (row, dst, dstRow, limit) => {
    // row = (b·H + h)·rows + rb of the slice → the same block row of b's plane in the source
    const plane = Math.floor(row / rows);
    const b = Math.floor(plane / H);
    const srcRow = ((B === 1 ? 0 : b) * H + (plane - b * H)) * srcRows + Math.floor(starts[b]! / bq) + (row - plane * rows);
    copyRow(src, srcRow, dst, dstRow, limit);
  };
}

/** Writes the blocks of `runs` below `limit` to out[to ..); returns how many. */
function expandRuns(runs: number[], out: Int32Array, to: number, limit: number): number {
  let n = 0;
  for (let i = 0; i < runs.length; i += 2) {
    const end = Math.min(runs[i + 1]!, limit);
    for (let kb = runs[i]!; kb < end; kb++) out[to + n++] = kb;
    if (end < runs[i + 1]!) break;
  }
  return n;
}

/** The kv-major tables of `grid` whose rows `copyRows` writes (one per row of every plane). */
export function kvMajorFromRows(copyRows: RowCopier, grid: BlockGrid): KvMajorTables {
  const { B, H, qBlocks, kvBlocks } = grid;
  const t = allocateKvMajor(B, H, qBlocks, kvBlocks);
  for (let row = 0; row < B * H * qBlocks; row++) copyRows(row, t, row, kvBlocks);
  return t;
}
