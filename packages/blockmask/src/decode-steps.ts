/**
 * DecodeSteps: the BlockMask of one decode step after another, kept up to date in place.
 *
 * `steps.at(p)` is block for block `master.sliceRows(p, p + 1).resize(1, p + 1)` — the query at
 * position p over keys 0..p — and `steps.at(positions, kvLen)` is
 * `master.sliceRowsPerBatch(positions).resize(1, kvLen)`; property tests hold them equal. But where
 * those build two masks per step, this updates one:
 *
 * - the row's classes come from the master's block row, read once per block row (every bq steps),
 *   since every row of a block row has the same (sliceRows semantics: sound, at most looser);
 * - the positions live in the captured offsets of one traced mask mod, written in place: the kernel
 *   hash never changes and nothing is traced;
 * - only the tail kv block, whose extent is cut at kvLen, is classified for the step's own row (one
 *   interval-analysis call, rarely a few evaluations), and only columns that change are rewritten —
 *   the tail, plus the new block when kvLen crosses a block boundary (growable-tables.ts, with the
 *   master's kv length as capacity: no allocation after the first step).
 *
 * The returned mask is the same object every step, valid until the next `at`; derived masks
 * (`resize`, `sliceRows`) copy what they need. A score mod that reads q takes the step's absolute
 * positions from `mask.shiftScoreMod(mod)`, which follows the steps.
 */
import { CapturedTensor, ShapeError, argsRead, ceilDiv, type BlockMaskShape, type TracedMod } from '@flexattn/ir';
import { ClassifiedBlockMask } from './classified';
import { PlaneClassifier } from './classify';
import { compileMask } from './compiled';
import { GrowableTables } from './growable-tables';
import { unchangedBlocks } from './resize';
import { readRow } from './rows';
import { exposedMaskMod, offsetOf, type MaskSource } from './source';

/** The step mask: a ClassifiedBlockMask whose tables and lengths DecodeSteps updates in place. */
class StepMask extends ClassifiedBlockMask {
  update(tables: GrowableTables, kvLen: number): void {
    this.updateInPlace(tables, 1, kvLen);
  }

  /** Masks derived from a step keep a copy of its offsets, not the live ones. */
  protected override settled(): { source: MaskSource; maskMod: TracedMod } {
    const source: MaskSource = { base: this.source.base, qOffsets: this.source.qOffsets!.slice() };
    return { source, maskMod: exposedMaskMod(source) };
  }
}

export interface DecodeStepsOptions {
  /** Sequences per step (the step mask's B); default the master's B. */
  batch?: number;
}

export class DecodeSteps {
  /** Sequences per step: the step mask's B. */
  readonly batch: number;
  private readonly master: ClassifiedBlockMask;
  private readonly H: number;
  /** Absolute query position of each batch (the base mod's q): the captured offsets, written in place. */
  private readonly offsets: Int32Array;
  private readonly offsetsTensor: CapturedTensor;
  private readonly source: MaskSource;
  private readonly maskMod: TracedMod;
  private readonly classifier: PlaneClassifier;
  private readonly readsHead: boolean;
  /** The master block row whose classes `rowClasses` holds, per batch (−1: none). */
  private readonly rows: Int32Array;
  /** [batch, H, master kvBlocks] block classes of those rows. */
  private rowClasses = new Uint8Array(0);
  /** The classes of the columns a step rewrites (one plane at a time). */
  private scratch = new Uint8Array(0);
  private readonly tables: GrowableTables;
  private mask: StepMask | undefined;
  /** Columns the current tables take from the master rows (the rest, at most the tail, are exact). */
  private keep = 0;
  /** The master's and the step mask's generations when the tables were last brought up to date. */
  private masterGeneration = -1;
  private maskGeneration = -1;

  constructor(master: ClassifiedBlockMask, opts: DecodeStepsOptions = {}) {
    if (!(master instanceof ClassifiedBlockMask)) throw new ShapeError('DecodeSteps(master): the master must be a BlockMask from createBlockMask, fromKvBlocks or their methods');
    const batch = opts.batch ?? master.B;
    if (!Number.isInteger(batch) || batch < 1) throw new ShapeError(`DecodeSteps: batch must be a positive integer, got ${String(batch)}`);
    if (master.B !== 1 && master.B !== batch) throw new ShapeError(`DecodeSteps: the master has B=${master.B} but batch is ${batch}; use the master's batch (or a master built with B omitted)`);
    const base = master.source.base;
    if (master.B === 1 && batch > 1 && argsRead(base).b) {
      throw new ShapeError(`DecodeSteps: the mask mod reads b but the master was built for one batch (B: 1), classified at b = 0; build it with B: ${batch}`);
    }
    this.master = master;
    this.batch = batch;
    this.H = master.H;
    this.offsets = new Int32Array(batch);
    this.source = { base, qOffsets: this.offsets };
    this.maskMod = exposedMaskMod(this.source);
    this.offsetsTensor = this.maskMod.captures.find((c): c is CapturedTensor => c instanceof CapturedTensor && c.data === this.offsets)!;
    const { fn, iv } = compileMask(base);
    const [qLen, kvLen] = master.seqLengths;
    const [bq, bk] = master.blockSize;
    this.classifier = new PlaneClassifier(iv, fn, qLen, kvLen, bq, bk, master.qBlocks, master.kvBlocks);
    this.readsHead = argsRead(base).h;
    this.rows = new Int32Array(batch).fill(-1);
    this.tables = new GrowableTables(batch, this.H, 1, 0, master.kvBlocks);
  }

