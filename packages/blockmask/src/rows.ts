/**
 * Rows of a BlockMask for decoding (PyTorch's `bm[:, :, i]`), straight from its kv-major tables: no
 * classification, no dense map of the whole mask — time proportional to the rows taken.
 *
 * A start that is a multiple of the query block size copies block rows as they are. Any other start
 * makes each new block row straddle two source rows; it takes their union (full where both are
 * full, empty where both are empty, partial otherwise). That is sound because a block's class holds
 * for every subset of its rows (a full block is full on any of its rows, an empty one empty) and a
 * partial block evaluates the mask — which sees the absolute query position (source.ts) — per
 * element. It may only be looser than a fresh build (a block partial for the source rows may be
 * full on the rows taken): never a wrong answer, at most some mask evaluations.
 */
import { EMPTY, FULL, PARTIAL, ShapeError, ceilDiv, type BlockMask, type BlockTables } from '@flexattn/ir';

const SCRATCH_CELLS = 1 << 16;
const scratch = new Uint8Array(SCRATCH_CELLS);
/**
 * A zeroed block map of `cells` bytes, reused between calls when small: a decode step builds a
 * mask every token, its map lives only until the tables are filled, and at that size allocations
 * dominate. Larger maps are allocated (and not kept).
 */
export function scratchMap(cells: number): Uint8Array {
  if (cells > SCRATCH_CELLS) return new Uint8Array(cells);
  const map = scratch.subarray(0, cells);
  map.fill(EMPTY);
  return map;
}

/**
 * Like scratchMap, without the view: the shared scratch itself (or a new array when larger), zeroed
 * over [0, cells). For the hot path of a decode step, where subarray() costs as much as the fill.
 */
export function scratchCells(cells: number): Uint8Array {
  if (cells > SCRATCH_CELLS) return new Uint8Array(cells);
  scratch.fill(EMPTY, 0, cells);
  return scratch;
}

/** Marks row `row` of plane `plane` of `t` into out[at .. at + limit) (blocks ≥ limit ignored). */
export function readRow(t: BlockTables, plane: number, row: number, out: Uint8Array, at: number, limit = t.kvBlocks): void {
  const r = plane * t.qBlocks + row;
  const base = r * t.kvBlocks;
  for (let i = 0, n = t.kvNumBlocks[r]!; i < n; i++) {
    const kb = t.kvIndices[base + i]!;
    if (kb < limit) out[at + kb] = PARTIAL;
  }
  for (let i = 0, n = t.fullKvNumBlocks[r]!; i < n; i++) {
    const kb = t.fullKvIndices[base + i]!;
    if (kb < limit) out[at + kb] = FULL;
  }
}

/** Checks the query range of a slice: integers with 0 ≤ start < end ≤ qLen (typed errors). */
export function checkRowRange(what: string, start: number, end: number, qLen: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(end)) throw new ShapeError(`${what}: query rows must be integers, got [${start}, ${end})`);
  if (start < 0 || end > qLen || start >= end) {
    throw new ShapeError(`${what}: query rows [${start}, ${end}) are outside the mask's [0, ${qLen}); need 0 ≤ start < end ≤ ${qLen} (resize the mask first to reach later rows)`);
  }
}

/**
 * The dense block map [starts.length, H, ceil(qLen / bq), kvBlocks] of query rows
 * [starts[b], starts[b] + qLen) of each batch b (read from plane b of the mask, or 0 when it
 * broadcasts over the batch).
 */
export function rowsDense(mask: BlockMask, starts: Int32Array, qLen: number): Uint8Array {
  const [bq] = mask.blockSize;
  const { H, qBlocks, kvBlocks } = mask;
  const outRows = ceilDiv(qLen, bq);
  const dense = scratchMap(starts.length * H * outRows * kvBlocks);
  let other: Uint8Array | undefined;
  for (let b = 0; b < starts.length; b++) {
    const srcB = mask.B === 1 ? 0 : b;
    for (let h = 0; h < H; h++) {
      const plane = srcB * H + h;
      for (let rb = 0; rb < outRows; rb++) {
        const first = starts[b]! + rb * bq;
        const last = Math.min(starts[b]! + qLen, first + bq) - 1;
        const s0 = Math.floor(first / bq);
        const s1 = Math.floor(last / bq);
        const at = ((b * H + h) * outRows + rb) * kvBlocks;
        readRow(mask, plane, s0, dense, at);
        if (s1 === s0 || s1 >= qBlocks) continue;
        other ??= new Uint8Array(kvBlocks);
        other.fill(EMPTY);
        readRow(mask, plane, s1, other, 0);
        for (let kb = 0; kb < kvBlocks; kb++) if (dense[at + kb] !== other[kb]) dense[at + kb] = PARTIAL;
      }
    }
  }
  return dense;
}
