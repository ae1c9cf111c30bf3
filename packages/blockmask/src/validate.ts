/**
 * validateBlockMask: is a BlockMask consistent — tables well formed, the q-major view the transpose
 * of the kv-major one, and every FULL / EMPTY claim true of the mask mod element by element? For
 * tests and debugging (O(B·H·Lq·Lkv) evaluations in the worst case).
 */
import { compileToJs, type BlockMask } from '@flexattn/ir';
import { EMPTY, FULL, PARTIAL } from '@flexattn/ir';

export type BlockMaskProblemKind =
  | 'shape' // a table has the wrong length
  | 'count' // a block count outside [0, blocks]
  | 'index' // an index outside [0, blocks)
  | 'duplicate' // a block listed twice in a row (or as both partial and full)
  | 'transpose' // the q-major view disagrees with the kv-major one
  | 'full-not-full' // a block claimed FULL holds a masked element
  | 'empty-not-empty' // a block left EMPTY holds a visible element
  | 'partial-uniform'; // (tight only) a PARTIAL block is in fact all visible or all masked

export interface BlockMaskProblem {
  kind: BlockMaskProblemKind;
  message: string;
  b?: number;
  h?: number;
  qBlock?: number;
  kvBlock?: number;
  /** A witness element for the semantic problems. */
  q?: number;
  kv?: number;
}

export interface BlockMaskValidation {
  ok: boolean;
  problems: BlockMaskProblem[];
}

export interface ValidateBlockMaskOptions {
  /** Also report PARTIAL blocks that are in fact uniform (not wrong, only slower). Default false. */
  tight?: boolean;
  /** Stop collecting after this many problems. Default 100. */
  maxProblems?: number;
}

