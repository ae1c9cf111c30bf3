/**
 * The BlockMask data layout — here in ir so that backends need only ir. A block mask splits the
 * (q, kv) plane into blocks and says which are empty (skipped), partial (the mask is evaluated per
 * element) or full (visible without evaluating the mask), per batch and head (B/H of 1 broadcast).
 * Tables follow PyTorch: per q block the partial kv blocks (kvNumBlocks/kvIndices) and the full ones
 * (fullKv*); the q-major transposes (q*) serve the backward pass.
 */
import { ceilDiv, classesFromTables, EMPTY, FULL, PARTIAL, qMajorOf, tablesFromClasses, type BlockTables, type KvMajorTables, type QMajorViews } from './block-tables';
import { OptionError, ShapeError } from './errors';
import { compileToJs } from './evaluate';
import type { TracedMod } from './trace';

// the block classes and table layout live in block-tables.ts; re-exported where they were always found
export { EMPTY, PARTIAL, FULL, ceilDiv, type BlockTables } from './block-tables';

export interface BlockMask extends BlockTables {
  seqLengths: [number, number];
  blockSize: [number, number];
  maskMod: TracedMod;
  /**
   * Bumped by every change a mask makes to itself in place (a growing decode mask: new kv blocks,
   * a new position); caches keyed on the mask object (tile tables) compare it. Absent: 0.
   */
  readonly generation?: number;
  sparsity(): number;
  toDense(): Uint8Array;
  toString(): string;
}

export interface BlockMaskShape {
  B: number;
  H: number;
  qLen: number;
  kvLen: number;
  blockSize: [number, number];
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };
/** `key in obj`, without TypeScript narrowing obj (the views are declared, so it assumes they are there). */
const has = (obj: object, key: string): boolean => key in obj;

/** The block grid of a set of tables, without the tables (see the TableBlockMask constructor). */
export type BlockGrid = Pick<BlockTables, 'B' | 'H' | 'qBlocks' | 'kvBlocks'>;

/** The standard BlockMask object over a set of tables. */
export class TableBlockMask implements BlockMask {
  #generation = 0;
  readonly seqLengths: [number, number];
  readonly blockSize: [number, number];
  readonly B: number;
  readonly H: number;
  readonly qBlocks: number;
  readonly kvBlocks: number;
  // Declared, not class fields: a subclass may build its tables on first read (accessors on its
  // prototype, which own fields would shadow); the constructor sets them when it is given them.
  declare readonly kvNumBlocks: Int32Array;
  declare readonly kvIndices: Int32Array;
  declare readonly fullKvNumBlocks: Int32Array;
  declare readonly fullKvIndices: Int32Array;
  declare readonly qNumBlocks: Int32Array;
  declare readonly qIndices: Int32Array;
  declare readonly fullQNumBlocks: Int32Array;
  declare readonly fullQIndices: Int32Array;

  /**
   * `tables`: both views; or the kv-major one alone (the q-major one, which only backward kernels
   * read, is built here — or when first read, by a subclass whose prototype has accessors for it);
   * or only the grid, for a subclass whose accessors build all the views when first read (a decode
   * step's intermediate row slice).
   */
  constructor(
    tables: BlockTables | KvMajorTables | BlockGrid,
    shape: BlockMaskShape,
    readonly maskMod: TracedMod,
  ) {
    this.seqLengths = [shape.qLen, shape.kvLen];
    this.blockSize = [shape.blockSize[0], shape.blockSize[1]];
    this.B = tables.B;
    this.H = tables.H;
    this.qBlocks = tables.qBlocks;
    this.kvBlocks = tables.kvBlocks;
    if ('kvIndices' in tables) {
      this.setViews(tables);
      // kv-major alone: the q-major view now, unless a subclass builds it when read (an accessor)
      if (!('qIndices' in tables) && !has(this, 'qIndices')) this.setViews({ ...tables, ...qMajorOf(tables) });
    } else if (!has(this, 'kvIndices') || !has(this, 'qIndices')) {
      throw new ShapeError('TableBlockMask: pass the tables (both views, or the kv-major one); only a subclass that builds them on first read may pass the grid alone');
    }
  }

