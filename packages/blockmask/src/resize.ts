/**
 * BlockMask.resize (PyTorch's `_adjust`, which only truncates, here also growing): the block map
 * at new lengths, reusing every block whose element extent is unchanged and classifying only the
 * rest — blocks the new lengths add, and the old or new tail row/column whose extent moved (a tail
 * block that grows may gain masked or visible elements; one that shrinks may become uniform). The
 * result equals createBlockMask at the new lengths for masks createBlockMask built.
 */
import { allocateKvMajor, ceilDiv, type BlockMask, type KvMajorTables } from '@flexattn/ir';
import { appendClasses, type RowCopier } from './list-rows';
import { readRow, scratchCells, scratchMap } from './rows';
import { eachPlaneClass, type GridShape, type MaskSource } from './source';

/** How many leading blocks keep their extent when a length changes from `from` to `to`. */
export function unchangedBlocks(from: number, to: number, block: number): number {
  const common = Math.min(ceilDiv(from, block), ceilDiv(to, block));
  if (common === 0) return 0;
  const end = common * block;
  return Math.min(end, from) === Math.min(end, to) ? common : common - 1;
}

export function resizeDense(mask: BlockMask, source: MaskSource, qLen: number, kvLen: number): Uint8Array {
  const [bq, bk] = mask.blockSize;
  const [oldQ, oldKv] = mask.seqLengths;
  const { B, H } = mask;
  const g: GridShape = { qLen, kvLen, bq, bk, qBlocks: ceilDiv(qLen, bq), kvBlocks: ceilDiv(kvLen, bk) };
  const { qBlocks, kvBlocks } = g;
  const keepRows = unchangedBlocks(oldQ, qLen, bq);
  const keepCols = unchangedBlocks(oldKv, kvLen, bk);
  const planeCells = qBlocks * kvBlocks;
  const dense = scratchMap(B * H * planeCells);
  for (let p = 0; p < B * H; p++) for (let rb = 0; rb < keepRows; rb++) readRow(mask, p, rb, dense, p * planeCells + rb * kvBlocks, keepCols);
  eachPlaneClass(
    source, B, H, g,
    (c, b, h, p) => {
      c.classifyRegion(dense, p * planeCells, b, h, 0, keepRows, keepCols, kvBlocks);
      c.classifyRegion(dense, p * planeCells, b, h, keepRows, qBlocks, 0, kvBlocks);
    },
    (from, p) => copyRegion(dense, from * planeCells, p * planeCells, kvBlocks, keepRows, qBlocks, keepCols),
  );
  return dense;
}

/** Copies the classified region (kept rows' new columns, then every column of new rows) between planes. */
function copyRegion(dense: Uint8Array, from: number, to: number, kvBlocks: number, keepRows: number, qBlocks: number, keepCols: number): void {
  for (let rb = 0; rb < keepRows; rb++) dense.copyWithin(to + rb * kvBlocks + keepCols, from + rb * kvBlocks + keepCols, from + (rb + 1) * kvBlocks);
  dense.copyWithin(to + keepRows * kvBlocks, from + keepRows * kvBlocks, from + qBlocks * kvBlocks);
}

/**
 * resize when only kvLen changes (a decode step's `resize(1, p + 1)` of its row), as kv-major tables
 * straight from the mask's lists (the q-major view is built when read, classified.ts): each row keeps its entries below the unchanged columns (a prefix of the
 * ascending list) and appends the classes of the columns after them — new blocks and the moved tail
 * — classified as resizeDense would. Equal to resizeDense at the same lengths, without filling and
 * reading a map of every block. `copyRow` reads the mask's rows (from its tables, or from the lists a
 * slice keeps until its tables are read).
 */
export function resizeKvByLists(mask: BlockMask, source: MaskSource, kvLen: number, copyRow: RowCopier): KvMajorTables {
  const [bq, bk] = mask.blockSize;
  const [qLen, oldKv] = mask.seqLengths;
  const { B, H, qBlocks } = mask;
  const kvBlocks = ceilDiv(kvLen, bk);
  const keep = unchangedBlocks(oldKv, kvLen, bk);
  const width = kvBlocks - keep;
  const planeCells = qBlocks * width;
  const classes = scratchCells(B * H * planeCells);
  eachPlaneClass(
    source, B, H, { qLen, kvLen, bq, bk, qBlocks, kvBlocks },
    (c, b, h, p) => c.classifyRegion(classes, p * planeCells - keep, b, h, 0, qBlocks, keep, kvBlocks, width),
    (from, p) => classes.copyWithin(p * planeCells, from * planeCells, (from + 1) * planeCells),
  );
  const t = allocateKvMajor(B, H, qBlocks, kvBlocks);
  for (let p = 0; p < B * H; p++) {
    for (let qb = 0; qb < qBlocks; qb++) {
      const row = p * qBlocks + qb;
      copyRow(row, t, row, keep);
      appendClasses(t, row, classes, p * planeCells + qb * width, keep, width);
    }
  }
  return t;
}
