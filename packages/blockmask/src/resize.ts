/**
 * BlockMask.resize (PyTorch's `_adjust`, which only truncates, here also growing): the block map
 * at new lengths, reusing every block whose element extent is unchanged and classifying only the
 * rest — blocks the new lengths add, and the old or new tail row/column whose extent moved (a tail
 * block that grows may gain masked or visible elements; one that shrinks may become uniform). The
 * result equals createBlockMask at the new lengths for masks createBlockMask built.
 */
import { ceilDiv, type BlockMask } from '@flexattn/ir';
import { readRow, scratchMap } from './rows';
import { classifierFor, dependsOnBatch, dependsOnHead, type GridShape, type MaskSource } from './source';

/** How many leading blocks keep their extent when a length changes from `from` to `to`. */
function unchangedBlocks(from: number, to: number, block: number): number {
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
  const byBatch = dependsOnBatch(source);
  const byHead = dependsOnHead(source);
  const classifiers = new Map<number, ReturnType<typeof classifierFor>>();
  /** Plane index already classified for a (batch, head) class, to copy from. */
  const classified = new Map<string, number>();

  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const p = b * H + h;
      const base = p * planeCells;
      for (let rb = 0; rb < keepRows; rb++) readRow(mask, p, rb, dense, base + rb * kvBlocks, keepCols);
      const key = `${byBatch ? b : '*'}|${byHead ? h : '*'}`;
      const from = classified.get(key);
      if (from !== undefined) {
        copyRegion(dense, from * planeCells, base, kvBlocks, keepRows, qBlocks, keepCols);
        continue;
      }
      classified.set(key, p);
      let c = classifiers.get(b);
      if (!c) classifiers.set(b, (c = classifierFor(source, b, g)));
      c.classifyRegion(dense, base, b, h, 0, keepRows, keepCols, kvBlocks);
      c.classifyRegion(dense, base, b, h, keepRows, qBlocks, 0, kvBlocks);
    }
  }
  return dense;
}

/** Copies the classified region (kept rows' new columns, then every column of new rows) between planes. */
function copyRegion(dense: Uint8Array, from: number, to: number, kvBlocks: number, keepRows: number, qBlocks: number, keepCols: number): void {
  for (let rb = 0; rb < keepRows; rb++) dense.copyWithin(to + rb * kvBlocks + keepCols, from + rb * kvBlocks + keepCols, from + (rb + 1) * kvBlocks);
  dense.copyWithin(to + keepRows * kvBlocks, from + keepRows * kvBlocks, from + qBlocks * kvBlocks);
}