  /** Points the views at `tables`: the kv-major ones, and the q-major ones when given. */
  protected setViews(tables: KvMajorTables & Partial<QMajorViews>): void {
    const self = this as Writable<TableBlockMask>;
    self.kvNumBlocks = tables.kvNumBlocks;
    self.kvIndices = tables.kvIndices;
    self.fullKvNumBlocks = tables.fullKvNumBlocks;
    self.fullKvIndices = tables.fullKvIndices;
    if (tables.qNumBlocks && tables.qIndices && tables.fullQNumBlocks && tables.fullQIndices) {
      self.qNumBlocks = tables.qNumBlocks;
      self.qIndices = tables.qIndices;
      self.fullQNumBlocks = tables.fullQNumBlocks;
      self.fullQIndices = tables.fullQIndices;
    }
  }

  /** See BlockMask.generation. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * For masks that change in place (decoding: kv blocks appended, the query row moved): points the
   * views at `tables` when given (their lengths may have changed) and sets the lengths, then bumps
   * `generation`. The caller keeps tables and lengths consistent.
   */
  protected updateInPlace(tables: BlockTables | undefined, qLen: number, kvLen: number): void {
    if (tables) {
      // the fields are readonly to users; only this method re-points them
      const self = this as Writable<TableBlockMask>;
      self.qBlocks = tables.qBlocks;
      self.kvBlocks = tables.kvBlocks;
      this.setViews(tables);
    }
    this.seqLengths[0] = qLen;
    this.seqLengths[1] = kvLen;
    this.#generation++;
  }

  static fromDense(dense: Uint8Array, shape: BlockMaskShape, maskMod: TracedMod): TableBlockMask {
    const qBlocks = ceilDiv(shape.qLen, shape.blockSize[0]);
    const kvBlocks = ceilDiv(shape.kvLen, shape.blockSize[1]);
    if (dense.length !== shape.B * shape.H * qBlocks * kvBlocks) {
      throw new ShapeError(`block map has ${dense.length} entries; expected B·H·qBlocks·kvBlocks = ${shape.B}·${shape.H}·${qBlocks}·${kvBlocks}`);
    }
    return new TableBlockMask(tablesFromClasses(dense, shape.B, shape.H, qBlocks, kvBlocks), shape, maskMod);
  }

  /** Percent of blocks skipped (empty). */
  sparsity(): number {
    const total = this.B * this.H * this.qBlocks * this.kvBlocks;
    let visited = 0;
    for (let i = 0; i < this.kvNumBlocks.length; i++) visited += this.kvNumBlocks[i]! + this.fullKvNumBlocks[i]!;
    return total === 0 ? 0 : (100 * (total - visited)) / total;
  }

  toDense(): Uint8Array {
    return classesFromTables(this);
  }

  /** A picture per (b, h): █ full, ░ partial, space empty (at most 96×96 blocks shown). */
  toString(): string {
    const dense = this.toDense();
    const cap = 96;
    const lines = [`BlockMask ${this.seqLengths[0]}×${this.seqLengths[1]} in ${this.blockSize[0]}×${this.blockSize[1]} blocks, B=${this.B} H=${this.H}, sparsity ${this.sparsity().toFixed(2)}%`];
    for (let p = 0; p < this.B * this.H; p++) {
      if (this.B * this.H > 1) lines.push(`(b=${Math.floor(p / this.H)}, h=${p % this.H})`);
      for (let qb = 0; qb < Math.min(this.qBlocks, cap); qb++) {
        let row = '';
        for (let kb = 0; kb < Math.min(this.kvBlocks, cap); kb++) {
          const c = dense[(p * this.qBlocks + qb) * this.kvBlocks + kb];
          row += c === FULL ? '█' : c === PARTIAL ? '░' : ' ';
        }
        lines.push(`|${row}|${this.kvBlocks > cap ? '…' : ''}`);
      }
      if (this.qBlocks > cap) lines.push(`… ${this.qBlocks - cap} more block rows`);
    }
    return lines.join('\n');
  }
}

