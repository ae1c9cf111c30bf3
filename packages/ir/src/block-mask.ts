/**
 * The BlockMask data layout — here in ir so that backends need only ir. A block mask splits the
 * (q, kv) plane into blocks and says which are empty (skipped), partial (the mask is evaluated per
 * element) or full (visible without evaluating the mask), per batch and head (B/H of 1 broadcast).
 * Tables follow PyTorch: per q block the partial kv blocks (kvNumBlocks/kvIndices) and the full ones
 * (fullKv*); the q-major transposes (q*) serve the backward pass.
 */
import { OptionError, ShapeError } from './errors';
import { compileToJs } from './evaluate';
import type { TracedMod } from './trace';

export const EMPTY = 0;
export const PARTIAL = 1;
export const FULL = 2;

export interface BlockTables {
  B: number;
  H: number;
  qBlocks: number;
  kvBlocks: number;
  kvNumBlocks: Int32Array; // [B, H, qBlocks]
  kvIndices: Int32Array; // [B, H, qBlocks, kvBlocks]
  fullKvNumBlocks: Int32Array;
  fullKvIndices: Int32Array;
  qNumBlocks: Int32Array; // [B, H, kvBlocks]
  qIndices: Int32Array; // [B, H, kvBlocks, qBlocks]
  fullQNumBlocks: Int32Array;
  fullQIndices: Int32Array;
}

export interface BlockMask extends BlockTables {
  seqLengths: [number, number];
  blockSize: [number, number];
  maskMod: TracedMod;
  sparsity(): number;
  toDense(): Uint8Array;
  toString(): string;
}

/** Builds both views of the tables from a dense [B, H, qBlocks, kvBlocks] map of EMPTY/PARTIAL/FULL. */
export function tablesFromDense(dense: Uint8Array, B: number, H: number, qBlocks: number, kvBlocks: number): BlockTables {
  const planes = B * H;
  const kvNumBlocks = new Int32Array(planes * qBlocks);
  const kvIndices = new Int32Array(planes * qBlocks * kvBlocks);
  const fullKvNumBlocks = new Int32Array(planes * qBlocks);
  const fullKvIndices = new Int32Array(planes * qBlocks * kvBlocks);
  const qNumBlocks = new Int32Array(planes * kvBlocks);
  const qIndices = new Int32Array(planes * kvBlocks * qBlocks);
  const fullQNumBlocks = new Int32Array(planes * kvBlocks);
  const fullQIndices = new Int32Array(planes * kvBlocks * qBlocks);
  for (let p = 0; p < planes; p++) {
    for (let qb = 0; qb < qBlocks; qb++) {
      const row = (p * qBlocks + qb) * kvBlocks;
      let np = 0;
      let nf = 0;
      for (let kb = 0; kb < kvBlocks; kb++) {
        const c = dense[row + kb];
        if (c === PARTIAL) kvIndices[row + np++] = kb;
        else if (c === FULL) fullKvIndices[row + nf++] = kb;
        if (c === PARTIAL || c === FULL) {
          const col = p * kvBlocks + kb;
          if (c === PARTIAL) qIndices[col * qBlocks + qNumBlocks[col]!++] = qb;
          else fullQIndices[col * qBlocks + fullQNumBlocks[col]!++] = qb;
        }
      }
      kvNumBlocks[p * qBlocks + qb] = np;
      fullKvNumBlocks[p * qBlocks + qb] = nf;
    }
  }
  return { B, H, qBlocks, kvBlocks, kvNumBlocks, kvIndices, fullKvNumBlocks, fullKvIndices, qNumBlocks, qIndices, fullQNumBlocks, fullQIndices };
}

/** The dense map back from the kv-major tables. */
export function denseFromTables(t: BlockTables): Uint8Array {
  const dense = new Uint8Array(t.B * t.H * t.qBlocks * t.kvBlocks);
  for (let r = 0; r < t.B * t.H * t.qBlocks; r++) {
    const base = r * t.kvBlocks;
    for (let i = 0; i < t.kvNumBlocks[r]!; i++) dense[base + t.kvIndices[base + i]!] = PARTIAL;
    for (let i = 0; i < t.fullKvNumBlocks[r]!; i++) dense[base + t.fullKvIndices[base + i]!] = FULL;
  }
  return dense;
}

export interface BlockMaskShape {
  B: number;
  H: number;
  qLen: number;
  kvLen: number;
  blockSize: [number, number];
}

export const ceilDiv = (a: number, b: number): number => Math.floor((a + b - 1) / b);

/** The standard BlockMask object over a set of tables. */
export class TableBlockMask implements BlockMask {
  readonly seqLengths: [number, number];
  readonly blockSize: [number, number];
  readonly B: number;
  readonly H: number;
  readonly qBlocks: number;
  readonly kvBlocks: number;
  readonly kvNumBlocks: Int32Array;
  readonly kvIndices: Int32Array;
  readonly fullKvNumBlocks: Int32Array;
  readonly fullKvIndices: Int32Array;
  readonly qNumBlocks: Int32Array;
  readonly qIndices: Int32Array;
  readonly fullQNumBlocks: Int32Array;
  readonly fullQIndices: Int32Array;

