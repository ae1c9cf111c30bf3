import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classesFromTables, copyTablesPlane, FULL, offsetIn, PARTIAL, tablesFromClasses, tablesView } from './block-tables';

const denseArb = fc
  .record({ B: fc.integer({ min: 1, max: 2 }), H: fc.integer({ min: 1, max: 3 }), qBlocks: fc.integer({ min: 1, max: 6 }), kvBlocks: fc.integer({ min: 1, max: 6 }) })
  .chain((s) => fc.tuple(fc.constant(s), fc.uint8Array({ min: 0, max: 2, minLength: s.B * s.H * s.qBlocks * s.kvBlocks, maxLength: s.B * s.H * s.qBlocks * s.kvBlocks })));

describe('block tables', () => {
  it('tablesFromClasses / classesFromTables round-trip, and the transposed (q-major) view agrees (fast-check)', () => {
    fc.assert(
      fc.property(denseArb, ([{ B, H, qBlocks, kvBlocks }, dense]) => {
        const t = tablesFromClasses(dense, B, H, qBlocks, kvBlocks);
        expect(classesFromTables(t)).toEqual(dense);
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

  it('keeps all eight views in one allocation, at the offsets offsetIn reports', () => {
    const t = tablesFromClasses(Uint8Array.from([PARTIAL, FULL, 0, FULL, PARTIAL, 0]), 1, 2, 1, 3);
    const views = [t.kvIndices, t.fullKvIndices, t.qIndices, t.fullQIndices, t.kvNumBlocks, t.fullKvNumBlocks, t.qNumBlocks, t.fullQNumBlocks];
    expect(t.storage.length).toBe(views.reduce((n, v) => n + v.length, 0));
    for (const v of views) {
      expect(v.buffer).toBe(t.storage.buffer);
      expect(Array.from(t.storage.subarray(offsetIn(t.storage, v), offsetIn(t.storage, v) + v.length))).toEqual(Array.from(v));
    }
    expect(Array.from(t.fullKvNumBlocks)).toEqual([1, 1]);
    expect(t.fullKvIndices[3]).toBe(0); // plane 1 lists kv block 0 as full
  });

  it('tablesView: each view one contiguous stretch, its lists at the offsets it names', () => {
    const t = tablesFromClasses(Uint8Array.from([PARTIAL, FULL, 0, FULL, PARTIAL, 0]), 1, 2, 1, 3);
    for (const [name, lists, outer, inner] of [
      ['kv-major', [t.kvNumBlocks, t.kvIndices, t.fullKvNumBlocks, t.fullKvIndices], 1, 3],
      ['q-major', [t.qNumBlocks, t.qIndices, t.fullQNumBlocks, t.fullQIndices], 3, 1],
    ] as const) {
      const v = tablesView(t, name);
      expect([v.mB, v.mH, v.outer, v.inner]).toEqual([1, 2, outer, inner]);
      expect(v.words.length).toBe(lists.reduce((n, l) => n + l.length, 0));
      const at = [v.numBlocks, v.indices, v.fullNumBlocks, v.fullIndices];
      lists.forEach((l, i) => expect(Array.from(v.words.subarray(at[i]!, at[i]! + l.length))).toEqual(Array.from(l)));
    }
  });

  it('copyTablesPlane copies every view of a plane', () => {
    const t = tablesFromClasses(Uint8Array.from([PARTIAL, FULL, 0, 0, 0, 0]), 1, 2, 1, 3);
    copyTablesPlane(t, 0, 1);
    expect(Array.from(classesFromTables(t))).toEqual([PARTIAL, FULL, 0, PARTIAL, FULL, 0]);
    expect(Array.from(t.fullQNumBlocks)).toEqual([0, 1, 0, 0, 1, 0]);
  });
});
