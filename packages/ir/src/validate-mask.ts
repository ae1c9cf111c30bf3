/**
 * Validation of the `blockMask` option: a BlockMask object (not a mask mod function, not a tensor)
 * built for these lengths, whose tables have the sizes its shape implies, whose indices are in
 * range, and whose q-major tables (read by backward kernels) are the transpose of the kv-major ones
 * (read by forward kernels). A kernel trusts these tables for its memory accesses, so a bad table
 * must be an error here, never an out-of-bounds read. Tables are checked once per mask object.
 */
import { type BlockMask, ceilDiv, EMPTY, FULL, PARTIAL } from './block-mask';
import { OptionError, ShapeError } from './errors';
import { argsRead } from './args-read';
import { TracedMod } from './trace';

const BUILD = 'build it with createBlockMask(maskMod, { qLen, kvLen }) from @flexattn/blockmask';
const checked = new WeakSet<object>();

const positiveInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 1;

function pair(name: string, x: unknown): [number, number] {
  if (!Array.isArray(x) || x.length !== 2 || !positiveInt(x[0]) || !positiveInt(x[1])) {
    throw new OptionError(`blockMask.${name} must be two positive integers, got ${Array.isArray(x) ? `[${x.join(', ')}]` : String(x)}; ${BUILD}`);
  }
  return [x[0], x[1]];
}

function table(mask: Record<string, unknown>, name: string, length: number): Int32Array {
  const t = mask[name];
  if (!(t instanceof Int32Array)) throw new OptionError(`blockMask.${name} must be an Int32Array; ${BUILD}`);
  if (t.length !== length) throw new ShapeError(`blockMask.${name} has ${t.length} entries; its shape needs ${length}; ${BUILD}`);
  return t;
}

/**
 * Fills `dense` ([planes, outer, inner], indexed as dense[plane][row][col] with `transpose` swapping
 * the roles) from one pair of count/index tables; a duplicate or out-of-range entry is an error.
 */
function scatter(dense: Uint8Array, nums: Int32Array, idx: Int32Array, cls: number, outer: number, inner: number, transpose: boolean, what: string): void {
  for (let r = 0; r < nums.length; r++) {
    const n = nums[r]!;
    if (n < 0 || n > inner) throw new ShapeError(`blockMask.${what}: count ${n} at ${r} is outside [0, ${inner}]; ${BUILD}`);
    const plane = Math.floor(r / outer);
    const row = r % outer;
    for (let i = 0; i < n; i++) {
      const col = idx[r * inner + i]!;
      if (col < 0 || col >= inner) throw new ShapeError(`blockMask.${what}: block index ${col} is outside [0, ${inner}); ${BUILD}`);
      const [qb, kb] = transpose ? [col, row] : [row, col];
      const at = (plane * (transpose ? inner : outer) + qb) * (transpose ? outer : inner) + kb;
      if (dense[at] !== EMPTY) throw new ShapeError(`blockMask.${what}: block (${qb}, ${kb}) is listed twice; ${BUILD}`);
      dense[at] = cls;
    }
  }
}

/**
 * The tables of `mask` against its shape: sizes, counts and indices in range, no block listed twice,
 * the q-major views the transpose of the kv-major ones. Also run by tileTables on every conversion
 * (tables may have been changed in place since the first call checked them).
 */
export function checkBlockMaskTables(mask: BlockMask): void {
  const m = mask as unknown as Record<string, unknown>;
  const [qLen, kvLen] = mask.seqLengths;
  const [bq, bk] = mask.blockSize;
  const qBlocks = ceilDiv(qLen, bq);
  const kvBlocks = ceilDiv(kvLen, bk);
  if (mask.qBlocks !== qBlocks || mask.kvBlocks !== kvBlocks) {
    throw new ShapeError(`blockMask has ${String(mask.qBlocks)} × ${String(mask.kvBlocks)} blocks; lengths ${qLen} × ${kvLen} in ${bq} × ${bk} blocks need ${qBlocks} × ${kvBlocks}; ${BUILD}`);
  }
  const planes = mask.B * mask.H;
  const cells = planes * qBlocks * kvBlocks;
  const kvMajor = new Uint8Array(cells);
  scatter(kvMajor, table(m, 'kvNumBlocks', planes * qBlocks), table(m, 'kvIndices', cells), PARTIAL, qBlocks, kvBlocks, false, 'kvIndices');
  scatter(kvMajor, table(m, 'fullKvNumBlocks', planes * qBlocks), table(m, 'fullKvIndices', cells), FULL, qBlocks, kvBlocks, false, 'fullKvIndices');
  const qMajor = new Uint8Array(cells);
  scatter(qMajor, table(m, 'qNumBlocks', planes * kvBlocks), table(m, 'qIndices', cells), PARTIAL, kvBlocks, qBlocks, true, 'qIndices');
  scatter(qMajor, table(m, 'fullQNumBlocks', planes * kvBlocks), table(m, 'fullQIndices', cells), FULL, kvBlocks, qBlocks, true, 'fullQIndices');
  for (let i = 0; i < cells; i++) {
    if (kvMajor[i] !== qMajor[i]) throw new ShapeError(`blockMask: the q-major tables (backward) disagree with the kv-major ones (forward); ${BUILD}`);
  }
}

