import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blockMaskByEvaluation, ceilDiv, createMask, denseFromTables, EMPTY, FULL, PARTIAL, reblock, TableBlockMask, tablesFromDense } from './block-mask';
import { ShapeError } from './errors';
import { traceMaskMod } from './trace';

const mod = traceMaskMod((_b, _h, q, kv) => q.ge(kv));

const denseArb = fc
  .record({ B: fc.integer({ min: 1, max: 2 }), H: fc.integer({ min: 1, max: 3 }), qBlocks: fc.integer({ min: 1, max: 6 }), kvBlocks: fc.integer({ min: 1, max: 6 }) })
  .chain((s) => fc.tuple(fc.constant(s), fc.uint8Array({ min: 0, max: 2, minLength: s.B * s.H * s.qBlocks * s.kvBlocks, maxLength: s.B * s.H * s.qBlocks * s.kvBlocks })));

describe('block tables', () => {
  it('tablesFromDense / denseFromTables round-trip, and the transposed (q-major) view agrees (fast-check)', () => {
    fc.assert(
      fc.property(denseArb, ([{ B, H, qBlocks, kvBlocks }, dense]) => {
        const t = tablesFromDense(dense, B, H, qBlocks, kvBlocks);
        expect(denseFromTables(t)).toEqual(dense);
        for (let p = 0; p < B * H; p++) {
          for (let qb = 0; qb < qBlocks; qb++) {
            // kv-major lists: ascending kv blocks of each class, counts match.
            const row = (p * qBlocks + qb) * kvBlocks;
            const partial = [...Array(kvBlocks).keys()].filter((kb) => dense[row + kb] === PARTIAL);
            const full = [...Array(kvBlocks).keys()].filter((kb) => dense[row + kb] === FULL);
            expect(t.kvNumBlocks[p * qBlocks + qb]).toBe(partial.length);
            expect(Array.from(t.kvIndices.subarray(row, row + partial.length))).toEqual(partial);
            expect(t.fullKvNumBlocks[p * qBlocks + qb]).toBe(full.length);
            expect(Array.from(t.fullKvIndices.subarray(row, row + full.length))).toEqual(full);
          }
          for (let kb = 0; kb < kvBlocks; kb++) {
            const col = (p * kvBlocks + kb) * qBlocks;
            const partial = [...Array(qBlocks).keys()].filter((qb) => dense[(p * qBlocks + qb) * kvBlocks + kb] === PARTIAL);
            const full = [...Array(qBlocks).keys()].filter((qb) => dense[(p * qBlocks + qb) * kvBlocks + kb] === FULL);
            expect(t.qNumBlocks[p * kvBlocks + kb]).toBe(partial.length);
            expect(Array.from(t.qIndices.subarray(col, col + partial.length))).toEqual(partial);
            expect(t.fullQNumBlocks[p * kvBlocks + kb]).toBe(full.length);
            expect(Array.from(t.fullQIndices.subarray(col, col + full.length))).toEqual(full);
          }
        }
      }),
      { numRuns: 150, seed: 11 },
    );
  });

  it('reblock to smaller and larger tiles agrees with the brute-force definition (fast-check)', () => {
    // Definition: a tile is FULL when every element in it lies in a FULL block, EMPTY when every
    // element lies in an EMPTY block, PARTIAL otherwise.
    const arb = fc
      .record({
        B: fc.integer({ min: 1, max: 2 }),
        H: fc.integer({ min: 1, max: 2 }),
        qLen: fc.integer({ min: 1, max: 40 }),
        kvLen: fc.integer({ min: 1, max: 40 }),
        bq: fc.integer({ min: 1, max: 9 }),
        bk: fc.integer({ min: 1, max: 9 }),
        tq: fc.integer({ min: 1, max: 16 }),
        tk: fc.integer({ min: 1, max: 16 }),
      })
      .chain((s) => {
        const n = s.B * s.H * ceilDiv(s.qLen, s.bq) * ceilDiv(s.kvLen, s.bk);
        return fc.tuple(fc.constant(s), fc.uint8Array({ min: 0, max: 2, minLength: n, maxLength: n }));
      });
    fc.assert(
      fc.property(arb, ([s, dense]) => {
        const mask = TableBlockMask.fromDense(dense, { B: s.B, H: s.H, qLen: s.qLen, kvLen: s.kvLen, blockSize: [s.bq, s.bk] }, mod);
        const t = reblock(mask, s.tq, s.tk);
        const qTiles = ceilDiv(s.qLen, s.tq);
        const kvTiles = ceilDiv(s.kvLen, s.tk);
        expect([t.qBlocks, t.kvBlocks]).toEqual([qTiles, kvTiles]);
        const got = denseFromTables(t);
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
        // Same tiles as the mask's blocks: the mask's own tables.
        expect(denseFromTables(reblock(mask, s.bq, s.bk))).toEqual(dense);
      }),
      { numRuns: 400, seed: 12 },
    );
  });

  it('blockMaskByEvaluation classifies blocks by their elements, and createMask is the element mask', () => {
    const m = blockMaskByEvaluation(mod, { qLen: 10, kvLen: 10, blockSize: 4 });
    // Blocks of 4 over 10: rows [0,4) [4,8) [8,10). Causal: diagonal partial, below full, above empty.
    expect(Array.from(m.toDense())).toEqual([PARTIAL, EMPTY, EMPTY, FULL, PARTIAL, EMPTY, FULL, FULL, PARTIAL]);
    expect(m.sparsity()).toBeCloseTo((100 * 3) / 9, 12);
    const e = createMask(mod, { qLen: 3, kvLen: 4 });
    expect(Array.from(e)).toEqual([1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0]);
    expect(() => TableBlockMask.fromDense(new Uint8Array(3), { B: 1, H: 1, qLen: 10, kvLen: 10, blockSize: [4, 4] }, mod)).toThrow(ShapeError);
  });

  it('toString draws █ full, ░ partial, space empty', () => {
    const m = TableBlockMask.fromDense(Uint8Array.from([FULL, PARTIAL, EMPTY, EMPTY, FULL, PARTIAL]), { B: 1, H: 1, qLen: 4, kvLen: 6, blockSize: [2, 2] }, mod);
    const lines = m.toString().split('\n');
    expect(lines[0]).toMatch(/^BlockMask 4×6 in 2×2 blocks, B=1 H=1, sparsity 33\.33%$/);
    expect(lines.slice(1)).toEqual(['|█░ |', '| █░|']);
    const two = TableBlockMask.fromDense(Uint8Array.from([FULL, EMPTY]), { B: 1, H: 2, qLen: 1, kvLen: 1, blockSize: [1, 1] }, mod);
    expect(two.toString().split('\n').slice(1)).toEqual(['(b=0, h=0)', '|█|', '(b=0, h=1)', '| |']);
  });
});
