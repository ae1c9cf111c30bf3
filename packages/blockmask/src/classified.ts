/**
 * ClassifiedBlockMask: the BlockMask createBlockMask returns — a TableBlockMask (the layout every
 * backend reads) that also remembers how its blocks were classified, so it can follow a growing
 * sequence without a rebuild: `sliceRows` (the rows of a decode step, PyTorch's `bm[:, :, i]`),
 * `sliceRowsPerBatch` (a different position per sequence), `resize` (new lengths, classifying
 * only the blocks that change — PyTorch's `_adjust`, which can only truncate), and `extendKv` (the
 * same growth in place, in time proportional to the new blocks). DecodeSteps (decode-steps.ts)
 * keeps one step mask up to date in place.
 */
import {
  ShapeError, TableBlockMask, argsRead, ceilDiv, tablesFromClasses, validateBlockMaskShape, type BlockMaskShape, type BlockTables, type ScoreMod, type TracedMod,
} from '@flexattn/ir';
import { GrowableTables } from './growable-tables';
import { resizeDense, unchangedBlocks } from './resize';
import { checkRowRange, rowsDense, scratchMap } from './rows';
import { eachPlaneClass, exposedMaskMod, offsetOf, shiftedScoreMod, type MaskSource } from './source';

export class ClassifiedBlockMask extends TableBlockMask {
  /** The base mod (absolute query positions) and the query offsets of a sliced mask. */
  readonly source: MaskSource;
  /** The tables once they can grow in place (after the first extendKv, or given growable). */
  protected growable: GrowableTables | undefined;

  /** `maskMod`: the mod of `source` when the caller has it already (resize keeps its mask's). */
  constructor(tables: BlockTables, shape: BlockMaskShape, source: MaskSource, maskMod: TracedMod = exposedMaskMod(source)) {
    super(tables, shape, maskMod);
    this.source = source;
    this.growable = tables instanceof GrowableTables ? tables : undefined;
  }

  /**
   * Query rows [qStart, qEnd) of every batch, as a mask of qEnd − qStart rows whose mask mod sees
   * the absolute position (q + qStart). Block-aligned starts copy block rows; other starts merge
   * the two block rows each new block straddles (sound, see rows.ts). Typed ShapeError outside
   * [0, qLen). Decode step at position p: `mask.sliceRows(p, p + 1)`.
   */
  sliceRows(qStart: number, qEnd: number): ClassifiedBlockMask {
    checkRowRange('sliceRows', qStart, qEnd, this.seqLengths[0]);
    return this.rowsFrom(new Int32Array(this.B).fill(qStart), qEnd - qStart);
  }

  /**
   * Query rows [qStarts[b], qStarts[b] + qLen) of each batch b — a batched decode step where every
   * sequence is at its own position. The result has B = qStarts.length (this mask's B must be 1 or
   * that); its mask mod sees each batch's absolute position.
   */
  sliceRowsPerBatch(qStarts: ArrayLike<number>, qLen = 1): ClassifiedBlockMask {
    const n = qStarts?.length;
    if (!Number.isInteger(n) || n < 1) throw new ShapeError('sliceRowsPerBatch(qStarts, qLen): qStarts must hold one start per batch');
    if (this.B !== 1 && this.B !== n) throw new ShapeError(`sliceRowsPerBatch: the mask has B=${this.B} but ${n} starts were given; pass one start per batch (or use a mask built with B omitted)`);
    if (this.B === 1 && n > 1 && argsRead(this.source.base).b) {
      throw new ShapeError(`sliceRowsPerBatch: the mask mod reads b but this mask was built for one batch (B: 1), classified at b = 0; build it with B: ${n}`);
    }
    const starts = Int32Array.from(qStarts);
    for (let b = 0; b < n; b++) {
      if (starts[b] !== qStarts[b]) throw new ShapeError(`sliceRowsPerBatch: qStarts[${b}] = ${qStarts[b]} is not a 32-bit integer`);
      checkRowRange(`sliceRowsPerBatch (batch ${b})`, starts[b]!, starts[b]! + qLen, this.seqLengths[0]);
    }
    return this.rowsFrom(starts, qLen);
  }

