/** The brute-force oracle the tests compare against: every element evaluated (createMask). */
import type { BlockMask, MaskMod, TracedMod } from '@flexattn/ir';
import { createMask } from './index';

export interface Shape { B: number; H: number; qLen: number; kvLen: number; bq: number; bk: number }

/** [B, H, qBlocks, kvBlocks] of 0 empty / 1 partial / 2 full, from the dense element mask. */
export function bruteForceBlocks(mod: MaskMod | TracedMod, s: Shape): Uint8Array {
  const elems = createMask(mod, { B: s.B, H: s.H, qLen: s.qLen, kvLen: s.kvLen });
  const qBlocks = Math.ceil(s.qLen / s.bq);
  const kvBlocks = Math.ceil(s.kvLen / s.bk);
  const out = new Uint8Array(s.B * s.H * qBlocks * kvBlocks);
  for (let p = 0; p < s.B * s.H; p++) {
    for (let qb = 0; qb < qBlocks; qb++) {
      for (let kb = 0; kb < kvBlocks; kb++) {
        let any = false;
        let all = true;
        for (let q = qb * s.bq; q < Math.min(s.qLen, (qb + 1) * s.bq); q++) {
          for (let kv = kb * s.bk; kv < Math.min(s.kvLen, (kb + 1) * s.bk); kv++) {
            if (elems[(p * s.qLen + q) * s.kvLen + kv]) any = true;
            else all = false;
          }
        }
        out[(p * qBlocks + qb) * kvBlocks + kb] = all ? 2 : any ? 1 : 0;
      }
    }
  }
  return out;
}

/** The dense map read back from the q-major (transposed) tables. */
export function denseFromQMajor(m: BlockMask): Uint8Array {
  const qBlocks = Math.ceil(m.seqLengths[0] / m.blockSize[0]);
  const kvBlocks = Math.ceil(m.seqLengths[1] / m.blockSize[1]);
  const out = new Uint8Array(m.B * m.H * qBlocks * kvBlocks);
  for (let p = 0; p < m.B * m.H; p++) {
    for (let kb = 0; kb < kvBlocks; kb++) {
      const col = p * kvBlocks + kb;
      for (let i = 0; i < m.qNumBlocks[col]!; i++) out[(p * qBlocks + m.qIndices[col * qBlocks + i]!) * kvBlocks + kb] = 1;
      for (let i = 0; i < m.fullQNumBlocks[col]!; i++) out[(p * qBlocks + m.fullQIndices[col * qBlocks + i]!) * kvBlocks + kb] = 2;
    }
  }
  return out;
}

/** Index lists ascending, as the tables promise. */
export function listsSorted(m: BlockMask): boolean {
  const qBlocks = Math.ceil(m.seqLengths[0] / m.blockSize[0]);
  const kvBlocks = Math.ceil(m.seqLengths[1] / m.blockSize[1]);
  const sorted = (nums: Int32Array, idx: Int32Array, width: number) => {
    for (let r = 0; r < nums.length; r++) for (let i = 1; i < nums[r]!; i++) if (idx[r * width + i]! <= idx[r * width + i - 1]!) return false;
    return true;
  };
  return sorted(m.kvNumBlocks, m.kvIndices, kvBlocks) && sorted(m.fullKvNumBlocks, m.fullKvIndices, kvBlocks)
    && sorted(m.qNumBlocks, m.qIndices, qBlocks) && sorted(m.fullQNumBlocks, m.fullQIndices, qBlocks);
}

/** First differing block, for readable failures. */
export function firstDifference(a: Uint8Array, b: Uint8Array, s: Shape): string | undefined {
  const qBlocks = Math.ceil(s.qLen / s.bq);
  const kvBlocks = Math.ceil(s.kvLen / s.bk);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      const p = Math.floor(i / (qBlocks * kvBlocks));
      return `plane b=${Math.floor(p / s.H)} h=${p % s.H}, q block ${Math.floor(i / kvBlocks) % qBlocks}, kv block ${i % kvBlocks}: got ${a[i]}, brute force ${b[i]}`;
    }
  }
  return a.length === b.length ? undefined : `lengths ${a.length} vs ${b.length}`;
}
