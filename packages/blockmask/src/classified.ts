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
  ShapeError, TableBlockMask, argsRead, ceilDiv, qMajorOf, tablesFromClasses, validateBlockMaskShape, type BlockGrid, type BlockMaskShape, type BlockTables, type KvMajorTables, type ScoreMod, type TracedMod,
} from '@flexattn/ir';
import { GrowableTables } from './growable-tables';
import { copyRow, kvMajorFromRows, listRowCopier, sliceRowLists, sourceRowCopier, withinSourceRows, type RowCopier } from './list-rows';
import { resizeDense, resizeKvByLists, unchangedBlocks } from './resize';
import { checkRowRange, rowsDense, scratchMap } from './rows';
import { eachPlaneClass, exposedMaskMod, offsetOf, shiftedScoreMod, type MaskSource } from './source';

export class ClassifiedBlockMask extends TableBlockMask {
  /** The base mod (absolute query positions) and the query offsets of a sliced mask. */
  readonly source: MaskSource;
  /** The tables once they can grow in place (after the first extendKv, or given growable). */
  protected growable: GrowableTables | undefined;

  /** `maskMod`: the mod of `source` when the caller has it already (resize keeps its mask's). */
  constructor(tables: BlockTables | KvMajorTables | BlockGrid, shape: BlockMaskShape, source: MaskSource, maskMod: TracedMod = exposedMaskMod(source)) {
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
    // Only kv changes (a decode step's row cut at p + 1): copy the kept entries of the lists as they are.
    const { source, maskMod } = this.settled();
    if (qLen === this.seqLengths[0]) {
      const kvMajor = resizeKvByLists(this, this.source, kvLen, (row, dst, dstRow, limit) => this.copyRowInto(row, dst, dstRow, limit));
      return new QMajorOnRead(kvMajor, shape, source, maskMod);
    }
    const dense = resizeDense(this, this.source, qLen, kvLen);
    return new ClassifiedBlockMask(tablesFromClasses(dense, this.B, this.H, ceilDiv(qLen, this.blockSize[0]), ceilDiv(kvLen, this.blockSize[1])), shape, source, maskMod);
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

  /** Copies row `row`'s entries below kv block `limit` into row `dstRow` of `dst` (see list-rows.ts). */
  protected copyRowInto(row: number, dst: KvMajorTables, dstRow: number, limit: number): void {
    copyRow(this, row, dst, dstRow, limit);
  }

  /** The source and mask mod a derived mask may keep: this mask's own (a decode step's are copied, since its offsets change). */
  protected settled(): { source: MaskSource; maskMod: TracedMod } {
    return { source: this.source, maskMod: this.maskMod };
  }

  private rowsFrom(starts: Int32Array, qLen: number): ClassifiedBlockMask {
    const B = starts.length;
    const bq = this.blockSize[0];
    // Offsets compose: rows of a slice are rows of the base mod further on.
    const qOffsets = new Int32Array(B);
    let unshifted = !this.source.qOffsets;
    for (let b = 0; b < B; b++) {
      qOffsets[b] = starts[b]! + offsetOf(this.source, this.B === 1 ? 0 : b);
      if (qOffsets[b] !== 0) unshifted = false;
    }
    const source: MaskSource = unshifted ? this.source : { base: this.source.base, qOffsets };
    const maskMod = unshifted ? this.maskMod : exposedMaskMod(source);
    const shape = { B, H: this.H, qLen, kvLen: this.seqLengths[1], blockSize: this.blockSize };
    const grid = { B, H: this.H, qBlocks: ceilDiv(qLen, bq), kvBlocks: this.kvBlocks };
    // Rows that each lie in one block row of this mask (a decode step's row): tables on first read,
    // from this mask's tables when nothing writes them again, else from a copy of the rows' lists
    // (tables that grow in place move and rewrite their rows).
    let within = true;
    for (let b = 0; b < B; b++) within &&= withinSourceRows(starts[b]!, qLen, bq);
    if (within) {
      const rows = this.growable ? listRowCopier(sliceRowLists(this, starts, qLen)) : sourceRowCopier(this, bq, starts, qLen);
      return new DeferredSlice(rows, grid, shape, source, maskMod);
    }
    const tables = tablesFromClasses(rowsDense(this, starts, qLen), B, this.H, grid.qBlocks, grid.kvBlocks);
    return new ClassifiedBlockMask(tables, shape, source, maskMod);
  }
}

/**
 * Defines accessors for the views `names` on `proto`: reading one runs `build`, which must make each
 * of them an own property of the mask (as in other masks: data properties that shadow these), and
 * writing one (setViews, updateInPlace) makes it an own property.
 */
function viewsBuiltOnRead<T extends TableBlockMask>(proto: T, names: readonly (keyof BlockTables)[], build: (mask: T) => void): void {
  for (const name of names) {
    Object.defineProperty(proto, name, {
      configurable: true,
      get(this: T): unknown {
        build(this);
        if (!Object.hasOwn(this, name)) throw new Error(`${name} was not built (internal error)`);
        return this[name];
      },
      set(this: T, value: Int32Array) {
        Object.defineProperty(this, name, { value, writable: true, enumerable: true, configurable: true });
      },
    });
  }
}

/**
 * A mask given its kv-major view (what forward and decode kernels read) that builds the q-major one
 * (backward kernels that own a kv block) when it is first read: the result of a kv-only resize, such
 * as a decode step's `resize(1, p + 1)`. A typed array's backing store costs more than the rest of
 * such a step, so it allocates only what the step's kernels read.
 */
class QMajorOnRead extends ClassifiedBlockMask {
  static {
    viewsBuiltOnRead(QMajorOnRead.prototype, ['qNumBlocks', 'qIndices', 'fullQNumBlocks', 'fullQIndices'], (mask) => {
      const kv = { B: mask.B, H: mask.H, qBlocks: mask.qBlocks, kvBlocks: mask.kvBlocks, kvNumBlocks: mask.kvNumBlocks, kvIndices: mask.kvIndices, fullKvNumBlocks: mask.fullKvNumBlocks, fullKvIndices: mask.fullKvIndices };
      mask.setViews({ ...kv, ...qMajorOf(kv) });
    });
  }
}

/**
 * A row slice whose rows each lie in one block row of its source: it keeps a way to read them — the
 * source's tables when nothing writes them again, else a copy of the rows' lists (the source may grow
 * in place later) — and builds its views when one is first read. A decode step's
 * `sliceRows(p, p + 1)` is usually only resized, and resize copies its rows straight into the
 * step's tables. Reading a view (kernels, `toDense`, `extendKv`) makes them own properties, as in
 * other masks; a spread (`{ ...slice }`) before any read copies none of them.
 */
class DeferredSlice extends QMajorOnRead {
  #rows: RowCopier | undefined;

  constructor(rows: RowCopier, grid: BlockGrid, shape: BlockMaskShape, source: MaskSource, maskMod: TracedMod) {
    super(grid, shape, source, maskMod);
    this.#rows = rows;
  }

  protected override copyRowInto(row: number, dst: KvMajorTables, dstRow: number, limit: number): void {
    if (this.#rows) this.#rows(row, dst, dstRow, limit);
    else super.copyRowInto(row, dst, dstRow, limit);
  }

  static {
    viewsBuiltOnRead(DeferredSlice.prototype, ['kvNumBlocks', 'kvIndices', 'fullKvNumBlocks', 'fullKvIndices'], (mask) => {
      const rows = mask.#rows;
      if (!rows) throw new Error('DeferredSlice: its kv-major view is built once (internal error)');
      mask.#rows = undefined;
      mask.setViews(kvMajorFromRows(rows, mask));
    });
  }
}
