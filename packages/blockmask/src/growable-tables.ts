/**
 * Block tables that grow along kv in place — what lets a decode mask take new kv blocks in time
 * proportional to those blocks instead of laying every table out again.
 *
 * The layout stays PyTorch's, which every reader (validation, tile tables, the reference, users)
 * indexes directly: kv-major rows of stride kvBlocks, q-major columns per plane. Only the buffer
 * changes: each of the eight regions has room for `capacity` kv blocks (the layout of
 * allocateBlockTables when capacity = kvBlocks), so the views are prefixes of their regions and a
 * new kv block is written at the end of what is there. When the capacity runs out it doubles
 * (amortised O(1) per block).
 *
 * What moves: a view whose rows interleave must move them when kvBlocks changes (the row stride is
 * kvBlocks) — the kv-major rows when there is more than one (B·H·qBlocks > 1), the q-major planes
 * when there is more than one (B·H > 1). Only listed entries move (one memmove per row); nothing is
 * classified again. A decode row of a mask shared by batch and heads (one row, one plane) moves
 * nothing.
 */
import { EMPTY, PARTIAL, type BlockTables, type PackedBlockTables } from '@flexattn/ir';

/** Work counters, for tests that show a growth step's cost does not depend on the length. */
export interface TableWork {
  /** Table words written for new or changed blocks (entries and counts). */
  written: number;
  /** Words moved because a row stride changed (rows or planes that interleave). */
  moved: number;
  /** Reallocations (capacity doubling) and the words they copied. */
  reallocations: number;
  copied: number;
}
const work: TableWork = { written: 0, moved: 0, reallocations: 0, copied: 0 };
/** A snapshot of this process's table work so far. */
export const tableWork = (): TableWork => ({ ...work });

/** Word offsets of the eight regions of a buffer with room for `capacity` kv blocks. */
interface Regions {
  kvIdx: number;
  fullKvIdx: number;
  kvNum: number;
  fullKvNum: number;
  qIdx: number;
  fullQIdx: number;
  qNum: number;
  fullQNum: number;
  total: number;
}

function regions(planes: number, qBlocks: number, capacity: number): Regions {
  const rows = planes * qBlocks;
  const cells = rows * capacity;
  const cols = planes * capacity;
  const r = { kvIdx: 0, fullKvIdx: cells, kvNum: 2 * cells, fullKvNum: 2 * cells + rows, qIdx: 2 * cells + 2 * rows, fullQIdx: 3 * cells + 2 * rows };
  return { ...r, qNum: 4 * cells + 2 * rows, fullQNum: 4 * cells + 2 * rows + cols, total: 4 * cells + 2 * rows + 2 * cols };
}

/**
 * Moves `n` rows of `from`[fromBase + r·fromStride ..] to `to`[toBase + r·toStride ..]: row r's
 * length is `lens[lensAt + r]` words, or `fixed` for every row when `lens` is undefined. In one
 * buffer, rows go in the order that never overwrites a row not yet moved. Returns the words moved.
 */
function moveRows(
  from: Int32Array, fromBase: number, fromStride: number, to: Int32Array, toBase: number, toStride: number,
  n: number, lens: Int32Array | undefined, lensAt: number, fixed = 0,
): number {
  let words = 0;
  // in place and spreading out: the last row first
  const backwards = from === to && toBase + toStride > fromBase + fromStride;
  for (let i = 0; i < n; i++) {
    const r = backwards ? n - 1 - i : i;
    const len = lens ? lens[lensAt + r]! : fixed;
    if (len === 0) continue;
    const src = fromBase + r * fromStride;
    if (from === to) to.copyWithin(toBase + r * toStride, src, src + len);
    else to.set(from.subarray(src, src + len), toBase + r * toStride);
    words += len;
  }
  return words;
}

export class GrowableTables implements PackedBlockTables {
  readonly B: number;
  readonly H: number;
  readonly qBlocks: number;
  kvBlocks: number;
  /** kv blocks the buffer has room for. */
  capacity: number;
  storage: Int32Array;
  kvNumBlocks!: Int32Array;
  kvIndices!: Int32Array;
  fullKvNumBlocks!: Int32Array;
  fullKvIndices!: Int32Array;
  qNumBlocks!: Int32Array;
  qIndices!: Int32Array;
  fullQNumBlocks!: Int32Array;
  fullQIndices!: Int32Array;
  private at: Regions;

