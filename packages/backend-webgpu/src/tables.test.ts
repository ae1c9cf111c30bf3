// Tile maps on the CPU: sharpening tiles reblocked from a coarser BlockMask with the mask's
// interval analysis (refineTiles) and classifying the row bands of partial tiles (tileBands) —
// exact where they claim full or empty, for several masks; packing the band words beside the lists.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { capture, compileMaskInterval, compileToJs, denseFromTables, reblock, traceMaskMod, type MaskMod } from '@flexattn/ir';
import { createBlockMask } from '@flexattn/blockmask';
import { ALL_PARTIAL_BANDS, packTables, refineTiles, tileBands } from './tables.js';

const docs = capture(Int32Array.from({ length: 300 }, (_, i) => Math.floor(i / 37)), [300], { name: 'docs' });
const MASKS: Record<string, MaskMod> = {
  causal: (_b, _h, q, kv) => q.ge(kv),
  window: (_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).le(50)),
  perHead: (_b, h, q, kv) => kv.le(q.add(h.mul(40))),
  document: (_b, _h, q, kv) => docs.at(q).eq(docs.at(kv)),
};

describe('refineTiles', () => {
  it('causal, 128-blocks on 64×32 tiles: the diagonal block splits into partial, full and empty tiles', () => {
    const m = createBlockMask(traceMaskMod(MASKS.causal!), { qLen: 256, kvLen: 256, blockSize: 128 });
    const coarse = denseFromTables(reblock(m, 64, 32));
    const fine = refineTiles(coarse, m, compileMaskInterval(m.maskMod), 64, 32, 1, 1);
    const row = (r: number) => [...fine.slice(r * 8, r * 8 + 8)];
    expect([...coarse.slice(0, 8)]).toEqual([1, 1, 1, 1, 0, 0, 0, 0]);
    expect(row(0)).toEqual([1, 1, 0, 0, 0, 0, 0, 0]);
    expect(row(1)).toEqual([2, 2, 1, 1, 0, 0, 0, 0]);
    expect(row(3)).toEqual([2, 2, 2, 2, 2, 2, 1, 1]);
    expect(refineTiles(coarse, m, undefined, 64, 32, 1, 1)).toBe(coarse);
  });

  it('never claims full or empty wrongly (random masks, tiles and lengths)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.keys(MASKS)),
        fc.integer({ min: 20, max: 300 }),
        fc.integer({ min: 20, max: 300 }),
        fc.constantFrom(16, 32, 64, 128),
        fc.constantFrom(4, 8, 16, 32, 64),
        fc.constantFrom(4, 8, 16, 32, 64),
        (name, Lq, Lkv, block, tq, tk) => {
          const H = name === 'perHead' ? 3 : 1;
          const m = createBlockMask(traceMaskMod(MASKS[name]!), { H, qLen: Lq, kvLen: Lkv, blockSize: block });
          const coarse = denseFromTables(reblock(m, tq, tk));
          const fine = refineTiles(coarse, m, compileMaskInterval(m.maskMod), tq, tk, 1, H);
          const fn = compileToJs(m.maskMod);
          const R = Math.ceil(Lq / tq), C = Math.ceil(Lkv / tk);
          for (let h = 0; h < H; h++) {
            for (let r = 0; r < R; r++) {
              for (let c = 0; c < C; c++) {
                const at = (h * R + r) * C + c;
                const was = coarse[at]!, now = fine[at]!;
                if (was !== 1) expect(now).toBe(was); // only partial tiles change
                if (now === was) continue;
                let wrong = 0;
                for (let q = r * tq; q < Math.min(Lq, (r + 1) * tq); q++) {
                  for (let kv = c * tk; kv < Math.min(Lkv, (c + 1) * tk); kv++) if (!!fn(0, h, q, kv) !== (now === 2)) wrong++;
                }
                expect(wrong).toBe(0);
              }
            }
          }
        },
      ),
      { numRuns: 40, seed: 7 },
    );
  });
});

