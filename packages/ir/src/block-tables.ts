/**
 * Block tables: the lists a block-sparse kernel walks. Per row of blocks (a q block) the partial kv
 * blocks and the full ones (PyTorch's kv-major view, read by forward kernels), and per column the
 * same transposed (the q-major view, read by backward kernels that own a kv block). One layout serves
 * a user's BlockMask (blocks of its block size) and a kernel's tile tables (blocks of the kernel's
 * tile shape, tile-tables.ts).
 *
 * `writeTablesPlane` is THE conversion from block classes to tables; everything that builds tables
 * (createBlockMask, fromKvBlocks, TableBlockMask.fromDense, tile tables) goes through it.
 */

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

/**
 * Tables whose eight views lie in ONE Int32Array, `storage` (4·cells + 2·rows + 2·cols words): one
 * allocation instead of eight (fresh pages are expensive: first touch costs ~10 ms per MB on some
 * VMs). The kv-major views come first and the q-major ones after, each group contiguous, so a kernel
 * takes the view it walks as one buffer (`tablesView`).
 */
export interface PackedBlockTables extends BlockTables {
  readonly storage: Int32Array;
}

export const ceilDiv = (a: number, b: number): number => Math.floor((a + b - 1) / b);

/** Zeroed tables for B·H planes of qBlocks × kvBlocks, all views in one allocation. */
export function allocateBlockTables(B: number, H: number, qBlocks: number, kvBlocks: number): PackedBlockTables {
  const planes = B * H;
  const cells = planes * qBlocks * kvBlocks;
  const rows = planes * qBlocks;
  const cols = planes * kvBlocks;
  const storage = new Int32Array(4 * cells + 2 * rows + 2 * cols);
  const { buffer } = storage;
  let at = 0;
  // a view by constructor, not subarray(): subarray goes through the species lookup and costs about
  // as much as a small table's whole fill (a decode step makes these every token)
  const take = (n: number) => {
    const view = new Int32Array(buffer, 4 * at, n);
    at += n;
    return view;
  };
  return {
    B, H, qBlocks, kvBlocks, storage,
    kvIndices: take(cells),
    fullKvIndices: take(cells),
    kvNumBlocks: take(rows),
    fullKvNumBlocks: take(rows),
    qIndices: take(cells),
    fullQIndices: take(cells),
    qNumBlocks: take(cols),
    fullQNumBlocks: take(cols),
  };
}

/** The kv-major half of BlockTables (what forward kernels read). */
export type KvMajorTables = Pick<BlockTables, 'B' | 'H' | 'qBlocks' | 'kvBlocks' | 'kvNumBlocks' | 'kvIndices' | 'fullKvNumBlocks' | 'fullKvIndices'>;
/** The q-major half (what backward kernels that own a kv block read). */
export type QMajorViews = Pick<BlockTables, 'qNumBlocks' | 'qIndices' | 'fullQNumBlocks' | 'fullQIndices'>;

/**
 * Small tables (a decode step's row: 2 KiB at L = 32k) are carved from a shared 64 KiB buffer, used
 * once front to back (fresh memory is zero) and replaced when full: a new typed array's backing store
 * costs more than the rest of a decode step, and sixteen or more steps share one here. The price: a
 * live small mask keeps its whole buffer (at most 64 KiB) alive, and a mask table's `.buffer` is
 * shared — never transfer or detach it (no code here does).
 */
const POOL_BYTES = 1 << 16;
const POOLED_MAX_BYTES = 1 << 12;
let pool = new ArrayBuffer(POOL_BYTES);
let poolUsed = 0;

/** Zeroed room for `bytes` (a multiple of 4): from the pool when small, else a buffer of its own. */
function zeroedWords(bytes: number): { buffer: ArrayBuffer; at: number } {
  if (bytes > POOLED_MAX_BYTES) return { buffer: new ArrayBuffer(bytes), at: 0 };
  if (poolUsed + bytes > POOL_BYTES) {
    pool = new ArrayBuffer(POOL_BYTES);
    poolUsed = 0;
  }
  const at = poolUsed;
  poolUsed += bytes;
  return { buffer: pool, at };
}

/**
 * Two lists of `cells` words and two counts of `counts` words, zeroed, side by side (views by
 * constructor: subarray costs more): one half of the tables.
 */
