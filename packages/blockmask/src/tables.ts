/**
 * Tables straight from a dense block map, in two cache-friendly passes: the kv-major view row by
 * row, the q-major (transposed) view in column tiles so that each row read touches one cache line
 * and each column list is written sequentially. Planes the mask provably does not vary over are
 * built once and copied.
 */
import type { BlockTables } from '@flexattn/ir';

const COLUMN_TILE = 128;

/**
 * The eight tables as views of ONE buffer (4·(4·cells + 2·rows + 2·cols) bytes): one allocation per
 * mask instead of eight, which also lets the allocator recycle the memory of earlier masks whole
 * (fresh pages are expensive: first touch costs ~10 ms per MB on some VMs). Views carry their
 * byteOffset, as ArrayBufferViews do; never reinterpret `.buffer` alone.
 */
export function allocateTables(B: number, H: number, qBlocks: number, kvBlocks: number): BlockTables {
  const planes = B * H;
  const cells = planes * qBlocks * kvBlocks;
  const rows = planes * qBlocks;
  const cols = planes * kvBlocks;
  const all = new Int32Array(4 * cells + 2 * rows + 2 * cols);
  let at = 0;
  const take = (n: number) => all.subarray(at, (at += n));
  return {
    B, H, qBlocks, kvBlocks,
    kvIndices: take(cells),
    fullKvIndices: take(cells),
    qIndices: take(cells),
    fullQIndices: take(cells),
    kvNumBlocks: take(rows),
    fullKvNumBlocks: take(rows),
    qNumBlocks: take(cols),
    fullQNumBlocks: take(cols),
  };
}

/** Fills plane `p` of `t` from dense[base .. base + qBlocks·kvBlocks). */
export function fillPlane(t: BlockTables, p: number, dense: Uint8Array, base: number): void {
  const { qBlocks, kvBlocks, kvNumBlocks, kvIndices, fullKvNumBlocks, fullKvIndices } = t;
  for (let qb = 0; qb < qBlocks; qb++) {
    const row = base + qb * kvBlocks;
    const r = p * qBlocks + qb;
    const out = r * kvBlocks;
    let np = 0;
    let nf = 0;
    for (let kb = 0; kb < kvBlocks; kb++) {
      const c = dense[row + kb]!;
      if (c === 0) continue;
      if (c === 1) kvIndices[out + np++] = kb;
      else fullKvIndices[out + nf++] = kb;
    }
    kvNumBlocks[r] = np;
    fullKvNumBlocks[r] = nf;
  }
  const { qNumBlocks, qIndices, fullQNumBlocks, fullQIndices } = t;
  const colBase = p * kvBlocks;
  for (let k0 = 0; k0 < kvBlocks; k0 += COLUMN_TILE) {
    const k1 = Math.min(kvBlocks, k0 + COLUMN_TILE);
    for (let qb = 0; qb < qBlocks; qb++) {
      const row = base + qb * kvBlocks;
      for (let kb = k0; kb < k1; kb++) {
        const c = dense[row + kb]!;
        if (c === 0) continue;
        const col = colBase + kb;
        if (c === 1) qIndices[col * qBlocks + qNumBlocks[col]!++] = qb;
        else fullQIndices[col * qBlocks + fullQNumBlocks[col]!++] = qb;
      }
    }
  }
}

/** Copies plane `src` of every table onto plane `dst`. */
export function copyPlane(t: BlockTables, src: number, dst: number): void {
  const { qBlocks, kvBlocks } = t;
  const copy = (a: Int32Array, per: number) => a.copyWithin(dst * per, src * per, (src + 1) * per);
  copy(t.kvNumBlocks, qBlocks);
  copy(t.fullKvNumBlocks, qBlocks);
  copy(t.kvIndices, qBlocks * kvBlocks);
  copy(t.fullKvIndices, qBlocks * kvBlocks);
  copy(t.qNumBlocks, kvBlocks);
  copy(t.fullQNumBlocks, kvBlocks);
  copy(t.qIndices, qBlocks * kvBlocks);
  copy(t.fullQIndices, qBlocks * kvBlocks);
}