export function validateBlockMask(mask: BlockMask, opts: ValidateBlockMaskOptions = {}): BlockMaskValidation {
  const maxProblems = opts.maxProblems ?? 100;
  const problems: BlockMaskProblem[] = [];
  const add = (p: BlockMaskProblem) => {
    if (problems.length < maxProblems) problems.push(p);
  };
  const [qLen, kvLen] = mask.seqLengths;
  const [bq, bk] = mask.blockSize;
  const qBlocks = Math.ceil(qLen / bq);
  const kvBlocks = Math.ceil(kvLen / bk);
  const { B, H } = mask;
  const planes = B * H;
  const at = (p: number) => ({ b: Math.floor(p / H), h: p % H });

  const expect = (name: string, a: Int32Array, n: number) => {
    if (a.length !== n) add({ kind: 'shape', message: `${name} has ${a.length} entries; expected ${n}` });
    return a.length === n;
  };
  const cells = planes * qBlocks * kvBlocks;
  const shapesOk = [
    expect('kvNumBlocks', mask.kvNumBlocks, planes * qBlocks), expect('fullKvNumBlocks', mask.fullKvNumBlocks, planes * qBlocks),
    expect('kvIndices', mask.kvIndices, cells), expect('fullKvIndices', mask.fullKvIndices, cells),
    expect('qNumBlocks', mask.qNumBlocks, planes * kvBlocks), expect('fullQNumBlocks', mask.fullQNumBlocks, planes * kvBlocks),
    expect('qIndices', mask.qIndices, cells), expect('fullQIndices', mask.fullQIndices, cells),
  ].every(Boolean);
  if (!shapesOk) return { ok: false, problems };

  /** Reads one view into a dense map, reporting bad counts, indices and duplicates. */
  const readView = (major: 'kv' | 'q'): Uint8Array => {
    const dense = new Uint8Array(cells);
    const [outer, inner] = major === 'kv' ? [qBlocks, kvBlocks] : [kvBlocks, qBlocks];
    const lists: [string, Int32Array, Int32Array, number][] = major === 'kv'
      ? [['kv', mask.kvNumBlocks, mask.kvIndices, PARTIAL], ['fullKv', mask.fullKvNumBlocks, mask.fullKvIndices, FULL]]
      : [['q', mask.qNumBlocks, mask.qIndices, PARTIAL], ['fullQ', mask.fullQNumBlocks, mask.fullQIndices, FULL]];
    for (const [name, nums, idx, code] of lists) {
      for (let r = 0; r < planes * outer; r++) {
        const p = Math.floor(r / outer);
        const o = r % outer;
        const n = nums[r]!;
        const where = { ...at(p), [major === 'kv' ? 'qBlock' : 'kvBlock']: o };
        if (n < 0 || n > inner) {
          add({ kind: 'count', message: `${name}NumBlocks = ${n} at ${JSON.stringify(where)} is outside [0, ${inner}]`, ...where });
          continue;
        }
        for (let i = 0; i < n; i++) {
          const x = idx[r * inner + i]!;
          if (x < 0 || x >= inner) {
            add({ kind: 'index', message: `${name}Indices[${i}] = ${x} at ${JSON.stringify(where)} is outside [0, ${inner - 1}]`, ...where });
            continue;
          }
          const [qb, kb] = major === 'kv' ? [o, x] : [x, o];
          const cell = (p * qBlocks + qb) * kvBlocks + kb;
          if (dense[cell] !== EMPTY) {
            add({ kind: 'duplicate', message: `${major}-major view lists block (q ${qb}, kv ${kb}) of ${JSON.stringify(at(p))} twice`, ...at(p), qBlock: qb, kvBlock: kb });
          }
          dense[cell] = code;
        }
      }
    }
    return dense;
  };
  const kvView = readView('kv');
  const qView = readView('q');
  for (let i = 0; i < cells; i++) {
    if (kvView[i] !== qView[i]) {
      const p = Math.floor(i / (qBlocks * kvBlocks));
      const qb = Math.floor(i / kvBlocks) % qBlocks;
      const kb = i % kvBlocks;
      const name = (c: number) => (c === FULL ? 'full' : c === PARTIAL ? 'partial' : 'empty');
      add({ kind: 'transpose', message: `block (q ${qb}, kv ${kb}) of ${JSON.stringify(at(p))} is ${name(kvView[i]!)} in the kv-major view but ${name(qView[i]!)} in the q-major view`, ...at(p), qBlock: qb, kvBlock: kb });
    }
  }

  const fn = compileToJs(mask.maskMod);
  for (let p = 0; p < planes && problems.length < maxProblems; p++) {
    const { b, h } = at(p);
    for (let qb = 0; qb < qBlocks; qb++) {
      for (let kb = 0; kb < kvBlocks; kb++) {
        const claim = kvView[(p * qBlocks + qb) * kvBlocks + kb]!;
        if (claim === PARTIAL && !opts.tight) continue;
        let witness: [number, number] | undefined;
        let any = false;
        let all = true;
        const q1 = Math.min(qLen, (qb + 1) * bq);
        const k1 = Math.min(kvLen, (kb + 1) * bk);
        scan: for (let q = qb * bq; q < q1; q++) {
          for (let kv = kb * bk; kv < k1; kv++) {
            const v = !!fn(b, h, q, kv);
            if (v) any = true;
            else all = false;
            if ((claim === FULL && !v) || (claim === EMPTY && v)) {
              witness = [q, kv];
              break scan;
            }
            if (claim === PARTIAL && any && !all) break scan;
          }
        }
        const where = { b, h, qBlock: qb, kvBlock: kb };
        if (witness && claim === FULL) {
          add({ kind: 'full-not-full', message: `block (q ${qb}, kv ${kb}) of (b=${b}, h=${h}) is claimed full but the mask is false at (q ${witness[0]}, kv ${witness[1]})`, ...where, q: witness[0], kv: witness[1] });
        } else if (witness && claim === EMPTY) {
          add({ kind: 'empty-not-empty', message: `block (q ${qb}, kv ${kb}) of (b=${b}, h=${h}) is empty but the mask is true at (q ${witness[0]}, kv ${witness[1]})`, ...where, q: witness[0], kv: witness[1] });
        } else if (claim === PARTIAL && (all || !any)) {
          add({ kind: 'partial-uniform', message: `block (q ${qb}, kv ${kb}) of (b=${b}, h=${h}) is partial but the mask is ${all ? 'true' : 'false'} on all of it`, ...where });
        }
      }
    }
  }
  return { ok: problems.length === 0, problems };
}