  constructor(
    tables: BlockTables,
    shape: BlockMaskShape,
    readonly maskMod: TracedMod,
  ) {
    this.seqLengths = [shape.qLen, shape.kvLen];
    this.blockSize = [...shape.blockSize];
    this.B = tables.B;
    this.H = tables.H;
    this.qBlocks = tables.qBlocks;
    this.kvBlocks = tables.kvBlocks;
    this.kvNumBlocks = tables.kvNumBlocks;
    this.kvIndices = tables.kvIndices;
    this.fullKvNumBlocks = tables.fullKvNumBlocks;
    this.fullKvIndices = tables.fullKvIndices;
    this.qNumBlocks = tables.qNumBlocks;
    this.qIndices = tables.qIndices;
    this.fullQNumBlocks = tables.fullQNumBlocks;
    this.fullQIndices = tables.fullQIndices;
  }

  static fromDense(dense: Uint8Array, shape: BlockMaskShape, maskMod: TracedMod): TableBlockMask {
    const qBlocks = ceilDiv(shape.qLen, shape.blockSize[0]);
    const kvBlocks = ceilDiv(shape.kvLen, shape.blockSize[1]);
    if (dense.length !== shape.B * shape.H * qBlocks * kvBlocks) {
      throw new ShapeError(`block map has ${dense.length} entries; expected B·H·qBlocks·kvBlocks = ${shape.B}·${shape.H}·${qBlocks}·${kvBlocks}`);
    }
    return new TableBlockMask(tablesFromDense(dense, shape.B, shape.H, qBlocks, kvBlocks), shape, maskMod);
  }

  /** Percent of blocks skipped (empty). */
  sparsity(): number {
    const total = this.B * this.H * this.qBlocks * this.kvBlocks;
    let visited = 0;
    for (let i = 0; i < this.kvNumBlocks.length; i++) visited += this.kvNumBlocks[i]! + this.fullKvNumBlocks[i]!;
    return total === 0 ? 0 : (100 * (total - visited)) / total;
  }

  toDense(): Uint8Array {
    return denseFromTables(this);
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

const reblockCache = new WeakMap<BlockMask, Map<string, BlockTables>>();

/**
 * The mask's tables in a kernel's own tile units (tileQ × tileKv). A tile is full when every mask
 * block it overlaps is full, empty when all are empty, partial otherwise. When tiles subdivide the
 * mask's blocks this is exact; when a tile spans several blocks, mixed full/partial tiles become
 * partial (the mask is then evaluated where the BlockMask said full — equal for any consistent mask).
 */
export function reblock(mask: BlockMask, tileQ: number, tileKv: number): BlockTables {
  let perMask = reblockCache.get(mask);
  if (!perMask) reblockCache.set(mask, (perMask = new Map()));
  const key = `${tileQ}x${tileKv}`;
  const hit = perMask.get(key);
  if (hit) return hit;
  const [qLen, kvLen] = mask.seqLengths;
  const [bq, bk] = mask.blockSize;
  const qBlocks = ceilDiv(qLen, bq);
  const kvBlocks = ceilDiv(kvLen, bk);
  let tables: BlockTables;
  if (tileQ === bq && tileKv === bk) {
    tables = mask;
  } else {
    const src = mask.toDense();
    const qTiles = ceilDiv(qLen, tileQ);
    const kvTiles = ceilDiv(kvLen, tileKv);
    const dense = new Uint8Array(mask.B * mask.H * qTiles * kvTiles);
    for (let p = 0; p < mask.B * mask.H; p++) {
      for (let qt = 0; qt < qTiles; qt++) {
        const qb0 = Math.floor((qt * tileQ) / bq);
        const qb1 = Math.min(qBlocks - 1, Math.floor((Math.min(qLen, (qt + 1) * tileQ) - 1) / bq));
        for (let kt = 0; kt < kvTiles; kt++) {
          const kb0 = Math.floor((kt * tileKv) / bk);
          const kb1 = Math.min(kvBlocks - 1, Math.floor((Math.min(kvLen, (kt + 1) * tileKv) - 1) / bk));
          let anyVisible = false;
          let allFull = true;
          for (let qb = qb0; qb <= qb1; qb++) {
            for (let kb = kb0; kb <= kb1; kb++) {
              const c = src[(p * qBlocks + qb) * kvBlocks + kb];
              if (c !== EMPTY) anyVisible = true;
              if (c !== FULL) allFull = false;
            }
          }
          dense[(p * qTiles + qt) * kvTiles + kt] = allFull ? FULL : anyVisible ? PARTIAL : EMPTY;
        }
      }
    }
    tables = tablesFromDense(dense, mask.B, mask.H, qTiles, kvTiles);
  }
  perMask.set(key, tables);
  return tables;
}
