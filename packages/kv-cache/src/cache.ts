/**
 * PagedKVCache: the K/V of up to `maxBatch` sequences in `pages` fixed-size pages of one pair of
 * backend tensors, `k`/`v` = [1, kvHeads, pages·pageSize, D]. Paged attention is then an ordinary
 * call — `backend.flexAttention(q, cache.k, cache.v, { blockMask: cache.blockMask(logical),
 * scoreMod: cache.scoreMod(mod), enableGqa })` — with K/V shared by the query batch (kvBatch 1).
 *
 * The host keeps the page table (page-table.ts); the backend only allocates the two tensors and
 * writes rows (ir's KvStorage capability). Every check runs before anything changes: a failed call
 * leaves pages, lengths and K/V as they were.
 */
import {
  capture, hasKvStorage, OptionError, rebindParams, ShapeError, traceMaskMod, UnsupportedError,
  type BlockMask, type CapturedTensor, type DType, type FlexAttentionBackend, type KvStorage, type MaskMod,
  type ModParam, type ScoreMod, type Tensor, type TracedMod,
} from '@flexattn/ir';
import { KvCacheError, ReservationExceededError } from './errors';
import { physicalMaskMod, physicalScoreMod, type PagedView } from './mods';
import { PageTable } from './page-table';
import { convertLogicalMask, physicalShape } from './physical-mask';

export interface PagedKVCacheOptions {
  /** Physical pages shared by all sequences. */
  pages: number;
  /** Tokens per page; by default use the BlockMask kv block size (128). */
  pageSize: number;
  /** Sequences the cache can hold at once (batch indices 0..maxBatch−1). */
  maxBatch: number;
  kvHeads: number;
  /** K's head dim E. */
  headDim: number;
  /** V's head dim Ev (default headDim). */
  valueDim?: number;
  dtype: DType;
}

/** What `append` takes: a host tensor, or one of the backend's own with the same shape and dtype. */
type KvInput<T> = T | Tensor;

const positiveInt = (name: string, v: unknown): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new OptionError(`PagedKVCache: ${name} must be a positive integer, got ${String(v)}`);
  return v;
};

/** Physical masks' mods, traced once per logical mod (by hash) and rebound to each conversion's data. */
interface MaskTemplate {
  mod: TracedMod;
  logicalCaptures: readonly ModParam[];
  pageInfo: CapturedTensor;
  lengths: CapturedTensor;
  sequenceOf: CapturedTensor;
}
const TEMPLATES_KEPT = 32;

export class PagedKVCache<T = Tensor> {
  readonly k: T;
  readonly v: T;
  readonly pages: number;
  readonly pageSize: number;
  readonly maxBatch: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly valueDim: number;
  readonly dtype: DType;
  private readonly storage: KvStorage<T>;
  private readonly table: PageTable;
  /** The live page table as the wrappers of maskMod/scoreMod read it. */
  private readonly live: PagedView;
  /** Per batch index: the tail of its queue of appends (appends to one sequence run in order). */
  private readonly pending = new Map<number, Promise<void>>();
  private readonly templates = new Map<string, MaskTemplate>();

  constructor(backend: FlexAttentionBackend<T>, opts: PagedKVCacheOptions) {
    if (typeof opts !== 'object' || opts === null) throw new OptionError('new PagedKVCache(backend, { pages, pageSize, maxBatch, kvHeads, headDim, valueDim?, dtype }): the options object is required');
    this.pages = positiveInt('pages', opts.pages);
    this.pageSize = positiveInt('pageSize', opts.pageSize);
    this.maxBatch = positiveInt('maxBatch', opts.maxBatch);
    this.kvHeads = positiveInt('kvHeads', opts.kvHeads);
    this.headDim = positiveInt('headDim', opts.headDim);
    this.valueDim = opts.valueDim === undefined ? this.headDim : positiveInt('valueDim', opts.valueDim);
    if (!['f32', 'f16', 'bf16'].includes(opts.dtype)) throw new OptionError(`PagedKVCache: dtype must be 'f32', 'f16' or 'bf16', got ${String(opts.dtype)}`);
    this.dtype = opts.dtype;
    const slots = this.pages * this.pageSize;
    if (slots > 2 ** 31 - 1) throw new OptionError(`PagedKVCache: pages · pageSize = ${slots} slots exceed the i32 range of kv indices; use fewer or smaller pages`);
    if (!hasKvStorage(backend)) {
      throw new UnsupportedError(`the ${backend.name} backend cannot hold a paged KV cache yet (it has no allocateKv/writeKvRows, ir's KvStorage capability); use the reference backend (createReferenceBackend) for paged attention`);
    }
    this.storage = backend;
    this.table = new PageTable(this.pages, this.pageSize, this.maxBatch);
    this.live = {
      pageInfo: capture(this.table.pageInfo, [this.pages, 2], { name: 'pageInfo' }),
      lengths: capture(this.table.lengths, [this.maxBatch], { name: 'seqLengths' }),
      pageSize: this.pageSize,
    };
    this.k = backend.allocateKv([1, this.kvHeads, slots, this.headDim], this.dtype);
    this.v = backend.allocateKv([1, this.kvHeads, slots, this.valueDim], this.dtype);
  }

