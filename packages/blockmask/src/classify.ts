/**
 * Classifying the blocks of one (b, h) plane: EMPTY / PARTIAL / FULL, exactly.
 *
 * Fast path: the interval analysis over boxes of many blocks at once (a quadtree over the block
 * grid): a box proven 'none' stays empty, one proven 'all' is filled full, and only undecided boxes
 * are split. A causal mask over n×n blocks needs about 4n interval calls, not n².
 *
 * Exact path, for single blocks the analysis cannot decide: a few sample points first (a diagonal
 * block is partial as soon as one visible and one masked element are seen), then the block is split
 * into element sub-boxes (quadrants) that the interval analysis may decide, and only the elements of
 * undecided leaves are evaluated — stopping at the first true/false pair.
 */
import { EMPTY, FULL, PARTIAL, type CompiledInterval } from '@flexattn/ir';

/** Elements in a sub-box at or below which we evaluate instead of splitting further. */
const LEAF_ELEMENTS = 16;

type MaskFn = (b: number, h: number, q: number, kv: number) => unknown;

export class PlaneClassifier {
  private b = 0;
  private h = 0;
  private dense: Uint8Array = new Uint8Array(0);
  private base = 0;
  /** Cells between block rows in `dense` (the grid's kvBlocks unless a region is written alone). */
  private stride = 0;
  private seenTrue = false;
  private seenFalse = false;
  /** Counters, for the benchmark and tests. */
  stats = { boxes: 0, exactBlocks: 0, evaluations: 0 };

  constructor(
    private readonly iv: CompiledInterval,
    private readonly fn: MaskFn,
    private readonly qLen: number,
    private readonly kvLen: number,
    private readonly bq: number,
    private readonly bk: number,
    private readonly qBlocks: number,
    private readonly kvBlocks: number,
  ) {}

  /** Writes the plane's block map into dense[base .. base + qBlocks·kvBlocks) (which must be zero). */
  classify(dense: Uint8Array, base: number, b: number, h: number): void {
    this.classifyRegion(dense, base, b, h, 0, this.qBlocks, 0, this.kvBlocks);
  }

  /**
   * Like classify, for the blocks [qb0, qb1) × [kb0, kb1) only (dense there must be zero): what
   * BlockMask.resize and extendKv use to classify the blocks a new length adds, reusing the others.
   * Block (qb, kb) lands at dense[base + qb·stride + kb]; a region written alone passes its width
   * as the stride and −kb0 as the base.
   */
  classifyRegion(dense: Uint8Array, base: number, b: number, h: number, qb0: number, qb1: number, kb0: number, kb1: number, stride = this.kvBlocks): void {
    if (qb0 >= qb1 || kb0 >= kb1) return;
    this.dense = dense;
    this.base = base;
    this.stride = stride;
    this.b = b;
    this.h = h;
    this.visit(qb0, qb1, kb0, kb1);
  }

  /**
   * The exact class of one element box (inclusive bounds, absolute positions) of plane (b, h): the
   * interval analysis first, the exact path when it cannot decide. A decode step's tail block.
   */
  classifyBox(b: number, h: number, q0: number, q1: number, k0: number, k1: number): number {
    this.b = b;
    this.h = h;
    const c = this.cover(q0, q1, k0, k1);
    return c === PARTIAL ? this.exact(q0, q1, k0, k1) : c;
  }

  /** Sound coverage of an element box (inclusive bounds): 0 none, 1 unknown, 2 all. */
  private cover(q0: number, q1: number, k0: number, k1: number): number {
    this.stats.boxes++;
    const { b, h } = this;
    return this.iv(b, b, h, h, q0, q1, k0, k1);
  }

