/**
 * createBlockMask: the BlockMask of a mask mod, built from the IR in time proportional to the blocks
 * (usually far less: see classify.ts), never by evaluating every (q, kv) pair.
 */
import {
  OptionError, allocateBlockTables, argsRead, type ArgsRead, ceilDiv, copyTablesPlane, createMask as irCreateMask, traceMaskMod, validateBlockMaskShape,
  writeTablesPlane, type MaskMod, type TracedMod,
} from '@flexattn/ir';
import { ClassifiedBlockMask } from './classified';
import { PlaneClassifier } from './classify';
import { compileMask } from './compiled';

export interface CreateBlockMaskOptions {
  /** Batch size; omitted: 1 (broadcast over the batch) — refused for a mod that reads b. */
  B?: number;
  /** Heads; omitted: 1 (broadcast over heads) — refused for a mod that reads h. */
  H?: number;
  qLen: number;
  kvLen: number;
  /** Square or [q, kv]; default 128. */
  blockSize?: number | [number, number];
}

/** What a build did, for benchmarks and curiosity. */
export interface BlockMaskBuildStats {
  /** Planes classified (the others were copies: the mask does not read b or h). */
  planesClassified: number;
  /** Interval-analysis calls over boxes. */
  boxes: number;
  /** Blocks that needed the exact path. */
  exactBlocks: number;
  /** Mask evaluations on elements. */
  evaluations: number;
}

let lastStats: BlockMaskBuildStats | undefined;
/** Statistics of the latest createBlockMask call in this process. */
export const lastBuildStats = (): BlockMaskBuildStats | undefined => lastStats;

/**
 * Block-sparse mask of `maskMod` (a MaskMod function or a TracedMod): per block EMPTY (skipped),
 * PARTIAL (mask evaluated per element) or FULL (visible, mask not evaluated) — exact, tails included.
 */
export function createBlockMask(maskMod: MaskMod | TracedMod, opts: CreateBlockMaskOptions): ClassifiedBlockMask {
  const traced = traceMaskMod(maskMod);
  if (typeof opts !== 'object' || opts === null) throw new OptionError('createBlockMask(maskMod, { qLen, kvLen, B?, H?, blockSize? }): the options object is required');
  const shape = validateBlockMaskShape(opts);
  const { B, H, qLen, kvLen } = shape;
  const [bq, bk] = shape.blockSize;
  const qBlocks = ceilDiv(qLen, bq);
  const kvBlocks = ceilDiv(kvLen, bk);

  const reads = argsRead(traced);
  refuseSharedPlanes(reads, opts);
  const compiled = compileMask(traced);
  const bPlanes = reads.b ? B : 1;
  const hPlanes = reads.h ? H : 1;

  const classifier = new PlaneClassifier(compiled.iv, compiled.fn, qLen, kvLen, bq, bk, qBlocks, kvBlocks);
  const tables = allocateBlockTables(B, H, qBlocks, kvBlocks);
  const planeCells = qBlocks * kvBlocks;
  const dense = new Uint8Array(planeCells);
  for (let b = 0; b < bPlanes; b++) {
    for (let h = 0; h < hPlanes; h++) {
      if (b > 0 || h > 0) dense.fill(0);
      classifier.classify(dense, 0, b, h);
      writeTablesPlane(tables, b * H + h, dense, 0);
    }
  }
  // Broadcast the computed planes over what the mask does not read.
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const src = (reads.b ? b : 0) * H + (reads.h ? h : 0);
      const dst = b * H + h;
      if (src !== dst) copyTablesPlane(tables, src, dst);
    }
  }
  lastStats = {
    planesClassified: bPlanes * hPlanes,
    ...classifier.stats,
  };
  return new ClassifiedBlockMask(tables, shape, { base: traced });
}

/**
 * A mask built without B (H) is one plane shared by every batch (head), so its full and empty blocks
 * must hold for every b (h). A mod that reads b (h) can only be classified at one value — and the
 * kernels skip the mask mod in full blocks — so that would be a silent wrong answer for the others:
 * refused, naming the fix. (Classifying over every b with the interval analysis instead would be
 * sound but leave most such masks partial everywhere, a silent slowdown; an explicit B is exact.)
 */
function refuseSharedPlanes(reads: ArgsRead, opts: CreateBlockMaskOptions): void {
  const refuse = (arg: 'b' | 'h', opt: 'B' | 'H', what: string) => {
    throw new OptionError(
      `createBlockMask: the mask mod reads ${arg} but ${opt} was omitted; without ${opt} one plane of blocks is shared by every ${what}, classified at ${arg} = 0 only, so a block full or empty there could be wrong for another ${what} (the kernels skip the mask mod in full blocks). Pass ${opt}: <number of ${what === 'batch' ? 'batches' : 'query heads'}> (${opt}: 1 for exactly one)`,
    );
  };
  if (reads.b && opts.B === undefined) refuse('b', 'B', 'batch');
  if (reads.h && opts.H === undefined) refuse('h', 'H', 'head');
}

/** The dense element mask [B, H, qLen, kvLen] (1 visible, 0 masked) — for tests; O(B·H·Lq·Lkv). */
export function createMask(maskMod: MaskMod | TracedMod, opts: { B?: number; H?: number; qLen: number; kvLen: number }): Uint8Array {
  return irCreateMask(traceMaskMod(maskMod), opts);
}
