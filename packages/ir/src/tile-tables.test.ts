import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blockMaskByEvaluation, TableBlockMask } from './block-mask';
import { ceilDiv, classesFromTables, EMPTY, FULL, PARTIAL, type BlockTables } from './block-tables';
import { ShapeError } from './errors';
import { compileToJs } from './evaluate';
import { capture } from './params';
import { blockClasses, shortTileFirstOffset, tileTableConversions, tileTables } from './tile-tables';
import { traceMaskMod, type TracedMod } from './trace';

const causal = traceMaskMod((_b, _h, q, kv) => q.ge(kv));

/** The classes of the q-major view, laid out [plane, qBlocks, kvBlocks] like the kv-major ones. */
function classesFromQMajor(t: BlockTables): Uint8Array {
  const out = new Uint8Array(t.B * t.H * t.qBlocks * t.kvBlocks);
  for (let p = 0; p < t.B * t.H; p++)
    for (let kb = 0; kb < t.kvBlocks; kb++) {
      const col = p * t.kvBlocks + kb;
      for (let i = 0; i < t.qNumBlocks[col]!; i++) out[(p * t.qBlocks + t.qIndices[col * t.qBlocks + i]!) * t.kvBlocks + kb] = PARTIAL;
      for (let i = 0; i < t.fullQNumBlocks[col]!; i++) out[(p * t.qBlocks + t.fullQIndices[col * t.qBlocks + i]!) * t.kvBlocks + kb] = FULL;
    }
  return out;
}

/** Each tile's class by evaluating the mask on its elements, for every batch / head a plane serves (q tiles shifted up by `off` rows). */
function tileClassesByEvaluation(
  mod: TracedMod, s: { B: number; H: number; mB: number; mH: number; Lq: number; Lkv: number; tq: number; tk: number; off?: number },
): Uint8Array {
  const fn = compileToJs(mod);
  const off = s.off ?? 0;
  const qTiles = ceilDiv(s.Lq + off, s.tq);
  const kvTiles = ceilDiv(s.Lkv, s.tk);
  const out = new Uint8Array(s.mB * s.mH * qTiles * kvTiles);
  for (let p = 0; p < s.mB * s.mH; p++)
    for (let qt = 0; qt < qTiles; qt++)
      for (let kt = 0; kt < kvTiles; kt++) {
        let any = false;
        let all = true;
        for (let b = 0; b < s.B; b++) {
          if (s.mB !== 1 && b !== Math.floor(p / s.mH)) continue;
          for (let h = 0; h < s.H; h++) {
            if (s.mH !== 1 && h !== p % s.mH) continue;
            for (let q = Math.max(0, qt * s.tq - off); q < Math.min(s.Lq, (qt + 1) * s.tq - off); q++)
              for (let kv = kt * s.tk; kv < Math.min(s.Lkv, (kt + 1) * s.tk); kv++) {
                if (fn(b, h, q, kv)) any = true;
                else all = false;
              }
          }
        }
        out[(p * qTiles + qt) * kvTiles + kt] = all ? FULL : any ? PARTIAL : EMPTY;
      }
  return out;
}

/** Problem, mask-block and tile sizes: lengths up to `maxLen`, blocks up to `maxBlock`, tiles up to 16. */
const tilingArb = (maxHeads: number, maxLen: number, maxBlock: number) =>
  fc.record({
    B: fc.integer({ min: 1, max: 2 }),
    H: fc.integer({ min: 1, max: maxHeads }),
    qLen: fc.integer({ min: 1, max: maxLen }),
    kvLen: fc.integer({ min: 1, max: maxLen }),
    bq: fc.integer({ min: 1, max: maxBlock }),
    bk: fc.integer({ min: 1, max: maxBlock }),
    tq: fc.integer({ min: 1, max: 16 }),
    tk: fc.integer({ min: 1, max: 16 }),
  });