  /** Empty tables (every block EMPTY) of B·H planes of qBlocks × kvBlocks, with room for `capacity` kv blocks. */
  constructor(B: number, H: number, qBlocks: number, kvBlocks: number, capacity = kvBlocks) {
    this.B = B;
    this.H = H;
    this.qBlocks = qBlocks;
    this.kvBlocks = kvBlocks;
    this.capacity = Math.max(1, capacity, kvBlocks);
    this.at = regions(B * H, qBlocks, this.capacity);
    this.storage = new Int32Array(this.at.total);
    this.view();
  }

  /** A growable copy of `t` (any BlockTables), with room for `capacity` kv blocks. */
  static copyOf(t: BlockTables, capacity: number): GrowableTables {
    const g = new GrowableTables(t.B, t.H, t.qBlocks, t.kvBlocks, capacity);
    g.copyFrom(t, t.kvBlocks);
    return g;
  }

  private get planes(): number {
    return this.B * this.H;
  }

  /** Points the eight views at the used prefix of their regions. */
  private view(): void {
    const { storage: s, at, kvBlocks: K, qBlocks: Q } = this;
    const rows = this.planes * Q;
    const cells = rows * K;
    this.kvIndices = s.subarray(at.kvIdx, at.kvIdx + cells);
    this.fullKvIndices = s.subarray(at.fullKvIdx, at.fullKvIdx + cells);
    this.kvNumBlocks = s.subarray(at.kvNum, at.kvNum + rows);
    this.fullKvNumBlocks = s.subarray(at.fullKvNum, at.fullKvNum + rows);
    this.qIndices = s.subarray(at.qIdx, at.qIdx + cells);
    this.fullQIndices = s.subarray(at.fullQIdx, at.fullQIdx + cells);
    this.qNumBlocks = s.subarray(at.qNum, at.qNum + this.planes * K);
    this.fullQNumBlocks = s.subarray(at.fullQNum, at.fullQNum + this.planes * K);
  }

  /**
   * Copies the first `K` kv blocks' worth of `src` (in its own layout, stride src.kvBlocks) into this
   * buffer at stride `this.kvBlocks` (≥ K). Used by copyOf and on reallocation.
   */
  private copyFrom(src: BlockTables, K: number): void {
    const { at, storage: s, qBlocks: Q, kvBlocks: stride } = this;
    const rows = this.planes * Q;
    const srcK = src.kvBlocks;
    let words = 0;
    words += moveRows(src.kvIndices, 0, srcK, s, at.kvIdx, stride, rows, src.kvNumBlocks, 0);
    words += moveRows(src.fullKvIndices, 0, srcK, s, at.fullKvIdx, stride, rows, src.fullKvNumBlocks, 0);
    s.set(src.kvNumBlocks.subarray(0, rows), at.kvNum);
    s.set(src.fullKvNumBlocks.subarray(0, rows), at.fullKvNum);
    // q-major: plane p's columns [0, K) — their slots and counts
    words += moveRows(src.qIndices, 0, srcK * Q, s, at.qIdx, stride * Q, this.planes, undefined, 0, K * Q);
    words += moveRows(src.fullQIndices, 0, srcK * Q, s, at.fullQIdx, stride * Q, this.planes, undefined, 0, K * Q);
    words += moveRows(src.qNumBlocks, 0, srcK, s, at.qNum, stride, this.planes, undefined, 0, K);
    words += moveRows(src.fullQNumBlocks, 0, srcK, s, at.fullQNum, stride, this.planes, undefined, 0, K);
    work.copied += words + 2 * rows;
  }

