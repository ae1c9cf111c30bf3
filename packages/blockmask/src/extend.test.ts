/**
 * extendKv: a mask grown in place equals createBlockMask at the new length (random IR masks, shapes,
 * growth sequences); its table work does not depend on the length; tile-table caches see the change.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShapeError, tileTableConversions, tileTables, traceMaskMod, type MaskMod } from '@flexattn/ir';
import { createBlockMask, validateBlockMask, type ClassifiedBlockMask } from './index';
import { boolAst, buildMask, dimsFor, envData, shapeArb } from './grammar.test-helpers';
import { tableWork } from './growable-tables';
import { denseFromQMajor, firstDifference, listsSorted, type Shape } from './oracle.test-helpers';

const shapeOf = (m: ClassifiedBlockMask): Shape => ({ B: m.B, H: m.H, qLen: m.seqLengths[0], kvLen: m.seqLengths[1], bq: m.blockSize[0], bk: m.blockSize[1] });

/** Same classes as `want`, both views agree, lists ascend, tables the sizes the lengths imply. */
function expectSameMask(got: ClassifiedBlockMask, want: ClassifiedBlockMask, what: string): void {
  const shape = shapeOf(want);
  expect(got.seqLengths).toEqual(want.seqLengths);
  expect([got.qBlocks, got.kvBlocks]).toEqual([want.qBlocks, want.kvBlocks]);
  const diff = firstDifference(got.toDense(), want.toDense(), shape);
  if (diff) throw new Error(`${what}: ${diff}\n${got.maskMod.toString()}`);
  expect(firstDifference(denseFromQMajor(got), want.toDense(), shape)).toBeUndefined();
  expect(listsSorted(got)).toBe(true);
  const v = validateBlockMask(got);
  if (!v.ok) throw new Error(`${what}: ${v.problems[0]!.message}`);
}

describe('extendKv: growth in place', () => {
  it('equals createBlockMask at every new length (random IR masks, shapes, growth sequences)', () => {
    fc.assert(
      fc.property(boolAst, envData, shapeArb, fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 5 }), (ast, data, sh, growths) => {
        const mod = traceMaskMod(buildMask(ast, data));
        const opts = { ...dimsFor(mod, sh), qLen: sh.qLen, blockSize: sh.block };
        const mask = createBlockMask(mod, { ...opts, kvLen: sh.kvLen });
        let kvLen = sh.kvLen;
        const generation = mask.generation;
        for (const g of growths) {
          kvLen += g;
          expect(mask.extendKv(kvLen)).toBe(mask);
          expectSameMask(mask, createBlockMask(mod, { ...opts, kvLen }), `${sh.qLen}x${sh.kvLen} grown to ${kvLen}`);
        }
        expect(mask.generation).toBe(generation + growths.length);
      }),
      { numRuns: 300 },
    );
  });

  it('token by token along a decode row, and on a slice: equals resize of the same mask', () => {
    const window: MaskMod = (_b, _h, q, kv) => kv.le(q).and(kv.lt(3).or(q.sub(kv).lt(21)));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 99 }), (bq, bk, p) => {
        const master = createBlockMask(window, { qLen: 100, kvLen: 100, blockSize: [bq, bk] });
        const row = master.sliceRows(p, p + 1).resize(1, 1);
        for (let kvLen = 2; kvLen <= 60; kvLen++) {
          const want = row.resize(1, kvLen);
          expectSameMask(row.extendKv(kvLen), want, `row ${p} at kvLen ${kvLen}`);
        }
      }),
      { numRuns: 25 },
    );
  });

  it('writes table words in proportion to the new blocks, not the length (a decode row: nothing moves)', () => {
    /** Table work of 400 one-token extensions of a causal query row at position L + 399 over L keys. */
    const workAt = (L: number) => {
      const row = createBlockMask((_b, _h, q, kv) => kv.le(q.add(L + 399)), { qLen: 1, kvLen: L, blockSize: 16 });
      row.extendKv(L + 1); // the first extension copies the tables into growable ones (room for 2× the blocks)
      const before = tableWork();
      for (let kv = L + 2; kv <= L + 400; kv++) row.extendKv(kv);
      const after = tableWork();
      return { written: after.written - before.written, moved: after.moved - before.moved, reallocations: after.reallocations - before.reallocations };
    };
    const short = workAt(1024);
    const long = workAt(65536);
    expect(long).toEqual(short);
    expect(short.moved).toBe(0);
    expect(short.reallocations).toBe(0);
    // per token: the tail block's entry and counts, plus the new block every 16 tokens
    expect(short.written).toBeLessThan(399 * 8);
  });

  it('tile tables see the growth (generation) and are converted again, once', () => {
    const causal = traceMaskMod((_b, _h, q, kv) => kv.le(q));
    const mask = createBlockMask(causal, { qLen: 40, kvLen: 70, blockSize: 16 });
    tileTables(mask, 8, 32);
    const conversions = tileTableConversions();
    tileTables(mask, 8, 32);
    expect(tileTableConversions()).toBe(conversions);
    mask.extendKv(100);
    const grown = tileTables(mask, 8, 32);
    expect(tileTableConversions()).toBe(conversions + 1);
    const fresh = tileTables(createBlockMask(causal, { qLen: 40, kvLen: 100, blockSize: 16 }), 8, 32);
    for (const view of ['kvNumBlocks', 'kvIndices', 'fullKvNumBlocks', 'fullKvIndices', 'qNumBlocks', 'qIndices', 'fullQNumBlocks', 'fullQIndices'] as const) {
      expect(Array.from(grown[view]), view).toEqual(Array.from(fresh[view]));
    }
  });

  it('rejects a shorter or invalid length with a ShapeError and leaves the mask as it was', () => {
    const mask = createBlockMask((_b, _h, q, kv) => kv.le(q), { qLen: 16, kvLen: 16, blockSize: 4 });
    const before = mask.toDense();
    expect(() => mask.extendKv(12)).toThrow(/extendKv only grows.*resize\(16, 12\)/);
    expect(() => mask.extendKv(20.5)).toThrow(ShapeError);
    expect(mask.seqLengths).toEqual([16, 16]);
    expect(mask.toDense()).toEqual(before);
  });
});