  /**
   * The step mask of query position `positions` (one for every batch, or one per batch: rows of the
   * master) over keys [0, kvLen) — default: the last position + 1. Positions may move in any
   * direction; kvLen may not exceed the master's (resize the master first).
   */
  at(positions: number | ArrayLike<number>, kvLen?: number): ClassifiedBlockMask {
    const kv = this.check(positions, kvLen);
    const n = this.batch;
    const master = this.master;
    const Km = master.kvBlocks;
    const [bq, bk] = master.blockSize;
    const whole = this.masterGeneration !== master.generation || this.mask === undefined || this.maskGeneration !== this.mask.generation;
    if (whole) {
      // the first step, or the master (or the step mask) changed in place: start over from the master
      this.rows.fill(-1);
      this.masterGeneration = master.generation;
      if (this.scratch.length !== Km) {
        this.rowClasses = new Uint8Array(n * this.H * Km);
        this.scratch = new Uint8Array(Km);
      }
    }
    const K = ceilDiv(kv, bk);
    const keep = unchangedBlocks(master.seqLengths[1], kv, bk);
    // Columns below both the old and the new `keep` hold master classes either way.
    const unchanged = whole ? 0 : Math.min(this.keep, keep);
    const tables = this.tables;
    tables.setKvBlocks(K);
    for (let b = 0; b < n; b++) {
      const p = typeof positions === 'number' ? positions : positions[b]!;
      const abs = p + offsetOf(master.source, master.B === 1 ? 0 : b);
      this.offsets[b] = abs;
      const row = Math.floor(p / bq);
      let from = unchanged;
      if (this.rows[b] !== row) {
        this.loadRow(b, row);
        from = 0;
      }
      let tail = -1;
      for (let h = 0; h < this.H; h++) {
        const at = (b * this.H + h) * Km;
        for (let kb = from; kb < keep; kb++) this.scratch[kb - from] = this.rowClasses[at + kb]!;
        if (keep < K) {
          // the tail block, cut at kv: exact for this row (the same for every head unless the mod reads h)
          if (tail < 0 || this.readsHead) tail = this.classifier.classifyBox(b, h, abs, abs, (K - 1) * bk, kv - 1);
          this.scratch[K - 1 - from] = tail;
        }
        tables.rewritePlane(b * this.H + h, from, this.scratch, 0, K - from);
      }
    }
    this.keep = keep;
    this.offsetsTensor.invalidate();
    if (!this.mask) {
      const shape: BlockMaskShape = { B: n, H: this.H, qLen: 1, kvLen: kv, blockSize: master.blockSize };
      this.mask = new StepMask(tables, shape, this.source, this.maskMod);
    } else {
      this.mask.update(tables, kv);
    }
    this.maskGeneration = this.mask.generation;
    return this.mask;
  }

  /** Checks positions and kvLen before anything changes (a refused step leaves the last one intact); returns kvLen. */
  private check(positions: number | ArrayLike<number>, kvLen: number | undefined): number {
    const [masterQ, masterKv] = this.master.seqLengths;
    const one = typeof positions === 'number';
    if (!one && (typeof positions !== 'object' || positions === null || positions.length !== this.batch)) {
      throw new ShapeError(`DecodeSteps.at: pass one position per batch (${this.batch}), or one number for all`);
    }
    let last = 0;
    for (let b = 0; b < (one ? 1 : this.batch); b++) {
      const p = one ? positions : positions[b];
      if (!Number.isInteger(p) || p! < 0 || p! >= masterQ) {
        throw new ShapeError(`DecodeSteps.at: position ${String(p)}${one ? '' : ` (batch ${b})`} is outside the master's query rows [0, ${masterQ}); resize the master to reach later rows`);
      }
      last = Math.max(last, p!);
    }
    const kv = kvLen ?? last + 1;
    if (!Number.isInteger(kv) || kv < 1 || kv > masterKv) throw new ShapeError(`DecodeSteps.at: kvLen ${String(kv)} is outside [1, ${masterKv}] (the master's kv length; resize the master for longer)`);
    return kv;
  }

  /** Reads block row `row` of the master (plane of batch b, every head) into rowClasses. */
  private loadRow(b: number, row: number): void {
    const master = this.master;
    const Km = master.kvBlocks;
    const srcB = master.B === 1 ? 0 : b;
    for (let h = 0; h < this.H; h++) {
      const at = (b * this.H + h) * Km;
      this.rowClasses.fill(0, at, at + Km);
      readRow(master, srcB * this.H + h, row, this.rowClasses, at);
    }
    this.rows[b] = row;
  }
}