  /**
   * Sets the number of kv blocks. Growing: the new columns are EMPTY (rewrite them with
   * rewritePlane); shrinking drops the columns past K. Moves rows only where they interleave.
   */
  setKvBlocks(K: number): void {
    const old = this.kvBlocks;
    if (K === old) return;
    const { qBlocks: Q, at } = this;
    const rows = this.planes * Q;
    if (K < old) this.truncateRows(0, rows, K);
    if (K > this.capacity) {
      const before = { B: this.B, H: this.H, qBlocks: Q, kvBlocks: old, ...this.views() };
      this.capacity = Math.max(K, 2 * this.capacity);
      this.at = regions(this.planes, Q, this.capacity);
      this.storage = new Int32Array(this.at.total);
      this.kvBlocks = K;
      this.copyFrom(before, old);
      work.reallocations++;
    } else {
      const s = this.storage;
      let moved = 0;
      if (rows > 1) {
        moved += moveRows(s, at.kvIdx, old, s, at.kvIdx, K, rows, s, at.kvNum);
        moved += moveRows(s, at.fullKvIdx, old, s, at.fullKvIdx, K, rows, s, at.fullKvNum);
      }
      if (this.planes > 1) {
        const keep = Math.min(old, K);
        moved += moveRows(s, at.qIdx, old * Q, s, at.qIdx, K * Q, this.planes, undefined, 0, keep * Q);
        moved += moveRows(s, at.fullQIdx, old * Q, s, at.fullQIdx, K * Q, this.planes, undefined, 0, keep * Q);
        moved += moveRows(s, at.qNum, old, s, at.qNum, K, this.planes, undefined, 0, keep);
        moved += moveRows(s, at.fullQNum, old, s, at.fullQNum, K, this.planes, undefined, 0, keep);
      }
      work.moved += moved;
      this.kvBlocks = K;
    }
    // new columns list nothing yet (their slots may hold what an earlier, longer layout left)
    for (let p = 0; p < this.planes && K > old; p++) {
      this.storage.fill(0, this.at.qNum + p * K + old, this.at.qNum + p * K + K);
      this.storage.fill(0, this.at.fullQNum + p * K + old, this.at.fullQNum + p * K + K);
    }
    this.view();
  }

  private views(): Pick<BlockTables, 'kvNumBlocks' | 'kvIndices' | 'fullKvNumBlocks' | 'fullKvIndices' | 'qNumBlocks' | 'qIndices' | 'fullQNumBlocks' | 'fullQIndices'> {
    const { kvNumBlocks, kvIndices, fullKvNumBlocks, fullKvIndices, qNumBlocks, qIndices, fullQNumBlocks, fullQIndices } = this;
    return { kvNumBlocks, kvIndices, fullKvNumBlocks, fullKvIndices, qNumBlocks, qIndices, fullQNumBlocks, fullQIndices };
  }

  /** Drops the kv blocks ≥ `from` from the kv-major lists of rows [r0, r1) (a suffix: lists ascend). */
  private truncateRows(r0: number, r1: number, from: number): void {
    const { storage: s, at, kvBlocks: K } = this;
    for (let r = r0; r < r1; r++) {
      let n = s[at.kvNum + r]!;
      while (n > 0 && s[at.kvIdx + r * K + n - 1]! >= from) n--;
      s[at.kvNum + r] = n;
      n = s[at.fullKvNum + r]!;
      while (n > 0 && s[at.fullKvIdx + r * K + n - 1]! >= from) n--;
      s[at.fullKvNum + r] = n;
    }
  }

  /**
   * Rewrites plane p's kv blocks [c0, kvBlocks) from `classes` — block (qb, kb) at
   * classes[offset + qb·width + kb − c0] — keeping blocks < c0 as they are. Time proportional to
   * the rewritten blocks (and the entries they replace).
   */
  rewritePlane(p: number, c0: number, classes: Uint8Array, offset: number, width: number): void {
    const { storage: s, at, kvBlocks: K, qBlocks: Q } = this;
    this.truncateRows(p * Q, (p + 1) * Q, c0);
    for (let kb = c0; kb < K; kb++) {
      s[at.qNum + p * K + kb] = 0;
      s[at.fullQNum + p * K + kb] = 0;
    }
    let written = 2 * (K - c0);
    for (let qb = 0; qb < Q; qb++) {
      const r = p * Q + qb;
      const src = offset + qb * width - c0;
      for (let kb = c0; kb < K; kb++) {
        const c = classes[src + kb]!;
        if (c === EMPTY) continue;
        const partial = c === PARTIAL;
        const num = (partial ? at.kvNum : at.fullKvNum) + r;
        s[(partial ? at.kvIdx : at.fullKvIdx) + r * K + s[num]!++] = kb;
        const col = p * K + kb;
        const qNum = (partial ? at.qNum : at.fullQNum) + col;
        s[(partial ? at.qIdx : at.fullQIdx) + col * Q + s[qNum]!++] = qb;
        written += 4;
      }
    }
    work.written += written;
  }
}