describe('tileBands', () => {
  const bandClass = (word: number, i: number) => (word >>> (2 * i)) & 3;

  it('causal diagonal 64×32 tiles: bands below the diagonal full, above it empty', () => {
    const m = createBlockMask(traceMaskMod(MASKS.causal!), { qLen: 128, kvLen: 128, blockSize: 128 });
    const dense = refineTiles(denseFromTables(reblock(m, 64, 32)), m, compileMaskInterval(m.maskMod), 64, 32, 1, 1);
    const bands = tileBands(dense, m, compileMaskInterval(m.maskMod), 64, 32, 8, 1, 1);
    // row 0 of tiles: tile (0, 0) = rows 0..63 × keys 0..31: bands 0..3 straddle the diagonal, 4..7 see every key
    expect(Array.from({ length: 8 }, (_, i) => bandClass(bands[0]!, i))).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
    // tile (0, 1) = keys 32..63: bands 0..3 see none of them
    expect(Array.from({ length: 8 }, (_, i) => bandClass(bands[1]!, i))).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    expect(bands[2]).toBe(ALL_PARTIAL_BANDS); // an empty tile: never read
    expect([...tileBands(dense, m, undefined, 64, 32, 8, 1, 1)].every((w) => w === ALL_PARTIAL_BANDS)).toBe(true);
  });

  it('bands past Lq are empty; rejects tiles that do not split into ≤ 16 bands', () => {
    const m = createBlockMask(traceMaskMod(MASKS.window!), { qLen: 20, kvLen: 64, blockSize: 16 });
    const dense = denseFromTables(reblock(m, 32, 16));
    const bands = tileBands(dense, m, compileMaskInterval(m.maskMod), 32, 16, 8, 1, 1);
    // tile (0, 0) is partial; its band 3 (rows 24..31) lies wholly past Lq = 20
    expect(dense[0]).toBe(1);
    expect(bandClass(bands[0]!, 3)).toBe(0);
    expect(() => tileBands(dense, m, undefined, 32, 16, 6, 1, 1)).toThrow(/bands/);
    expect(() => tileBands(dense, m, undefined, 32, 16, 1, 1, 1)).toThrow(/at most 16/);
  });

  it('never claims a band full or empty wrongly (random masks, tiles, bands and lengths)', () => {
    let claims = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.keys(MASKS)),
        fc.integer({ min: 20, max: 300 }),
        fc.integer({ min: 20, max: 300 }),
        fc.constantFrom(16, 64, 128),
        fc.constantFrom(16, 32, 64),
        fc.constantFrom(8, 16, 32),
        fc.constantFrom(2, 4, 8, 16),
        (name, Lq, Lkv, block, tq, tk, bandRows) => {
          const H = name === 'perHead' ? 3 : 1;
          const m = createBlockMask(traceMaskMod(MASKS[name]!), { H, qLen: Lq, kvLen: Lkv, blockSize: block });
          const interval = compileMaskInterval(m.maskMod);
          const dense = refineTiles(denseFromTables(reblock(m, tq, tk)), m, interval, tq, tk, 1, H);
          if (tq / bandRows > 16) return;
          const bands = tileBands(dense, m, interval, tq, tk, bandRows, 1, H);
          const fn = compileToJs(m.maskMod);
          const R = Math.ceil(Lq / tq), C = Math.ceil(Lkv / tk);
          for (let h = 0; h < H; h++) {
            for (let r = 0; r < R; r++) {
              for (let c = 0; c < C; c++) {
                const at = (h * R + r) * C + c;
                if (dense[at] !== 1) continue;
                for (let i = 0; i < tq / bandRows; i++) {
                  const cls = bandClass(bands[at]!, i);
                  expect(cls).not.toBe(3);
                  if (cls === 1) continue;
                  claims++;
                  for (let q = r * tq + i * bandRows; q < Math.min(Lq, r * tq + (i + 1) * bandRows); q++) {
                    for (let kv = c * tk; kv < Math.min(Lkv, (c + 1) * tk); kv++) expect(!!fn(0, h, q, kv)).toBe(cls === 2);
                  }
                }
              }
            }
          }
        },
      ),
      { numRuns: 40, seed: 11 },
    );
    expect(claims).toBeGreaterThan(100); // the analysis does decide bands, so the checks above ran
  });
});

describe('packTables', () => {
  it('keeps each partial tile\'s band word at its place in the partial list', () => {
    // 2 rows × 4 tiles: row 0 = [partial, full, partial, empty], row 1 = [empty, partial, full, full]
    const dense = Uint8Array.from([1, 2, 1, 0, 0, 1, 2, 2]);
    const bands = Uint32Array.from([0xaaaa0001, 7, 0x80000000, 9, 9, 0x11, 9, 9]);
    const p = packTables(dense, 1, 1, 2, 4, bands);
    expect([...p.data.slice(p.offNum, p.offNum + 2)]).toEqual([2, 1]);
    expect([...p.data.slice(p.offIdx, p.offIdx + 2)]).toEqual([0, 2]);
    expect([...p.data.slice(p.offBands, p.offBands + 2)].map((x) => x >>> 0)).toEqual([0xaaaa0001, 0x80000000]);
    expect(p.data[p.offBands + 4]! >>> 0).toBe(0x11);
    expect(p.maxTiles).toBe(3);
    expect(packTables(dense, 1, 1, 2, 4).offBands).toBe(0);
    expect(() => packTables(dense, 1, 1, 2, 4, new Uint32Array(3))).toThrow(/band words/);
  });
});
