import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchIndexError, OutOfPagesError } from './errors';
import { PageTable } from './page-table';

type Op = { kind: 'reserve'; b: number; len: number } | { kind: 'free'; b: number };
const ops = (maxBatch: number): fc.Arbitrary<Op[]> =>
  fc.array(
    fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('reserve' as const), b: fc.nat(maxBatch - 1), len: fc.nat(40) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('free' as const), b: fc.nat(maxBatch - 1) }) },
    ),
    { maxLength: 40 },
  );

/** Every page is free or owned by exactly one sequence, and pageInfo says which logical page it is. */
function expectConsistent(t: PageTable): void {
  const owned = new Set<number>();
  for (let b = 0; b < t.maxBatch; b++) {
    t.pagesOfSequence(b).forEach((page, logical) => {
      expect(owned.has(page), `page ${page} owned twice`).toBe(false);
      owned.add(page);
      expect([t.pageInfo[2 * page], t.pageInfo[2 * page + 1]]).toEqual([b, logical]);
    });
    expect(t.capacity(b)).toBe(t.pagesOfSequence(b).length * t.pageSize);
  }
  for (let page = 0; page < t.pages; page++) if (!owned.has(page)) expect([t.pageInfo[2 * page], t.pageInfo[2 * page + 1]]).toEqual([-1, -1]);
  expect(t.freePageCount).toBe(t.pages - owned.size);
}

describe('PageTable', () => {
  it('stays consistent under random reserve/free; a reserve that cannot be met changes nothing', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }).chain((m) => fc.tuple(fc.constant(m), ops(m))), (pages, pageSize, [maxBatch, list]) => {
        const t = new PageTable(pages, pageSize, maxBatch);
        for (const op of list) {
          if (op.kind === 'free') t.free(op.b);
          else {
            const before = { free: t.freePageCount, info: Int32Array.from(t.pageInfo), cap: t.capacity(op.b) };
            const needed = Math.ceil(op.len / pageSize) - before.cap / pageSize;
            if (needed > before.free) {
              expect(() => t.reserve(op.b, op.len)).toThrow(OutOfPagesError);
              expect(t.freePageCount).toBe(before.free);
              expect(t.pageInfo).toEqual(before.info);
            } else {
              t.reserve(op.b, op.len);
              expect(t.capacity(op.b)).toBe(Math.max(before.cap, Math.ceil(op.len / pageSize) * pageSize));
            }
          }
          expectConsistent(t);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('maps logical positions to rows of the sequence’s own pages', () => {
    const t = new PageTable(6, 4, 2);
    t.reserve(0, 5); // pages 0, 1
    t.reserve(1, 3); // page 2
    t.reserve(0, 9); // page 3
    expect(t.pagesOfSequence(0)).toEqual([0, 1, 3]);
    expect(Array.from(t.rows(0, 2, 7))).toEqual([2, 3, 4, 5, 6, 7, 12]);
    t.free(0);
    t.reserve(1, 13); // takes 0, 1, 3 back in their old order
    expect(t.pagesOfSequence(1)).toEqual([2, 0, 1, 3]);
  });

  it('names the valid range for a bad batch index (BatchIndexError)', () => {
    const t = new PageTable(2, 4, 3);
    for (const b of [-1, 3, 1.5, NaN]) expect(() => t.reserve(b, 1)).toThrow(BatchIndexError);
    expect(() => t.free(3)).toThrow(/maxBatch = 3 sequences, indices 0..2/);
  });
});