  /**
   * A score mod that sees the absolute query positions of this mask's rows — q + the slice's start
   * of batch b — as its mask mod does. A decode step's score mod that reads q (ALiBi, relative
   * positions) needs it: the kernel's q is the row within the slice.
   */
  shiftScoreMod(mod: ScoreMod | TracedMod): ScoreMod {
    return shiftedScoreMod(this.source, mod);
  }

  /** Same mod, new lengths: reuses the blocks whose extent is unchanged, classifies the rest. A new mask. */
  resize(qLen: number, kvLen: number): ClassifiedBlockMask {
    const shape = validateBlockMaskShape({ B: this.B, H: this.H, qLen, kvLen, blockSize: this.blockSize });
    const dense = resizeDense(this, this.source, qLen, kvLen);
    const qBlocks = Math.ceil(qLen / this.blockSize[0]);
    const kvBlocks = Math.ceil(kvLen / this.blockSize[1]);
    const { source, maskMod } = this.settled();
    return new ClassifiedBlockMask(tablesFromClasses(dense, this.B, this.H, qBlocks, kvBlocks), shape, source, maskMod);
  }

  /**
   * Grows this mask in place to `kvLen` keys (≥ its kvLen) — a decode loop's new tokens — and
   * returns it. The result equals `resize(qLen, kvLen)` (for masks createBlockMask built:
   * createBlockMask at the new length): only the new kv blocks and the old tail column are
   * classified, and their entries appended. The tables get spare capacity (doubling when it runs
   * out), so a step costs time in proportion to the new blocks, not to kvLen — when the mask has one
   * block row per plane (a decode row); with more rows, each row's entries also move once per
   * changed kvBlocks (the layout's row stride). Bumps `generation` (tile-table caches see it).
   */
  extendKv(kvLen: number): this {
    const [qLen, oldKv] = this.seqLengths;
    validateBlockMaskShape({ B: this.B, H: this.H, qLen, kvLen, blockSize: this.blockSize });
    if (kvLen < oldKv) throw new ShapeError(`extendKv(${kvLen}): the mask has kvLen ${oldKv} already; extendKv only grows (resize(${qLen}, ${kvLen}) makes a shorter copy)`);
    if (kvLen === oldKv) return this;
    const [bq, bk] = this.blockSize;
    const { B, H, qBlocks } = this;
    const kvBlocks = ceilDiv(kvLen, bk);
    const c0 = unchangedBlocks(oldKv, kvLen, bk);
    const width = kvBlocks - c0;
    this.growable ??= GrowableTables.copyOf(this, 2 * kvBlocks);
    const tables = this.growable;
    tables.setKvBlocks(kvBlocks);
    const planeCells = qBlocks * width;
    const dense = scratchMap(B * H * planeCells);
    eachPlaneClass(
      this.source, B, H, { qLen, kvLen, bq, bk, qBlocks, kvBlocks },
      (c, b, h, p) => c.classifyRegion(dense, p * planeCells - c0, b, h, 0, qBlocks, c0, kvBlocks, width),
      (from, p) => dense.copyWithin(p * planeCells, from * planeCells, (from + 1) * planeCells),
    );
    for (let p = 0; p < B * H; p++) tables.rewritePlane(p, c0, dense, p * planeCells, width);
    this.updateInPlace(tables, qLen, kvLen);
    return this;
  }

  /** The source and mask mod a derived mask may keep: this mask's own (a decode step's are copied, since its offsets change). */
  protected settled(): { source: MaskSource; maskMod: TracedMod } {
    return { source: this.source, maskMod: this.maskMod };
  }

  private rowsFrom(starts: Int32Array, qLen: number): ClassifiedBlockMask {
    const B = starts.length;
    const dense = rowsDense(this, starts, qLen);
    // Offsets compose: rows of a slice are rows of the base mod further on.
    const qOffsets = Int32Array.from(starts, (s, b) => s + offsetOf(this.source, this.B === 1 ? 0 : b));
    const unshifted = !this.source.qOffsets && qOffsets.every((x) => x === 0);
    const source: MaskSource = unshifted ? this.source : { base: this.source.base, qOffsets };
    const shape = { B, H: this.H, qLen, kvLen: this.seqLengths[1], blockSize: this.blockSize };
    const tables = tablesFromClasses(dense, B, this.H, Math.ceil(qLen / this.blockSize[0]), this.kvBlocks);
    return new ClassifiedBlockMask(tables, shape, source, unshifted ? this.maskMod : exposedMaskMod(source));
  }
}
