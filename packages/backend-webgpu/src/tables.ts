/**
 * Block tables in a kernel's own tile units, packed into one i32 buffer.
 * Input: a dense tile-class map [mB][mH][rowTiles][colTiles] (0 empty, 1 partial, 2 full), which
 * the backend gets by reblocking the user's BlockMask to the kernel's tile sizes. Output: partial
 * and full lists per row of tiles, each padded to colTiles entries, plus their offsets.
 */
export interface PackedTables {
  data: Int32Array;
  mB: number;
  mH: number;
  rowTiles: number;
  colTiles: number;
  offNum: number;
  offIdx: number;
  offFullNum: number;
  offFullIdx: number;
  /** the longest list (partial + full) of any row: split-KV planning uses it */
  maxTiles: number;
  /** offset of the band words of partial tiles (0 when none were given) */
  offBands: number;
}

/**
 * Packs a tile-class map, and optionally each tile's band word (see `tileBands`; only partial
 * tiles' words are kept, in the order of their partial list).
 */
export function packTables(dense: Uint8Array, mB: number, mH: number, rowTiles: number, colTiles: number, bands?: Uint32Array): PackedTables {
  const rowsN = mB * mH * rowTiles;
  if (dense.length !== rowsN * colTiles) throw new Error(`tile map has ${dense.length} entries, expected ${rowsN * colTiles}`);
  const offNum = 0;
  const offIdx = rowsN;
  const offFullNum = offIdx + rowsN * colTiles;
  const offFullIdx = offFullNum + rowsN;
  if (bands && bands.length !== dense.length) throw new Error(`band words: ${bands.length} entries, expected ${dense.length}`);
  const offBands = bands ? offFullIdx + rowsN * colTiles : 0;
  const data = new Int32Array(offFullIdx + rowsN * colTiles * (bands ? 2 : 1));
  let maxTiles = 0;
  for (let r = 0; r < rowsN; r++) {
    let np = 0;
    let nf = 0;
    for (let c = 0; c < colTiles; c++) {
      const v = dense[r * colTiles + c];
      if (v === 1) {
        if (bands) data[offBands + r * colTiles + np] = bands[r * colTiles + c]! | 0;
        data[offIdx + r * colTiles + np++] = c;
      } else if (v === 2) data[offFullIdx + r * colTiles + nf++] = c;
    }
    data[offNum + r] = np;
    data[offFullNum + r] = nf;
    maxTiles = Math.max(maxTiles, np + nf);
  }
  return { data, mB, mH, rowTiles, colTiles, offNum, offIdx, offFullNum, offFullIdx, maxTiles, offBands };
}

/** Transposes a dense tile map [mB][mH][R][C] → [mB][mH][C][R] (the backward's kv-major view). */
export function transposeTiles(dense: Uint8Array, mB: number, mH: number, R: number, C: number): Uint8Array {
  const out = new Uint8Array(dense.length);
  for (let bh = 0; bh < mB * mH; bh++) {
    for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[bh * R * C + c * R + r] = dense[bh * R * C + r * C + c]!;
  }
  return out;
}

/**
 * Classifies tiles of a dense element mask [mB][mH][Lq][Lkv] (tests and fallbacks): a tile is
 * full when every in-range element is visible, empty when none is, partial otherwise.
 */
export function tilesFromElementMask(
  mask: Uint8Array, mB: number, mH: number, Lq: number, Lkv: number, tq: number, tk: number,
): Uint8Array {
  const R = Math.ceil(Lq / tq);
  const C = Math.ceil(Lkv / tk);
  const out = new Uint8Array(mB * mH * R * C);
  for (let bh = 0; bh < mB * mH; bh++) {
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < C; c++) {
        let any = false;
        let all = true;
        for (let q = r * tq; q < Math.min(Lq, (r + 1) * tq); q++) {
          for (let k = c * tk; k < Math.min(Lkv, (c + 1) * tk); k++) {
            if (mask[bh * Lq * Lkv + q * Lkv + k]) any = true;
            else all = false;
          }
        }
        out[bh * R * C + r * C + c] = !any ? 0 : all ? 2 : 1;
      }
    }
  }
  return out;
}

/**
 * Calls `fn` for every partial tile (class 1) of a [mask.B][mask.H][R][C] class map with its flat
 * index, the (b0, b1, h0, h1) box it stands for (a mask broadcast over batch or heads covers all of
 * the problem's B / H), and its tile row and column.
 */
