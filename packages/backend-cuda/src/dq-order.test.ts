import { allocateBlockTables, EMPTY, writeTablesPlane, type BlockTables } from '@flexattn/ir';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dqOrderRanks } from './dq-order';

/** Random block classes (EMPTY / PARTIAL / FULL per tile) for B·H planes of qTiles × kvTiles, and their tables. */
const randomTables = fc
  .record({ planes: fc.integer({ min: 1, max: 3 }), qTiles: fc.integer({ min: 1, max: 9 }), kvTiles: fc.integer({ min: 1, max: 9 }) })
  .chain(({ planes, qTiles, kvTiles }) =>
    fc.uint8Array({ min: 0, max: 2, minLength: planes * qTiles * kvTiles, maxLength: planes * qTiles * kvTiles }).map((classes) => {
      const t = allocateBlockTables(planes, 1, qTiles, kvTiles);
      for (let p = 0; p < planes; p++) writeTablesPlane(t, p, classes, p * qTiles * kvTiles);
      return { t, classes, planes, qTiles, kvTiles };
    }),
  );

/** kv tile kt's q-tile list in the kernel's visiting order (partial tiles, then full ones). */
function visits(t: BlockTables, plane: number, kt: number): number[] {
  const row = plane * t.kvBlocks + kt;
  const partial = Array.from(t.qIndices.subarray(row * t.qBlocks, row * t.qBlocks + t.qNumBlocks[row]!));
  const full = Array.from(t.fullQIndices.subarray(row * t.qBlocks, row * t.qBlocks + t.fullQNumBlocks[row]!));
  return [...partial, ...full];
}

describe('dqOrderRanks (the deterministic backward dQ order)', () => {
  it('gives the kv tiles that visit a q tile the ranks 0..k−1 in launch order (kv tiles descending)', () => {
    fc.assert(
      fc.property(randomTables, ({ t, classes, planes, qTiles, kvTiles }) => {
        const ranks = dqOrderRanks(t);
        for (let plane = 0; plane < planes; plane++)
          for (let qt = 0; qt < qTiles; qt++) {
            // the visitors from the dense classes, in launch order, and the rank each one got
            const got: number[] = [];
            for (let kt = kvTiles - 1; kt >= 0; kt--) {
              const visiting = classes[(plane * qTiles + qt) * kvTiles + kt] !== EMPTY;
              const j = visits(t, plane, kt).indexOf(qt);
              expect(j >= 0).toBe(visiting);
              if (visiting) got.push(ranks[(plane * kvTiles + kt) * qTiles + j]!);
            }
            expect(got).toEqual(got.map((_, i) => i));
          }
      }),
    );
  });

  it('never makes a CTA wait for a later one: kv tiles run to the end one at a time, in launch order', () => {
    // the worst occupancy (one CTA resident): each adds its q tiles in its own order, and each add
    // must find the q tile's counter already at its rank
    fc.assert(
      fc.property(randomTables, ({ t, planes, qTiles, kvTiles }) => {
        const ranks = dqOrderRanks(t);
        for (let plane = 0; plane < planes; plane++) {
          const counter = new Array<number>(qTiles).fill(0);
          for (let kt = kvTiles - 1; kt >= 0; kt--)
            visits(t, plane, kt).forEach((qt, j) => {
              expect(counter[qt]).toBe(ranks[(plane * kvTiles + kt) * qTiles + j]);
              counter[qt]!++;
            });
        }
      }),
    );
  });

  it('causal tiles: kv tile kt is last in line for q tile kt and one step behind kv tile kt + 1 after', () => {
    const n = 4;
    const classes = new Uint8Array(n * n).map((_, i) => (Math.floor(i / n) > i % n ? 2 : Math.floor(i / n) === i % n ? 1 : 0));
    const t = allocateBlockTables(1, 1, n, n);
    writeTablesPlane(t, 0, classes, 0);
    const ranks = dqOrderRanks(t);
    // kv tile 1 visits q tiles 1 (partial), 2, 3 (full): kv tiles 3 and 2 come first where they visit
    expect(Array.from(ranks.subarray(1 * n, 1 * n + 3))).toEqual([0, 1, 2]);
    expect(Array.from(ranks.subarray(0, 4))).toEqual([0, 1, 2, 3]);
    expect(dqOrderRanks(t)).toBe(ranks);  // memoised on the tables
  });
});