  /** Block ranges half-open: [qb0, qb1) × [kb0, kb1). */
  private visit(qb0: number, qb1: number, kb0: number, kb1: number): void {
    const q0 = qb0 * this.bq;
    const q1 = Math.min(qb1 * this.bq, this.qLen) - 1;
    const k0 = kb0 * this.bk;
    const k1 = Math.min(kb1 * this.bk, this.kvLen) - 1;
    const c = this.cover(q0, q1, k0, k1);
    if (c === EMPTY) return;
    const dense = this.dense;
    const stride = this.stride;
    if (c === FULL) {
      for (let qb = qb0; qb < qb1; qb++) {
        const row = this.base + qb * stride;
        if (kb1 - kb0 > 16) dense.fill(FULL, row + kb0, row + kb1);
        else for (let kb = kb0; kb < kb1; kb++) dense[row + kb] = FULL;
      }
      return;
    }
    const nq = qb1 - qb0;
    const nk = kb1 - kb0;
    if (nq === 1 && nk === 1) {
      dense[this.base + qb0 * stride + kb0] = this.exact(q0, q1, k0, k1);
      return;
    }
    const qm = nq > 1 ? qb0 + (nq >> 1) : qb1;
    const km = nk > 1 ? kb0 + (nk >> 1) : kb1;
    this.visit(qb0, qm, kb0, km);
    if (km < kb1) this.visit(qb0, qm, km, kb1);
    if (qm < qb1) {
      this.visit(qm, qb1, kb0, km);
      if (km < kb1) this.visit(qm, qb1, km, kb1);
    }
  }

  /** Exact class of one block the interval analysis left undecided (inclusive element bounds). */
  exact(q0: number, q1: number, k0: number, k1: number): number {
    this.stats.exactBlocks++;
    const { fn, b, h } = this;
    // Corners and the centre: most undecided blocks are partial, and this usually shows it.
    let t = false;
    let f = false;
    const qc = (q0 + q1) >> 1;
    const kc = (k0 + k1) >> 1;
    let n = 2;
    if (fn(b, h, q0, k0)) t = true; else f = true;
    if (fn(b, h, q0, k1)) t = true; else f = true;
    if (!(t && f)) { n++; if (fn(b, h, q1, k0)) t = true; else f = true; }
    if (!(t && f)) { n++; if (fn(b, h, q1, k1)) t = true; else f = true; }
    if (!(t && f)) { n++; if (fn(b, h, qc, kc)) t = true; else f = true; }
    this.stats.evaluations += n;
    if (t && f) return PARTIAL;
    this.seenTrue = t;
    this.seenFalse = f;
    this.search(q0, q1, k0, k1, true);
    return this.seenTrue ? (this.seenFalse ? PARTIAL : FULL) : EMPTY;
  }

  /** Marks what the box holds (seenTrue / seenFalse), stopping once both are seen. */
  private search(q0: number, q1: number, k0: number, k1: number, known: boolean): void {
    if (!known) {
      const c = this.cover(q0, q1, k0, k1);
      if (c === FULL) { this.seenTrue = true; return; }
      if (c === EMPTY) { this.seenFalse = true; return; }
    }
    const nq = q1 - q0 + 1;
    const nk = k1 - k0 + 1;
    if (nq * nk <= LEAF_ELEMENTS) {
      const { fn, b, h } = this;
      for (let q = q0; q <= q1; q++) {
        for (let kv = k0; kv <= k1; kv++) {
          if (fn(b, h, q, kv)) this.seenTrue = true;
          else this.seenFalse = true;
          if (this.seenTrue && this.seenFalse) {
            this.stats.evaluations += (q - q0) * nk + (kv - k0) + 1;
            return;
          }
        }
      }
      this.stats.evaluations += nq * nk;
      return;
    }
    const qm = nq > 1 ? q0 + (nq >> 1) : q1 + 1;
    const km = nk > 1 ? k0 + (nk >> 1) : k1 + 1;
    this.search(q0, qm - 1, k0, km - 1, false);
    if (this.seenTrue && this.seenFalse) return;
    if (km <= k1) {
      this.search(q0, qm - 1, km, k1, false);
      if (this.seenTrue && this.seenFalse) return;
    }
    if (qm <= q1) {
      this.search(qm, q1, k0, km - 1, false);
      if (this.seenTrue && this.seenFalse) return;
      if (km <= k1) this.search(qm, q1, km, k1, false);
    }
  }
}
