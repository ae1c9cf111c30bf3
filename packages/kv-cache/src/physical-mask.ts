/**
 * Logical BlockMask → physical BlockMask (PyTorch's convert_logical_block_mask): each sequence's
 * visible logical kv blocks become the physical blocks of the pages that hold them, so the ordinary
 * block-sparse kernels visit exactly the pages a sequence owns — and only as far as it has tokens.
 *
 * Block sizes: the physical kv block is g = min(logical kv block, pageSize); one must divide the
 * other. With pageSize = the logical kv block (the default) a logical block is one page; with
 * smaller pages a logical block spans several pages (each gets its class); with larger pages a
 * page holds several logical blocks (contiguous within it).
 *
 * Classes: a logical full block stays full only where every one of its slots holds a written token;
 * the block holding a sequence's last token (its page's unwritten tail) becomes partial, so the mask
 * mod — which hides unwritten slots — runs there. Blocks at or past a sequence's length are dropped.
 * Unlike PyTorch (whose score-mod wrapper must mask the tail of a full block), the physical mask is
 * correct on its own.
 */
import {
  OptionError, ShapeError, TableBlockMask, topoOrder, type BlockMask, type TracedMod,
} from '@flexattn/ir';
import type { PageTable } from './page-table';

const readsBatch = (mod: TracedMod): boolean => topoOrder([mod.root]).some((n) => n.op === 'arg' && n.arg === 'b');

const FULL = 2;
const PARTIAL = 1;

export interface PhysicalShape {
  /** Query batch b reads cache sequence sequences[b] (its length is the physical mask's B). */
  sequences: Int32Array;
  /** The physical kv block g. */
  kvBlock: number;
}

export interface PhysicalOptions {
  batch?: number;
  sequences?: ArrayLike<number>;
}

/** The physical mask's batch, sequences and kv block size, checked against the cache. */
export function physicalShape(logical: BlockMask, table: PageTable, opts: PhysicalOptions): PhysicalShape {
  let { batch } = opts;
  const given = opts.sequences;
  if (given !== undefined) {
    if (typeof given !== 'object' || given === null || !Number.isInteger(given.length) || given.length < 1) throw new OptionError('blockMask(logical, { sequences }): pass the cache sequence of each query batch, e.g. [3] to run sequence 3 alone');
    if (batch !== undefined && batch !== given.length) throw new OptionError(`blockMask(logical, { batch: ${batch}, sequences }): sequences lists ${given.length} sequences; pass one or the other`);
    batch = given.length;
  }
  const bk = logical.blockSize[1];
  const { pageSize, maxBatch } = table;
  if (bk % pageSize !== 0 && pageSize % bk !== 0) {
    throw new OptionError(`the logical mask's kv block (${bk}) and the page size (${pageSize}) must divide one another; build the logical mask with blockSize [${logical.blockSize[0]}, ${pageSize}] (the page size is the default choice)`);
  }
  if (batch !== undefined && (!Number.isInteger(batch) || batch < 1 || batch > maxBatch)) {
    throw new OptionError(`blockMask(logical, { batch }): batch must be an integer in [1, ${maxBatch}], got ${String(batch)}`);
  }
  if (logical.B > 1 && batch !== undefined && batch !== logical.B) {
    throw new ShapeError(`blockMask(logical, { batch: ${batch} }): the logical mask has B=${logical.B}; pass batch ${logical.B} or omit it`);
  }
  if (logical.B > maxBatch) throw new ShapeError(`the logical mask has B=${logical.B} but the cache holds maxBatch = ${maxBatch} sequences`);
  const B = logical.B > 1 ? logical.B : (batch ?? maxBatch);
  if (logical.B === 1 && B > 1 && readsBatch(logical.maskMod)) {
    throw new ShapeError(`the logical mask mod reads b but the mask was built with B: 1 (classified at b = 0 only), and ${B} sequences would share it; build it with B: ${B}`);
  }
  const sequences = given === undefined ? Int32Array.from({ length: B }, (_, b) => b) : Int32Array.from(given);
  sequences.forEach((seq, i) => {
    if (seq !== Number(given?.[i] ?? i)) throw new OptionError(`blockMask: sequences[${i}] = ${String(given?.[i])} is not an integer`);
    table.check(seq);
  });
  return { sequences, kvBlock: Math.min(bk, pageSize) };
}

export function convertLogicalMask(logical: BlockMask, table: PageTable, shape: PhysicalShape, maskMod: TracedMod): TableBlockMask {
  const [bq, bk] = logical.blockSize;
  const [qLen, kvLen] = logical.seqLengths;
  const { pageSize, pages } = table;
  const g = shape.kvBlock;
  const { sequences } = shape;
  const B = sequences.length;
  const { H, qBlocks } = logical;
  const physBlocks = (pages * pageSize) / g;
  for (let b = 0; b < B; b++) {
    const len = table.lengths[sequences[b]!]!;
    if (len > kvLen) {
      throw new ShapeError(`sequence ${sequences[b]} holds ${len} tokens but the logical mask covers kvLen = ${kvLen}; build (or resize) the logical mask for at least ${len} keys — keys past it would have no mask`);
    }
  }
  const dense = new Uint8Array(B * H * qBlocks * physBlocks);
  const subBlocks = bk / g;
  const lists: [Int32Array, Int32Array, number][] = [
    [logical.kvNumBlocks, logical.kvIndices, PARTIAL],
    [logical.fullKvNumBlocks, logical.fullKvIndices, FULL],
  ];
  for (let b = 0; b < B; b++) {
    const seq = sequences[b]!;
    const len = table.lengths[seq]!;
    const srcB = logical.B === 1 ? 0 : b;
    for (let h = 0; h < H; h++) {
      for (let qb = 0; qb < qBlocks; qb++) {
        const row = (srcB * H + h) * qBlocks + qb;
        const out = ((b * H + h) * qBlocks + qb) * physBlocks;
        for (const [nums, indices, cls] of lists) {
          for (let i = 0, n = nums[row]!; i < n; i++) {
            const j = indices[row * logical.kvBlocks + i]!;
            for (let s = 0; s < subBlocks; s++) {
              const start = j * bk + s * g;
              if (start >= len) break;
              const page = table.physicalPage(seq, Math.floor(start / pageSize));
              const block = (page * pageSize + (start % pageSize)) / g;
              dense[out + block] = cls === FULL && start + g <= len ? FULL : PARTIAL;
            }
          }
        }
      }
    }
  }
  return TableBlockMask.fromDense(dense, { B, H, qLen, kvLen: pages * pageSize, blockSize: [bq, g] }, maskMod);
}