  /** Allocates pages so sequence `batchIdx` can hold `length` tokens (OutOfPagesError: none taken). */
  reserve(batchIdx: number, length: number): void {
    this.table.reserve(batchIdx, length);
    this.live.pageInfo.invalidate();
  }

  /**
   * Appends new tokens' K and V ([1, kvHeads, n, headDim] and [1, kvHeads, n, valueDim], the cache's
   * dtype) after the sequence's last token, writing them into its pages on the device. Appends to one
   * sequence run in call order; each is checked against what is reserved when its turn comes.
   */
  append(batchIdx: number, k: KvInput<T>, v: KvInput<T>): Promise<void> {
    let n: number;
    try {
      this.table.check(batchIdx);
      n = this.checkInput('k', k, this.headDim);
      if (this.checkInput('v', v, this.valueDim) !== n) {
        throw new ShapeError(`append(${batchIdx}): k holds ${n} tokens but v holds ${(v as { shape: number[] }).shape[2]}; append the same tokens' K and V together`);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const previous = this.pending.get(batchIdx) ?? Promise.resolve();
    const run = previous.then(() => this.write(batchIdx, k, v, n));
    const tail = run.catch(() => undefined);
    this.pending.set(batchIdx, tail);
    void tail.then(() => {
      if (this.pending.get(batchIdx) === tail) this.pending.delete(batchIdx);
    });
    return run;
  }

  /** Returns the sequence's pages to the free list; its length becomes 0. */
  free(batchIdx: number): void {
    this.table.check(batchIdx);
    if (this.pending.has(batchIdx)) throw new KvCacheError(`free(${batchIdx}): an append to this sequence is still in flight; await it first`);
    this.table.free(batchIdx);
    this.live.pageInfo.invalidate();
    this.live.lengths.invalidate();
  }

  /** Tokens written for the sequence (appends that have completed). */
  length(batchIdx: number): number {
    return this.table.lengths[this.table.check(batchIdx)]!;
  }

  /** Tokens the sequence can hold before the next reserve. */
  capacity(batchIdx: number): number {
    return this.table.capacity(batchIdx);
  }

  /** Pages not reserved by any sequence. */
  get freePages(): number {
    return this.table.freePageCount;
  }

  /**
   * The physical BlockMask of a logical one ([B ≤ maxBatch, H, qLen, kvLen ≥ every length]):
   * seqLengths [qLen, pages·pageSize], kv block min(logical kv block, pageSize). Query batch b reads
   * cache sequence b, or `sequences[b]` (e.g. `{ sequences: [3] }` to prefill sequence 3 alone); a
   * logical mask with B = 1 applies to `batch` sequences (default: `sequences`' length, or maxBatch).
   * The result is a snapshot of the page table: convert again after append/reserve/free.
   */
  blockMask(logical: BlockMask, opts: { batch?: number; sequences?: ArrayLike<number> } = {}): BlockMask {
    if (!logical || typeof logical !== 'object' || !Array.isArray(logical.seqLengths) || !(logical.kvNumBlocks instanceof Int32Array)) {
      throw new OptionError('blockMask(logical): pass a BlockMask (createBlockMask) built over logical positions');
    }
    const shape = physicalShape(logical, this.table, opts);
    const mod = this.snapshotMaskMod(traceMaskMod(logical.maskMod), shape.sequences);
    return convertLogicalMask(logical, this.table, shape, mod);
  }

  /** A logical mask mod as a physical one (hides slots without a written token of the query's sequence). */
  maskMod(mod: MaskMod | TracedMod): MaskMod {
    return physicalMaskMod(this.live, mod);
  }

  /** A logical score mod as a physical one (the same score at each slot's logical position). */
  scoreMod(mod: ScoreMod | TracedMod): ScoreMod {
    return physicalScoreMod(this.live, mod);
  }

  /** Releases the backend tensors (where the backend frees memory explicitly). */
  dispose(): void {
    this.storage.releaseKv?.(this.k);
    this.storage.releaseKv?.(this.v);
  }

  private async write(batchIdx: number, k: KvInput<T>, v: KvInput<T>, n: number): Promise<void> {
    const start = this.table.lengths[batchIdx]!;
    const reserved = this.table.capacity(batchIdx);
    if (start + n > reserved) {
      throw new ReservationExceededError(
        batchIdx,
        start + n,
        reserved,
        `append(${batchIdx}): ${n} token(s) after ${start} need room for ${start + n} but ${reserved} are reserved; call reserve(${batchIdx}, ${start + n}) first`,
      );
    }
    const rows = this.table.rows(batchIdx, start, n);
    await this.storage.writeKvRows(this.k, rows, k);
    await this.storage.writeKvRows(this.v, rows, v);
    // Only now is the sequence longer: a failed write leaves rows past its length, never read.
    this.table.lengths[batchIdx] = start + n;
    this.live.lengths.invalidate();
  }

  /** Checks an appended tensor's shape [1, kvHeads, n, dim], dtype and data; returns n. */
  private checkInput(name: 'k' | 'v', t: KvInput<T>, dim: number): number {
    const s = (t as { shape?: unknown }).shape;
    const want = `[1, ${this.kvHeads}, n, ${dim}]`;
    if (!Array.isArray(s) || s.length !== 4) throw new ShapeError(`append: ${name} must be a tensor ${want}, got ${Array.isArray(s) ? `shape [${s.join(', ')}]` : typeof t}`);
    const [b, h, n, d] = s as number[];
    if (b !== 1 || h !== this.kvHeads || d !== dim || !Number.isInteger(n) || n! < 1) {
      throw new ShapeError(`append: ${name} has shape [${s.join(', ')}] but the cache takes ${want} with n ≥ 1 (kvHeads ${this.kvHeads}, ${name === 'k' ? 'headDim' : 'valueDim'} ${dim})`);
    }
    const dtype = (t as { dtype?: unknown }).dtype;
    if (dtype !== this.dtype) throw new OptionError(`append: ${name} has dtype ${String(dtype)} but the cache holds ${this.dtype}; convert it first (fromFloats)`);
    const data = (t as Partial<Tensor>).data;
    if (data !== undefined) {
      if (data.length !== n! * h * d) throw new ShapeError(`append: ${name} has ${data.length} elements but shape [${s.join(', ')}] needs ${n! * h * d}`);
      if ((this.dtype === 'f32') !== data instanceof Float32Array) throw new OptionError(`append: ${name} of dtype ${this.dtype} needs ${this.dtype === 'f32' ? 'a Float32Array' : 'a Uint16Array of bit patterns'}`);
    }
    return n!;
  }

  /**
   * The physical mod of a logical mask over a snapshot of the page table (so a mask never changes
   * meaning after it is made), traced once per logical mod and batch size, then rebound to new data.
   */
  private snapshotMaskMod(logical: TracedMod, sequences: Int32Array): TracedMod {
    const key = `${logical.hash}|${sequences.length}`;
    let t = this.templates.get(key);
    if (!t) {
      const view: PagedView = {
        pageInfo: capture(new Int32Array(this.pages * 2), [this.pages, 2], { name: 'pageInfo' }),
        lengths: capture(new Int32Array(this.maxBatch), [this.maxBatch], { name: 'seqLengths' }),
        pageSize: this.pageSize,
      };
      const sequenceOf = capture(new Int32Array(sequences.length), [sequences.length], { name: 'sequenceOf' });
      const mod = traceMaskMod(physicalMaskMod(view, logical, sequenceOf), { name: `paged(${logical.name})` });
      t = { mod, logicalCaptures: logical.captures, ...view, sequenceOf };
      if (this.templates.size >= TEMPLATES_KEPT) this.templates.delete(this.templates.keys().next().value!);
      this.templates.set(key, t);
    }
    const replace = new Map<ModParam, ModParam>([
      [t.pageInfo, capture(Int32Array.from(this.table.pageInfo), [this.pages, 2], { name: 'pageInfo' })],
      [t.lengths, capture(Int32Array.from(this.table.lengths), [this.maxBatch], { name: 'seqLengths' })],
      [t.sequenceOf, capture(sequences, [sequences.length], { name: 'sequenceOf' })],
    ]);
    t.logicalCaptures.forEach((c, i) => replace.set(c, logical.captures[i]!));
    return rebindParams(t.mod, replace);
  }
}