export function validateBlockMaskShape(opts: { B?: number; H?: number; qLen: number; kvLen: number; blockSize?: number | [number, number] }): BlockMaskShape {
  const B = opts.B ?? 1;
  const H = opts.H ?? 1;
  const bs = opts.blockSize ?? 128;
  const blockSize: [number, number] = typeof bs === 'number' ? [bs, bs] : [bs[0], bs[1]];
  const positive = (name: string, v: unknown) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ShapeError(`${name} must be a positive integer, got ${String(v)}`);
  };
  positive('B', B);
  positive('H', H);
  positive('qLen', opts.qLen);
  positive('kvLen', opts.kvLen);
  if (!Array.isArray(blockSize) || blockSize.length !== 2) throw new OptionError('blockSize must be a number or [qBlock, kvBlock]');
  positive('blockSize (q)', blockSize[0]);
  positive('blockSize (kv)', blockSize[1]);
  return { B, H, qLen: opts.qLen, kvLen: opts.kvLen, blockSize };
}

/** Classifies one block exactly by evaluating the mask on every element (inclusive-exclusive ranges). */
export function classifyBlockExactly(mask: (b: number, h: number, q: number, kv: number) => unknown, b: number, h: number, q0: number, q1: number, kv0: number, kv1: number): number {
  let any = false;
  let all = true;
  for (let q = q0; q < q1; q++) {
    for (let kv = kv0; kv < kv1; kv++) {
      if (mask(b, h, q, kv)) any = true;
      else all = false;
      if (any && !all) return PARTIAL;
    }
  }
  return all ? FULL : any ? PARTIAL : EMPTY;
}

/** A BlockMask by evaluating the mask on every element — the brute-force oracle (O(B·H·Lq·Lkv)). */
export function blockMaskByEvaluation(maskMod: TracedMod, opts: { B?: number; H?: number; qLen: number; kvLen: number; blockSize?: number | [number, number] }): TableBlockMask {
  const shape = validateBlockMaskShape(opts);
  const fn = compileToJs(maskMod);
  const [bq, bk] = shape.blockSize;
  const qBlocks = ceilDiv(shape.qLen, bq);
  const kvBlocks = ceilDiv(shape.kvLen, bk);
  const dense = new Uint8Array(shape.B * shape.H * qBlocks * kvBlocks);
  let i = 0;
  for (let b = 0; b < shape.B; b++)
    for (let h = 0; h < shape.H; h++)
      for (let qb = 0; qb < qBlocks; qb++)
        for (let kb = 0; kb < kvBlocks; kb++)
          dense[i++] = classifyBlockExactly(fn, b, h, qb * bq, Math.min((qb + 1) * bq, shape.qLen), kb * bk, Math.min((kb + 1) * bk, shape.kvLen));
  return TableBlockMask.fromDense(dense, shape, maskMod);
}

/** The dense element mask [B, H, qLen, kvLen] (1 visible, 0 masked), for tests. */
export function createMask(maskMod: TracedMod, opts: { B?: number; H?: number; qLen: number; kvLen: number }): Uint8Array {
  const shape = validateBlockMaskShape(opts);
  const fn = compileToJs(maskMod);
  const out = new Uint8Array(shape.B * shape.H * shape.qLen * shape.kvLen);
  let i = 0;
  for (let b = 0; b < shape.B; b++)
    for (let h = 0; h < shape.H; h++)
      for (let q = 0; q < shape.qLen; q++) for (let kv = 0; kv < shape.kvLen; kv++) out[i++] = fn(b, h, q, kv) ? 1 : 0;
  return out;
}
