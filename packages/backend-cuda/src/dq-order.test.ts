import { allocateBlockTables, EMPTY, FULL, PARTIAL, writeTablesPlane, type BlockTables } from '@flexattn/ir';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dqOrder } from './dq-order';

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

/** kv tile kt's q tiles from the tables' own lists (partial, full), each as `~qt` when full. */
function listed(t: BlockTables, plane: number, kt: number): number[] {
  const row = plane * t.kvBlocks + kt;
  const partial = Array.from(t.qIndices.subarray(row * t.qBlocks, row * t.qBlocks + t.qNumBlocks[row]!));
  const full = Array.from(t.fullQIndices.subarray(row * t.qBlocks, row * t.qBlocks + t.fullQNumBlocks[row]!), (q) => ~q);
  return [...partial, ...full];
}

/** The order's halves for kv tile kt: its visits (q tiles as the kernel walks them, `~qt` full) and their ranks. */
function walk(order: Int32Array, t: BlockTables, plane: number, kt: number): { visits: number[]; ranks: number[] } {
  const half = order.length / 2, at = (plane * t.kvBlocks + kt) * t.qBlocks;
  const n = t.qNumBlocks[plane * t.kvBlocks + kt]! + t.fullQNumBlocks[plane * t.kvBlocks + kt]!;
  return { visits: Array.from(order.subarray(half + at, half + at + n)), ranks: Array.from(order.subarray(at, at + n)) };
}
const tileOf = (v: number) => (v < 0 ? ~v : v);

/**
 * A model of the kernel with every kv tile resident: at each step, every kv tile whose next q tile's
 * counter has reached its rank adds that tile. Returns the steps until all walks end (throws if stuck).
 */
function lockstep(walks: { visits: number[]; ranks: number[] }[], qTiles: number): number {
  const counter = new Array<number>(qTiles).fill(0);
  const next = walks.map(() => 0);
  let steps = 0;
  while (walks.some((w, kt) => next[kt]! < w.visits.length)) {
    const ready = walks.flatMap((w, kt) => (next[kt]! < w.visits.length && counter[tileOf(w.visits[next[kt]!]!)] === w.ranks[next[kt]!] ? [kt] : []));
    if (!ready.length) throw new Error(`stuck after ${steps} steps`);
    for (const kt of ready) {
      counter[tileOf(walks[kt]!.visits[next[kt]!]!)]!++;
      next[kt]!++;
    }
    steps++;
  }
  return steps;
}

describe('dqOrder (the deterministic backward dQ order)', () => {
  it('walks each kv tile\'s listed q tiles once each, ascending, a full one marked as such', () => {
    fc.assert(
      fc.property(randomTables, ({ t, planes, kvTiles }) => {
        const order = dqOrder(t);
        expect(order.length).toBe(2 * planes * kvTiles * t.qBlocks);
        for (let plane = 0; plane < planes; plane++)
          for (let kt = 0; kt < kvTiles; kt++) {
            const { visits } = walk(order, t, plane, kt);
            expect([...visits].sort((x, y) => x - y)).toEqual([...listed(t, plane, kt)].sort((x, y) => x - y));
            expect(visits.map(tileOf)).toEqual([...visits.map(tileOf)].sort((x, y) => x - y));
          }
      }),
    );
  });

  it('gives the kv tiles that visit a q tile the ranks 0..k−1 in launch order (kv tiles descending)', () => {
    fc.assert(
      fc.property(randomTables, ({ t, classes, planes, qTiles, kvTiles }) => {
        const order = dqOrder(t);
        for (let plane = 0; plane < planes; plane++)
          for (let qt = 0; qt < qTiles; qt++) {
            // the visitors from the dense classes, in launch order, and the rank each one got
            const got: number[] = [];
            for (let kt = kvTiles - 1; kt >= 0; kt--) {
              const cls = classes[(plane * qTiles + qt) * kvTiles + kt];
              const { visits, ranks } = walk(order, t, plane, kt);
              const j = visits.findIndex((v) => tileOf(v) === qt);
              expect(j >= 0).toBe(cls !== EMPTY);
              if (j >= 0) {
                expect(visits[j]! < 0).toBe(cls === FULL);
                got.push(ranks[j]!);
              }
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
        const order = dqOrder(t);
        for (let plane = 0; plane < planes; plane++) {
          const counter = new Array<number>(qTiles).fill(0);
          for (let kt = kvTiles - 1; kt >= 0; kt--) {
            const { visits, ranks } = walk(order, t, plane, kt);
            visits.forEach((v, j) => {
              expect(counter[tileOf(v)]).toBe(ranks[j]);
              counter[tileOf(v)]!++;
            });
          }
        }
      }),
    );
  });

  it('never gets stuck with every kv tile resident, whichever of them is ready adds first', () => {
    fc.assert(
      fc.property(randomTables, ({ t, planes, kvTiles }) => {
        const order = dqOrder(t);
        for (let plane = 0; plane < planes; plane++) {
          const walks = Array.from({ length: kvTiles }, (_, kt) => walk(order, t, plane, kt));
          expect(lockstep(walks, t.qBlocks)).toBeLessThanOrEqual(walks.reduce((n, w) => n + w.visits.length, 0));
        }
      }),
    );
  });

  it('document tiles: a kv tile inside a document meets its q tiles in the same order as the others', () => {
    // two documents over 5 tiles: tiles 0–2 (tile 2 partial: it holds the boundary) and 2–4
    const n = 5;
    const doc = (i: number) => (i < 2 ? [0] : i === 2 ? [0, 1] : [1]);
    const classes = new Uint8Array(n * n).map((_, c) => {
      const q = Math.floor(c / n), kv = c % n;
      const shared = doc(q).some((d) => doc(kv).includes(d));
      return !shared ? EMPTY : q === 2 || kv === 2 ? PARTIAL : FULL;
    });
    const t = allocateBlockTables(1, 1, n, n);
    writeTablesPlane(t, 0, classes, 0);
    const order = dqOrder(t);
    // kv tile 1 lists q tile 2 (partial) before 0 and 1 (full); its walk goes 0, 1, 2
    expect(listed(t, 0, 1)).toEqual([2, ~0, ~1]);
    expect(walk(order, t, 0, 1)).toEqual({ visits: [~0, ~1, 2], ranks: [1, 1, 3] });
    // kv tile 2 (both documents): first in line for the first document's q tiles 0 and 1, third elsewhere
    expect(walk(order, t, 0, 2)).toEqual({ visits: [0, 1, 2, 3, 4], ranks: [0, 0, 2, 2, 2] });
    // in lockstep the ascending walks take 5 steps, the longest walk's length: nothing waits. The
    // lists' own order (partial tiles first, the same ranks) takes 7: kv tiles 0, 1, 3 and 4 go to
    // q tile 2 first and wait there for the tiles ahead of them in its line
    const walks = Array.from({ length: n }, (_, kt) => walk(order, t, 0, kt));
    const listedWalks = walks.map((w, kt) => {
      const visits = listed(t, 0, kt);
      return { visits, ranks: visits.map((v) => w.ranks[w.visits.indexOf(v)]!) };
    });
    expect(lockstep(walks, n)).toBe(5);
    expect(lockstep(listedWalks, n)).toBe(7);
    expect(dqOrder(t)).toBe(order);  // memoised on the tables
  });
});