function forEachPartialTile(
  dense: Uint8Array,
  mask: { B: number; H: number },
  R: number,
  C: number,
  B: number,
  H: number,
  fn: (index: number, bh: [number, number, number, number], r: number, c: number) => void,
): void {
  for (let b = 0; b < mask.B; b++) {
    const [b0, b1] = mask.B === 1 ? [0, B - 1] : [b, b];
    for (let h = 0; h < mask.H; h++) {
      const [h0, h1] = mask.H === 1 ? [0, H - 1] : [h, h];
      for (let r = 0; r < R; r++) {
        const base = ((b * mask.H + h) * R + r) * C;
        for (let c = 0; c < C; c++) if (dense[base + c] === 1) fn(base + c, [b0!, b1!, h0!, h1!], r, c);
      }
    }
  }
}

/**
 * Sharpens a tile-class map reblocked from a coarser BlockMask: a partial tile whose box the mask
 * mod's interval analysis proves fully visible becomes full (mask_mod skipped), one it proves fully
 * masked becomes empty (never read). E.g. causal with 128-blocks on 64×32 kernel tiles: of the 8
 * tiles of a diagonal block, 2 are empty and 2 full. Conservative: 'some' keeps the tile partial.
 * `B`, `H`: the problem's batch and query heads, for tables broadcast over them.
 */
export function refineTiles(
  dense: Uint8Array,
  mask: { B: number; H: number; seqLengths: [number, number] },
  interval: ((...bounds: number[]) => number) | undefined,
  tq: number,
  tk: number,
  B: number,
  H: number,
): Uint8Array {
  if (!interval) return dense;
  const [Lq, Lkv] = mask.seqLengths;
  const R = Math.ceil(Lq / tq);
  const C = Math.ceil(Lkv / tk);
  if (dense.length !== mask.B * mask.H * R * C) return dense;
  let out: Uint8Array | undefined;
  forEachPartialTile(dense, mask, R, C, B, H, (i, bh, r, c) => {
    const code = interval(...bh, r * tq, Math.min(Lq, (r + 1) * tq) - 1, c * tk, Math.min(Lkv, (c + 1) * tk) - 1);
    if (code === 0 || code === 2) {
      out ??= Uint8Array.from(dense);
      out[i] = code;
    }
  });
  return out ?? dense;
}

/** Every band of a tile partial: the word a tile gets when nothing is known about its bands. */
export const ALL_PARTIAL_BANDS = 0x55555555;

/**
 * Band words of a tile-class map: for each partial tile, the 2-bit class of each of its
 * `tq / bandRows` row bands (band i = rows [i·bandRows, (i+1)·bandRows) of the tile, in bits
 * 2i..2i+1): 0 when the mask's interval analysis proves the band fully masked (or the band lies past
 * Lq), 2 when it proves it fully visible, 1 otherwise. The forward kernel skips the S and P·V work
 * of empty bands (full ones it treats as partial: see forward.ts). Non-partial tiles get
 * ALL_PARTIAL_BANDS (never read). Sound as the analysis.
 * `B`, `H`: the problem's batch and query heads, for tables broadcast over them.
 */
export function tileBands(
  dense: Uint8Array,
  mask: { B: number; H: number; seqLengths: [number, number] },
  interval: ((...bounds: number[]) => number) | undefined,
  tq: number,
  tk: number,
  bandRows: number,
  B: number,
  H: number,
): Uint32Array {
  const [Lq, Lkv] = mask.seqLengths;
  const R = Math.ceil(Lq / tq);
  const C = Math.ceil(Lkv / tk);
  const nBands = tq / bandRows;
  if (!Number.isInteger(nBands) || nBands > 16) throw new Error(`tile of ${tq} rows does not split into at most 16 bands of ${bandRows}`);
  const out = new Uint32Array(dense.length).fill(ALL_PARTIAL_BANDS);
  if (!interval || dense.length !== mask.B * mask.H * R * C) return out;
  forEachPartialTile(dense, mask, R, C, B, H, (t, bh, r, c) => {
    const k0 = c * tk;
    const k1 = Math.min(Lkv, k0 + tk) - 1;
    let word = 0;
    for (let i = 0; i < nBands; i++) {
      const q0 = r * tq + i * bandRows;
      const q1 = Math.min(Lq, q0 + bandRows) - 1;
      const code = q0 > q1 ? 0 : interval(...bh, q0, q1, k0, k1);
      word |= (code === 0 ? 0 : code === 2 ? 2 : 1) << (2 * i);
    }
    out[t] = word >>> 0;
  });
  return out;
}