function halfTables(cells: number, counts: number): [Int32Array, Int32Array, Int32Array, Int32Array] {
  const { buffer, at } = zeroedWords(4 * (2 * cells + 2 * counts));
  return [
    new Int32Array(buffer, at, cells),
    new Int32Array(buffer, at + 4 * cells, cells),
    new Int32Array(buffer, at + 8 * cells, counts),
    new Int32Array(buffer, at + 8 * cells + 4 * counts, counts),
  ];
}

/** Zeroed kv-major tables alone (a mask that builds its q-major view only when it is read). */
export function allocateKvMajor(B: number, H: number, qBlocks: number, kvBlocks: number): KvMajorTables {
  const rows = B * H * qBlocks;
  const [kvIndices, fullKvIndices, kvNumBlocks, fullKvNumBlocks] = halfTables(rows * kvBlocks, rows);
  return { B, H, qBlocks, kvBlocks, kvIndices, fullKvIndices, kvNumBlocks, fullKvNumBlocks };
}

/** The q-major view of kv-major tables: their transpose, in one new allocation. */
export function qMajorOf(t: KvMajorTables): QMajorViews {
  const planes = t.B * t.H;
  const [qIndices, fullQIndices, qNumBlocks, fullQNumBlocks] = halfTables(planes * t.qBlocks * t.kvBlocks, planes * t.kvBlocks);
  const q = { qIndices, fullQIndices, qNumBlocks, fullQNumBlocks };
  const whole = { ...t, ...q };
  for (let p = 0; p < planes; p++) writeQMajorPlane(whole, p);
  return q;
}

/** Where `view` starts inside `storage`, in words. */
export const offsetIn = (storage: Int32Array, view: Int32Array): number => (view.byteOffset - storage.byteOffset) / 4;

/**
 * One view of packed tables as a kernel takes it: `words` (one contiguous stretch of the storage, to
 * upload as one buffer) and the word offsets of its four lists inside it. 'kv-major' (forward, dQ):
 * `outer` rows of q blocks list up to `inner` kv blocks; 'q-major' (dK/dV): rows of kv blocks list q
 * blocks. `mB`, `mH`: the planes (1 = broadcast).
 */
export interface TablesView {
  words: Int32Array;
  numBlocks: number;
  indices: number;
  fullNumBlocks: number;
  fullIndices: number;
  mB: number;
  mH: number;
  outer: number;
  inner: number;
}

export function tablesView(t: PackedBlockTables, view: 'kv-major' | 'q-major'): TablesView {
  const [num, idx, fullNum, fullIdx] = view === 'kv-major'
    ? [t.kvNumBlocks, t.kvIndices, t.fullKvNumBlocks, t.fullKvIndices]
    : [t.qNumBlocks, t.qIndices, t.fullQNumBlocks, t.fullQIndices];
  const at = (v: Int32Array) => offsetIn(t.storage, v);
  const start = Math.min(at(num), at(idx), at(fullNum), at(fullIdx));
  const end = Math.max(...[num, idx, fullNum, fullIdx].map((v) => at(v) + v.length));
  return {
    words: t.storage.subarray(start, end),
    numBlocks: at(num) - start, indices: at(idx) - start, fullNumBlocks: at(fullNum) - start, fullIndices: at(fullIdx) - start,
    mB: t.B, mH: t.H,
    outer: view === 'kv-major' ? t.qBlocks : t.kvBlocks,
    inner: view === 'kv-major' ? t.kvBlocks : t.qBlocks,
  };
}

/** The q-major view is written in column strips this wide, so each strip's lists stay in cache. */
const COLUMN_STRIP = 128;

/**
 * The one converter: plane `p` of `t` (both views) from the block classes (EMPTY / PARTIAL / FULL)
 * at classes[offset .. offset + qBlocks·kvBlocks), row-major. The plane's counts must be zero on
 * entry (fresh tables are). Lists come out ascending. Two cache-friendly passes: the kv-major view
 * row by row, the q-major one in column strips.
 */
