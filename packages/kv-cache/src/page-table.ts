/**
 * The page table of a paged KV cache, on the host: which physical page holds each sequence's
 * logical page, which pages are free, how many tokens each sequence has reserved and written.
 *
 * Two views are kept as captured-tensor data for the mods the kernels run (both are updated in
 * place, so a new page assignment is new data, never a new kernel):
 * - `pageInfo` [pages, 2] i32: per physical page, (owner sequence or −1, its logical page index) —
 *   O(pages), where PyTorch's physical_to_logical is [maxBatch, pages];
 * - `lengths` [maxBatch] i32: tokens written per sequence.
 */
import { BatchIndexError, KvCacheError, OutOfPagesError } from './errors';

export class PageTable {
  /** Per physical page: owner sequence (−1 free), logical page index. */
  readonly pageInfo: Int32Array;
  /** Tokens written per sequence. */
  readonly lengths: Int32Array;
  /** Per sequence, the physical page of each logical page. */
  private readonly pagesOf: number[][];
  /** Free physical pages; taken from the end (PyTorch's order: page 0 first). */
  private readonly freePages: number[];

  constructor(
    readonly pages: number,
    readonly pageSize: number,
    readonly maxBatch: number,
  ) {
    this.pageInfo = new Int32Array(pages * 2).fill(-1);
    this.lengths = new Int32Array(maxBatch);
    this.pagesOf = Array.from({ length: maxBatch }, () => []);
    this.freePages = Array.from({ length: pages }, (_, i) => pages - 1 - i);
  }

  /** Tokens `batchIdx` can hold without another reserve. */
  capacity(batchIdx: number): number {
    return this.pagesOf[this.check(batchIdx)]!.length * this.pageSize;
  }

  get freePageCount(): number {
    return this.freePages.length;
  }

  /** The physical pages of a sequence, in logical order (a copy). */
  pagesOfSequence(batchIdx: number): number[] {
    return [...this.pagesOf[this.check(batchIdx)]!];
  }

  /** The physical page holding logical page `logicalPage` of a sequence (−1 if unallocated). */
  physicalPage(batchIdx: number, logicalPage: number): number {
    return this.pagesOf[batchIdx]![logicalPage] ?? -1;
  }

  /** Allocates pages until the sequence can hold `length` tokens; all or nothing. */
  reserve(batchIdx: number, length: number): void {
    const b = this.check(batchIdx);
    if (!Number.isInteger(length) || length < 0) throw new KvCacheError(`reserve(${batchIdx}, ${length}): the length must be a non-negative integer`);
    const owned = this.pagesOf[b]!;
    const needed = Math.ceil(length / this.pageSize) - owned.length;
    if (needed <= 0) return;
    if (needed > this.freePages.length) {
      throw new OutOfPagesError(
        needed,
        this.freePages.length,
        `reserve(${batchIdx}, ${length}) needs ${needed} more page(s) of ${this.pageSize} tokens but only ${this.freePages.length} of ${this.pages} are free; free() finished sequences, or create the cache with more pages`,
      );
    }
    for (let i = 0; i < needed; i++) {
      const page = this.freePages.pop()!;
      this.pageInfo[2 * page] = b;
      this.pageInfo[2 * page + 1] = owned.length;
      owned.push(page);
    }
  }

  /** Returns a sequence's pages to the free list and forgets its tokens. */
  free(batchIdx: number): void {
    const b = this.check(batchIdx);
    const owned = this.pagesOf[b]!;
    // Freed pages go back in reverse so the next reserve takes them in their old order.
    for (let i = owned.length - 1; i >= 0; i--) {
      const page = owned[i]!;
      this.pageInfo[2 * page] = -1;
      this.pageInfo[2 * page + 1] = -1;
      this.freePages.push(page);
    }
    owned.length = 0;
    this.lengths[b] = 0;
  }

  /** Physical rows of logical positions [start, start + n) of a sequence (all within capacity). */
  rows(batchIdx: number, start: number, n: number): Int32Array {
    const owned = this.pagesOf[batchIdx]!;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const pos = start + i;
      out[i] = owned[Math.floor(pos / this.pageSize)]! * this.pageSize + (pos % this.pageSize);
    }
    return out;
  }

  check(batchIdx: number): number {
    if (!Number.isInteger(batchIdx) || batchIdx < 0 || batchIdx >= this.maxBatch) {
      throw new BatchIndexError(`batch index ${String(batchIdx)} is out of range: the cache holds maxBatch = ${this.maxBatch} sequences, indices 0..${this.maxBatch - 1}`);
    }
    return batchIdx;
  }
}