describe('tileTables', () => {
  it('unrefined tiles follow the block classes, both views agree (fast-check)', () => {
    // Definition: a tile is FULL when every element in it lies in a FULL block, EMPTY when every
    // element lies in an EMPTY block, PARTIAL otherwise.
    const arb = tilingArb(2, 40, 9).chain((s) => {
      const n = s.B * s.H * ceilDiv(s.qLen, s.bq) * ceilDiv(s.kvLen, s.bk);
      return fc.tuple(fc.constant(s), fc.uint8Array({ min: 0, max: 2, minLength: n, maxLength: n }));
    });
    fc.assert(
      fc.property(arb, ([s, dense]) => {
        const mask = TableBlockMask.fromDense(dense, { B: s.B, H: s.H, qLen: s.qLen, kvLen: s.kvLen, blockSize: [s.bq, s.bk] }, causal);
        const t = tileTables(mask, s.tq, s.tk, { refine: false });
        const qTiles = ceilDiv(s.qLen, s.tq);
        const kvTiles = ceilDiv(s.kvLen, s.tk);
        expect([t.B, t.H, t.qBlocks, t.kvBlocks, t.tileQ, t.tileKv]).toEqual([s.B, s.H, qTiles, kvTiles, s.tq, s.tk]);
        const got = classesFromTables(t);
        expect(classesFromQMajor(t)).toEqual(got);
        const qBlocks = ceilDiv(s.qLen, s.bq);
        const kvBlocks = ceilDiv(s.kvLen, s.bk);
        for (let p = 0; p < s.B * s.H; p++)
          for (let qt = 0; qt < qTiles; qt++)
            for (let kt = 0; kt < kvTiles; kt++) {
              let allFull = true;
              let allEmpty = true;
              for (let q = qt * s.tq; q < Math.min(s.qLen, (qt + 1) * s.tq); q++)
                for (let kv = kt * s.tk; kv < Math.min(s.kvLen, (kt + 1) * s.tk); kv++) {
                  const c = dense[(p * qBlocks + Math.floor(q / s.bq)) * kvBlocks + Math.floor(kv / s.bk)];
                  if (c !== FULL) allFull = false;
                  if (c !== EMPTY) allEmpty = false;
                }
              const want = allFull ? FULL : allEmpty ? EMPTY : PARTIAL;
              expect(got[(p * qTiles + qt) * kvTiles + kt]).toBe(want);
            }
        // the mask's own blocks: its own classes
        expect(classesFromTables(tileTables(mask, s.bq, s.bk))).toEqual(dense);
      }),
      { numRuns: 300, seed: 12 },
    );
  });

  it('refined tiles are sound: FULL only where every element is visible, EMPTY only where none is (fast-check)', () => {
    const ids = Int32Array.from({ length: 48 }, (_, i) => Math.floor(Math.sqrt(i * 5)));
    const docs = capture(ids, [48], { name: 'docIds' });
    const masks = [
      causal,
      traceMaskMod((_b, h, q, kv) => q.ge(kv).and(q.sub(kv).lt(h.add(3)))), // per-head window
      traceMaskMod((_b, _h, q, kv) => docs.at(q).eq(docs.at(kv))),
      traceMaskMod((b, _h, q, kv) => kv.le(b.mul(7)).or(q.ge(kv))), // per-batch prefix
    ];
    const arb = fc.tuple(tilingArb(3, 48, 16), fc.integer({ min: 0, max: masks.length - 1 }), fc.boolean(), fc.nat()).map(
      ([s, modIndex, broadcast, r]) => [s, modIndex, broadcast, r % 2 === 0 ? 0 : (r >> 1) % s.tq] as const, // half the runs shifted
    );
    fc.assert(
      fc.property(arb, ([s, modIndex, broadcast, off]) => {
        const mod = masks[modIndex]!;
        const [mB, mH] = broadcast ? [1, 1] : [s.B, s.H];
        // a broadcast mask (B = H = 1) serves every batch and head of the problem: a tile it refines
        // must be full (or empty) for all of them
        const mask = blockMaskByEvaluation(mod, { B: mB, H: mH, qLen: s.qLen, kvLen: s.kvLen, blockSize: [s.bq, s.bk] });
        const refined = classesFromTables(tileTables(mask, s.tq, s.tk, { batch: s.B, heads: s.H, qOffset: off }));
        const plain = classesFromTables(tileTables(mask, s.tq, s.tk, { refine: false, qOffset: off }));
        const exact = tileClassesByEvaluation(mod, { B: s.B, H: s.H, mB, mH, Lq: s.qLen, Lkv: s.kvLen, tq: s.tq, tk: s.tk, off });
        expect(refined.length).toBe(exact.length);
        // the unrefined (shifted) tiles of an exact per-plane mask: FULL / EMPTY only where they are (a broadcast
        // mask's blocks speak for batch 0, head 0 alone, so only refined tiles are checked against every head)
        if (!broadcast) for (let i = 0; i < plain.length; i++) if (plain[i] !== PARTIAL) expect(exact[i]).toBe(plain[i]);
        for (let i = 0; i < refined.length; i++) {
          if (plain[i] !== PARTIAL) expect(refined[i]).toBe(plain[i]); // only partial tiles change
          else if (refined[i] !== PARTIAL) expect(exact[i]).toBe(refined[i]);
        }
      }),
      { numRuns: 200, seed: 21 },
    );
  });

  it('q tiles shifted by qOffset follow the block classes of the rows they cover, both views agree (fast-check)', () => {
    // The same definition per element as above, with q tile t covering rows [t·tq − off, (t+1)·tq − off) ∩ [0, qLen):
    // each element's class is looked up directly in the dense block classes, independently of the tile arithmetic.
    const arb = tilingArb(2, 40, 9).chain((s) => {
      const n = s.B * s.H * ceilDiv(s.qLen, s.bq) * ceilDiv(s.kvLen, s.bk);
      return fc.tuple(fc.constant(s), fc.integer({ min: 0, max: s.tq - 1 }), fc.uint8Array({ min: 0, max: 2, minLength: n, maxLength: n }));
    });
    fc.assert(
      fc.property(arb, ([s, off, dense]) => {
        const mask = TableBlockMask.fromDense(dense, { B: s.B, H: s.H, qLen: s.qLen, kvLen: s.kvLen, blockSize: [s.bq, s.bk] }, causal);
        const t = tileTables(mask, s.tq, s.tk, { refine: false, qOffset: off });
        const kvTiles = ceilDiv(s.kvLen, s.tk);
        const qBlocks = ceilDiv(s.qLen, s.bq);
        const kvBlocks = ceilDiv(s.kvLen, s.bk);
        // which q tile each row falls in, counted row by row
        const tileOfRow: number[] = [];
        for (let q = 0, qt = 0, start = -off; q < s.qLen; q++) {
          while (q >= start + s.tq) {
            qt++;
            start += s.tq;
          }
          tileOfRow.push(qt);
        }
        const qTiles = tileOfRow[s.qLen - 1]! + 1;
        expect([t.qBlocks, t.kvBlocks, t.qOffset]).toEqual([qTiles, kvTiles, off]);
        const got = classesFromTables(t);
        expect(classesFromQMajor(t)).toEqual(got);
        const want = new Uint8Array(got.length);
        const allFull = new Uint8Array(got.length).fill(1);
        const allEmpty = new Uint8Array(got.length).fill(1);
        for (let p = 0; p < s.B * s.H; p++)
          for (let q = 0; q < s.qLen; q++)
            for (let kv = 0; kv < s.kvLen; kv++) {
              const c = dense[(p * qBlocks + Math.floor(q / s.bq)) * kvBlocks + Math.floor(kv / s.bk)];
              const cell = (p * qTiles + tileOfRow[q]!) * kvTiles + Math.floor(kv / s.tk);
              if (c !== FULL) allFull[cell] = 0;
              if (c !== EMPTY) allEmpty[cell] = 0;
            }
        for (let i = 0; i < want.length; i++) want[i] = allFull[i] ? FULL : allEmpty[i] ? EMPTY : PARTIAL;
        expect(got).toEqual(want);
      }),
      { numRuns: 300, seed: 33 },
    );
  });

  it('qOffset 0 gives the unshifted tables; shortTileFirstOffset keeps the tile count and makes the first tile the short one (fast-check)', () => {
    fc.assert(
      fc.property(tilingArb(2, 40, 9), fc.boolean(), (s, broadcast) => {
        const [mB, mH] = broadcast ? [1, 1] : [s.B, s.H];
        const mask = blockMaskByEvaluation(causal, { B: mB, H: mH, qLen: s.qLen, kvLen: s.kvLen, blockSize: [s.bq, s.bk] });
        const plain = tileTables(mask, s.tq, s.tk, { batch: s.B, heads: s.H });
        const zero = tileTables(mask, s.tq, s.tk, { batch: s.B, heads: s.H, qOffset: 0 });
        expect(zero).toBe(plain); // one memo entry: the same tables
        expect(plain.qOffset).toBe(0);
        const off = shortTileFirstOffset(s.qLen, s.tq);
        expect(off).toBeGreaterThanOrEqual(0);
        expect(off).toBeLessThan(s.tq);
        expect((s.qLen + off) % s.tq).toBe(0); // every tile after the first is whole
        const shifted = tileTables(mask, s.tq, s.tk, { batch: s.B, heads: s.H, qOffset: off });
        expect(shifted.qBlocks).toBe(ceilDiv(s.qLen, s.tq));
        expect(shifted.qOffset).toBe(off);
        if (off !== 0) expect(shifted).not.toBe(plain);
      }),
      { numRuns: 200, seed: 34 },
    );
    expect([1, 63, 64, 191, 192, 4096, 4097].map((L) => shortTileFirstOffset(L, 192))).toEqual([191, 129, 128, 1, 0, 128, 127]);
    expect([1, 63, 64, 191, 192, 4096, 4097].map((L) => shortTileFirstOffset(L, 128))).toEqual([127, 65, 64, 65, 64, 0, 127]);
  });

  it('causal L=300 on 128-row tiles: shifting the short tile first saves tile products', () => {
    // 300 rows = 44 + 128 + 128: the long rows (the last tiles) are then whole
    const m = blockMaskByEvaluation(causal, { qLen: 300, kvLen: 300, blockSize: 128 });
    const visited = (t: ReturnType<typeof tileTables>) => classesFromTables(t).reduce((n, c) => n + (c !== EMPTY ? 1 : 0), 0);
    const off = shortTileFirstOffset(300, 128);
    expect(off).toBe(84);
    expect(visited(tileTables(m, 128, 128))).toBe(6);
    expect(visited(tileTables(m, 128, 64, { qOffset: off }))).toBeLessThan(visited(tileTables(m, 128, 64)));
  });

  it('sharpens causal 128-blocks on 64x32 tiles: of a diagonal block’s 8 tiles, 2 empty and 2 full', () => {
    const m = blockMaskByEvaluation(causal, { qLen: 128, kvLen: 128, blockSize: 128 });
    expect(Array.from(classesFromTables(tileTables(m, 64, 32, { refine: false })))).toEqual(Array(8).fill(PARTIAL));
    expect(Array.from(classesFromTables(tileTables(m, 64, 32)))).toEqual([PARTIAL, PARTIAL, EMPTY, EMPTY, FULL, FULL, PARTIAL, PARTIAL]);
  });

  it('converts once per mask and tile shape; a changed table or captured tensor converts again', () => {
    // documents [0, 20) and [20, 64) in 32-blocks: blocks (0, 0), (0, 1), (1, 0) partial, (1, 1) full
    const ids = new Int32Array(64).fill(1, 20);
    const docs = capture(ids, [64], { name: 'docIds' });
    const mask = blockMaskByEvaluation(traceMaskMod((_b, _h, q, kv) => docs.at(q).eq(docs.at(kv))), { qLen: 64, kvLen: 64, blockSize: 32 });
    const n0 = tileTableConversions();
    const first = tileTables(mask, 16, 16);
    expect(tileTableConversions()).toBe(n0 + 1);
    expect(tileTables(mask, 16, 16)).toBe(first);
    expect(tileTables(mask, 16, 16, { batch: 1, heads: 1 })).toBe(first);
    expect(tileTableConversions()).toBe(n0 + 1);
    // q tiles 0 and 1 of 16 rows, refined by the documents
    expect(Array.from(classesFromTables(first).subarray(0, 8))).toEqual([FULL, PARTIAL, EMPTY, EMPTY, PARTIAL, PARTIAL, PARTIAL, PARTIAL]);
    tileTables(mask, 32, 16);
    expect(tileTableConversions()).toBe(n0 + 2);
    expect(blockClasses(mask)).toBe(blockClasses(mask));
    expect(Array.from(blockClasses(mask))).toEqual(Array.from(mask.toDense()));
    expect(tileTableConversions()).toBe(n0 + 3);

    // the first document grows to [0, 32) in place: the refinement reads the new ids
    ids.fill(0, 0, 32);
    const afterIds = tileTables(mask, 16, 16);
    expect(tileTableConversions()).toBe(n0 + 4);
    expect(Array.from(classesFromTables(afterIds).subarray(0, 8))).toEqual([FULL, FULL, EMPTY, EMPTY, FULL, FULL, EMPTY, EMPTY]);
    // a table entry changed in place: q block 1 lists kv block 0 as full instead of partial
    mask.kvNumBlocks[1] = 0;
    mask.fullKvNumBlocks[1] = 2;
    mask.fullKvIndices.set([0, 1], 2);
    // and its transpose: kv block 0 lists q block 0 partial, q block 1 full
    mask.qNumBlocks[0] = 1;
    mask.fullQNumBlocks[0] = 1;
    mask.fullQIndices[0] = 1;
    expect(Array.from(classesFromTables(tileTables(mask, 16, 16, { refine: false })).subarray(8, 12))).toEqual([FULL, FULL, FULL, FULL]);
    expect(Array.from(blockClasses(mask))).toEqual([PARTIAL, PARTIAL, FULL, FULL]);
    expect(tileTableConversions()).toBe(n0 + 6);
  });

  it('malformed masks and tile shapes get a ShapeError before any table is built', () => {
    const m = blockMaskByEvaluation(causal, { qLen: 20, kvLen: 20, blockSize: 8 });
    expect(() => tileTables(m, 0, 8)).toThrow(ShapeError);
    expect(() => tileTables(m, 8, 2.5)).toThrow(ShapeError);
    for (const qOffset of [-1, 8, 1.5]) expect(() => tileTables(m, 8, 8, { qOffset })).toThrow(/qOffset must be an integer in \[0, tileQ = 8\)/);
    m.kvIndices[0] = 7;
    expect(() => tileTables(m, 4, 4)).toThrow(/block index 7 is outside \[0, 3\); build it with createBlockMask/);
    m.kvIndices[0] = 0;
    m.kvNumBlocks[1] = 4;
    expect(() => tileTables(m, 4, 4)).toThrow(ShapeError);
    const short = new TableBlockMask({ ...m, kvIndices: new Int32Array(2) }, { B: 1, H: 1, qLen: 20, kvLen: 20, blockSize: [8, 8] }, causal);
    expect(() => blockClasses(short)).toThrow(/kvIndices has 2 entries/);
    // both views must agree: a q-major table changed alone
    const fresh = blockMaskByEvaluation(causal, { qLen: 20, kvLen: 20, blockSize: 8 });
    fresh.fullQNumBlocks[0] = 0;
    expect(() => tileTables(fresh, 4, 4)).toThrow(/q-major tables \(backward\) disagree/);
  });
});
