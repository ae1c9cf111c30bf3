/**
 * fromKvBlocks: a BlockMask from tables the user built (PyTorch's BlockMask.from_kv_blocks). The
 * q-major views are derived; every count and index is checked (typed errors naming the row).
 */
import {
  OptionError, ShapeError, ceilDiv, tablesFromClasses, traceMaskMod, validateBlockMaskShape, type MaskMod, type TracedMod,
} from '@flexattn/ir';
import { ClassifiedBlockMask } from './classified';

export interface FromKvBlocksOptions {
  /** Partial blocks per q block, [B, H, qBlocks]. */
  kvNumBlocks: Int32Array | readonly number[];
  /** Partial kv block indices, [B, H, qBlocks, width] (width ≥ the largest count; usually kvBlocks). */
  kvIndices: Int32Array | readonly number[];
  /** Full blocks (omitted: none). */
  fullKvNumBlocks?: Int32Array | readonly number[];
  fullKvIndices?: Int32Array | readonly number[];
  /** [qLen, kvLen]. */
  seqLengths: [number, number];
  /** Square or [q, kv]; default 128. */
  blockSize?: number | [number, number];
  /** Evaluated in partial blocks; omitted: every element of a partial block is visible. */
  maskMod?: MaskMod | TracedMod;
  /** Batch and heads of the tables; omitted: 1 (broadcast). */
  B?: number;
  H?: number;
}

const visibleEverywhere: MaskMod = () => true;

export function fromKvBlocks(opts: FromKvBlocksOptions): ClassifiedBlockMask {
  if (typeof opts !== 'object' || opts === null) throw new OptionError('fromKvBlocks({ kvNumBlocks, kvIndices, seqLengths, ... }): the options object is required');
  for (const key of ['kvNumBlocks', 'kvIndices'] as const) {
    const v = opts[key] as unknown;
    if (!(v instanceof Int32Array) && !Array.isArray(v)) throw new OptionError(`fromKvBlocks: ${key} must be an Int32Array or an array of integers, got ${v === null ? 'null' : typeof v}`);
  }
  if (!Array.isArray(opts.seqLengths) || opts.seqLengths.length !== 2) throw new ShapeError('fromKvBlocks: seqLengths must be [qLen, kvLen]');
  const shape = validateBlockMaskShape({ B: opts.B, H: opts.H, qLen: opts.seqLengths[0], kvLen: opts.seqLengths[1], blockSize: opts.blockSize });
  const traced = traceMaskMod(opts.maskMod ?? visibleEverywhere, opts.maskMod ? {} : { name: 'visibleEverywhere' });
  const { B, H } = shape;
  const qBlocks = ceilDiv(shape.qLen, shape.blockSize[0]);
  const kvBlocks = ceilDiv(shape.kvLen, shape.blockSize[1]);
  const rows = B * H * qBlocks;
  const dense = new Uint8Array(rows * kvBlocks);
  const where = (r: number) => `(b=${Math.floor(r / (H * qBlocks))}, h=${Math.floor(r / qBlocks) % H}, q block ${r % qBlocks})`;

  const mark = (label: string, nums: Int32Array | readonly number[], idx: Int32Array | readonly number[], code: number) => {
    if (nums.length !== rows) {
      throw new ShapeError(`fromKvBlocks: ${label}NumBlocks has ${nums.length} entries; expected B·H·qBlocks = ${B}·${H}·${qBlocks} = ${rows}${opts.B === undefined && opts.H === undefined ? ' (pass B and H for per-batch/per-head tables)' : ''}`);
    }
    if (idx.length % rows !== 0) {
      throw new ShapeError(`fromKvBlocks: ${label}Indices has ${idx.length} entries; expected B·H·qBlocks·width = ${rows}·width (width = kvBlocks = ${kvBlocks} usually)`);
    }
    const width = idx.length / rows;
    for (let r = 0; r < rows; r++) {
      const n = nums[r]!;
      if (!Number.isInteger(n) || n < 0 || n > Math.min(width, kvBlocks)) {
        throw new ShapeError(`fromKvBlocks: ${label}NumBlocks${where(r)} = ${n} is outside [0, ${Math.min(width, kvBlocks)}]`);
      }
      for (let i = 0; i < n; i++) {
        const kb = idx[r * width + i]!;
        if (!Number.isInteger(kb) || kb < 0 || kb >= kvBlocks) {
          throw new ShapeError(`fromKvBlocks: ${label}Indices${where(r)}[${i}] = ${kb} is outside [0, ${kvBlocks - 1}] (kvLen ${shape.kvLen} / block ${shape.blockSize[1]})`);
        }
        const cell = r * kvBlocks + kb;
        if (dense[cell] !== 0) {
          throw new OptionError(`fromKvBlocks: kv block ${kb} is listed twice at ${where(r)}${dense[cell] !== code ? ' (as both partial and full)' : ''}; each block is listed once`);
        }
        dense[cell] = code;
      }
    }
  };
  mark('kv', opts.kvNumBlocks, opts.kvIndices, 1);
  if ((opts.fullKvNumBlocks === undefined) !== (opts.fullKvIndices === undefined)) {
    throw new OptionError('fromKvBlocks: pass fullKvNumBlocks and fullKvIndices together (or neither)');
  }
  if (opts.fullKvNumBlocks && opts.fullKvIndices) mark('fullKv', opts.fullKvNumBlocks, opts.fullKvIndices, 2);

  // resize classifies the blocks new lengths add with the mask mod (visible everywhere by default).
  return new ClassifiedBlockMask(tablesFromClasses(dense, B, H, qBlocks, kvBlocks), shape, { base: traced });
}