export function writeTablesPlane(t: BlockTables, p: number, classes: Uint8Array, offset: number): void {
  const { qBlocks, kvBlocks, kvNumBlocks, kvIndices, fullKvNumBlocks, fullKvIndices } = t;
  for (let qb = 0; qb < qBlocks; qb++) {
    const src = offset + qb * kvBlocks;
    const r = p * qBlocks + qb;
    const out = r * kvBlocks;
    let np = 0;
    let nf = 0;
    for (let kb = 0; kb < kvBlocks; kb++) {
      const c = classes[src + kb]!;
      if (c === PARTIAL) kvIndices[out + np++] = kb;
      else if (c === FULL) fullKvIndices[out + nf++] = kb;
    }
    kvNumBlocks[r] = np;
    fullKvNumBlocks[r] = nf;
  }
  const { qNumBlocks, qIndices, fullQNumBlocks, fullQIndices } = t;
  const colBase = p * kvBlocks;
  for (let k0 = 0; k0 < kvBlocks; k0 += COLUMN_STRIP) {
    const k1 = Math.min(kvBlocks, k0 + COLUMN_STRIP);
    for (let qb = 0; qb < qBlocks; qb++) {
      const src = offset + qb * kvBlocks;
      for (let kb = k0; kb < k1; kb++) {
        const c = classes[src + kb]!;
        if (c === EMPTY) continue;
        const col = colBase + kb;
        if (c === PARTIAL) qIndices[col * qBlocks + qNumBlocks[col]!++] = qb;
        else if (c === FULL) fullQIndices[col * qBlocks + fullQNumBlocks[col]!++] = qb;
      }
    }
  }
}

/**
 * The q-major view of plane `p` from its kv-major lists (the transpose; its counts must be zero on
 * entry, as in fresh tables): for tables whose rows were copied list by list (BlockMask row slices
 * and resizes) rather than written from a block map. Lists come out ascending, as writeTablesPlane's.
 */
export function writeQMajorPlane(t: BlockTables, p: number): void {
  const { qBlocks, kvBlocks, kvNumBlocks, kvIndices, fullKvNumBlocks, fullKvIndices, qNumBlocks, qIndices, fullQNumBlocks, fullQIndices } = t;
  const colBase = p * kvBlocks;
  for (let qb = 0; qb < qBlocks; qb++) {
    const r = p * qBlocks + qb;
    const lists = r * kvBlocks;
    for (let i = 0, n = kvNumBlocks[r]!; i < n; i++) {
      const col = colBase + kvIndices[lists + i]!;
      qIndices[col * qBlocks + qNumBlocks[col]!++] = qb;
    }
    for (let i = 0, n = fullKvNumBlocks[r]!; i < n; i++) {
      const col = colBase + fullKvIndices[lists + i]!;
      fullQIndices[col * qBlocks + fullQNumBlocks[col]!++] = qb;
    }
  }
}

/** The inverse for one plane: the block classes of plane `p` from its kv-major lists into out[offset ..). */
export function readTablesPlane(t: BlockTables, p: number, out: Uint8Array, offset: number): void {
  const { qBlocks, kvBlocks } = t;
  out.fill(EMPTY, offset, offset + qBlocks * kvBlocks);
  for (let qb = 0; qb < qBlocks; qb++) {
    const r = p * qBlocks + qb;
    const lists = r * kvBlocks;
    const dst = offset + qb * kvBlocks;
    for (let i = 0; i < t.kvNumBlocks[r]!; i++) out[dst + t.kvIndices[lists + i]!] = PARTIAL;
    for (let i = 0; i < t.fullKvNumBlocks[r]!; i++) out[dst + t.fullKvIndices[lists + i]!] = FULL;
  }
}

/** Copies plane `src` of every view onto plane `dst` (planes a mask does not vary over). */
export function copyTablesPlane(t: BlockTables, src: number, dst: number): void {
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

/** Both views from a dense [B, H, qBlocks, kvBlocks] map of block classes. */
export function tablesFromClasses(classes: Uint8Array, B: number, H: number, qBlocks: number, kvBlocks: number): PackedBlockTables {
  const t = allocateBlockTables(B, H, qBlocks, kvBlocks);
  for (let p = 0; p < B * H; p++) writeTablesPlane(t, p, classes, p * qBlocks * kvBlocks);
  return t;
}

/** The dense [B, H, qBlocks, kvBlocks] map of block classes, from the kv-major view. */
export function classesFromTables(t: BlockTables): Uint8Array {
  const planeCells = t.qBlocks * t.kvBlocks;
  const out = new Uint8Array(t.B * t.H * planeCells);
  for (let p = 0; p < t.B * t.H; p++) readTablesPlane(t, p, out, p * planeCells);
  return out;
}