/**
 * Checks the `blockMask` option for a problem of lengths Lq × Lkv, batch B and Hq query heads;
 * returns it typed. Undefined stays undefined.
 */
export function checkBlockMask(mask: unknown, Lq: number, Lkv: number, B: number, Hq: number): BlockMask | undefined {
  if (mask === undefined) return undefined;
  if (typeof mask === 'function') throw new OptionError(`blockMask is a function; pass a BlockMask built from it: createBlockMask(maskMod, { qLen: ${Lq}, kvLen: ${Lkv} }) from @flexattn/blockmask`);
  if (typeof mask !== 'object' || mask === null) throw new OptionError(`blockMask must be a BlockMask, got ${mask === null ? 'null' : typeof mask}; ${BUILD}`);
  const m = mask as BlockMask;
  if ('data' in m || !('seqLengths' in m)) throw new OptionError(`blockMask must be a BlockMask (tables and a mask mod), not a tensor or another object; ${BUILD}`);
  const [mq, mk] = pair('seqLengths', m.seqLengths);
  pair('blockSize', m.blockSize);
  if (!positiveInt(m.B) || !positiveInt(m.H)) throw new OptionError(`blockMask.B and .H must be positive integers, got ${String(m.B)}, ${String(m.H)}; ${BUILD}`);
  if (mq !== Lq || mk !== Lkv) throw new ShapeError(`the block mask was built for qLen=${mq}, kvLen=${mk} but q/k have Lq=${Lq}, Lkv=${Lkv}; rebuild it with createBlockMask(mask, { qLen: ${Lq}, kvLen: ${Lkv} })`);
  if (m.B !== 1 && m.B !== B) throw new ShapeError(`the block mask has B=${m.B}; it must be 1 (broadcast) or the batch size ${B}`);
  if (m.H !== 1 && m.H !== Hq) throw new ShapeError(`the block mask has H=${m.H}; it must be 1 (broadcast) or the number of query heads ${Hq}`);
  if (!TracedMod.isTracedMod(m.maskMod) || m.maskMod.kind !== 'mask') throw new OptionError('blockMask.maskMod must be a traced mask mod');
  checkSharedPlanes(m, B, Hq);
  if (!checked.has(m)) {
    checkBlockMaskTables(m);
    checked.add(m);
  }
  return m;
}

/**
 * A mask with B = 1 (H = 1) is shared by every batch (head), so its FULL and EMPTY blocks must hold
 * for every b (h). When its mod reads b (h), one plane cannot say that — createBlockMask classified
 * it at b = 0 (h = 0) — and the kernels skip the mask mod in full blocks: a silent wrong answer for
 * the other batches. Refused here, before any work, naming the fix.
 */
function checkSharedPlanes(m: BlockMask, B: number, Hq: number): void {
  if ((m.B !== 1 || B === 1) && (m.H !== 1 || Hq === 1)) return;
  const reads = argsRead(m.maskMod);
  const refuse = (arg: 'b' | 'h', what: string, n: number, opt: 'B' | 'H') => {
    throw new ShapeError(
      `the block mask has ${opt}=1 (one plane shared by all ${n} ${what}) but its mask mod reads ${arg}: its blocks were classified for ${arg} = 0 only, and a block full or empty there need not be for ${arg} = 1..${n - 1} (the kernels skip the mask mod in full blocks); build it with createBlockMask(maskMod, { ${opt}: ${n}, ... })`,
    );
  };
  if (m.B === 1 && B > 1 && reads.b) refuse('b', 'batches', B, 'B');
  if (m.H === 1 && Hq > 1 && reads.h) refuse('h', 'query heads', Hq, 'H');
}
