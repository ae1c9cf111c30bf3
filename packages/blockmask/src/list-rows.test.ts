/**
 * The decode step's value path (list-rows.ts, the slices and resizes of classified.ts that copy
 * lists and build views when read) against definitions built from scratch: a step's blocks are the
 * source's block row for the columns the cut keeps and the exact class of the others (brute force,
 * every element evaluated); its tables are the ones tablesFromClasses writes from those blocks,
 * compared array by array; its mask mod and shifted score mods are the source's at the absolute
 * position, on random indices. Random IR masks (reading b and h too), shapes, block sizes and positions.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileToJs, tablesFromClasses, traceMaskMod, traceScoreMod, type BlockMask, type BlockTables, type ScoreMod, type TracedMod,
} from '@flexattn/ir';
import { createBlockMask, createMask, DecodeSteps, type ClassifiedBlockMask } from './index';
import { boolAst, buildMask, dimsFor, envData, shapeArb } from './grammar.test-helpers';
import { unchangedBlocks } from './resize';

const VIEWS = ['kvNumBlocks', 'kvIndices', 'fullKvNumBlocks', 'fullKvIndices', 'qNumBlocks', 'qIndices', 'fullQNumBlocks', 'fullQIndices'] as const;

/** Every view of `mask` equals the tables tablesFromClasses writes from `classes` (word for word, unused slots included). */
function expectTables(mask: BlockMask, classes: Uint8Array, what: string): void {
  const want: BlockTables = tablesFromClasses(classes, mask.B, mask.H, mask.qBlocks, mask.kvBlocks);
  for (const view of VIEWS) {
    const got = Array.from(mask[view]);
    const expected = Array.from(want[view]);
    if (got.join() !== expected.join()) throw new Error(`${what}: ${view} is [${got.join(', ')}], expected [${expected.join(', ')}]`);
  }
}

/** The exact class of query row q over keys [k0, k1) of plane (b, h): every element evaluated. */
function exactClass(elements: Uint8Array, H: number, qLen: number, kvLen: number, b: number, h: number, q: number, k0: number, k1: number): number {
  let any = false;
  let all = true;
  for (let kv = k0; kv < k1; kv++) {
    if (elements[((b * H + h) * qLen + q) * kvLen + kv]) any = true;
    else all = false;
  }
  return all ? 2 : any ? 1 : 0;
}

/**
 * The blocks of the step at positions[b] over keys [0, kv) of `master` (built over [qLen, kvLen]) by
 * definition: columns the cut leaves whole are the master's block row (sliceRows semantics), the
 * others exactly the step's row. `elements` is the base mod's element mask at B = positions.length.
 */
function stepBlocks(master: ClassifiedBlockMask, elements: Uint8Array, positions: number[], kv: number, qLen: number, elementKv: number): Uint8Array {
  const [bq, bk] = master.blockSize;
  const { H, kvBlocks: Km } = master;
  const K = Math.ceil(kv / bk);
  const keep = unchangedBlocks(master.seqLengths[1], kv, bk);
  const dense = master.toDense();
  const out = new Uint8Array(positions.length * H * K);
  for (let b = 0; b < positions.length; b++) {
    const p = positions[b]!;
    for (let h = 0; h < H; h++) {
      const plane = (master.B === 1 ? 0 : b) * H + h;
      for (let kb = 0; kb < K; kb++) {
        out[(b * H + h) * K + kb] = kb < keep
          ? dense[(plane * master.qBlocks + Math.floor(p / bq)) * Km + kb]!
          : exactClass(elements, H, qLen, elementKv, b, h, p, kb * bk, Math.min((kb + 1) * bk, kv));
      }
    }
  }
  return out;
}

/** The mod `mod` of a step mask equals `base` at the absolute row positions[b], on random (b, h, kv). */
function expectShiftedMod(mod: TracedMod, base: TracedMod, positions: number[], H: number, kv: number, rand: () => number): void {
  const got = compileToJs(mod);
  const want = compileToJs(base);
  for (let i = 0; i < 24; i++) {
    const b = Math.floor(rand() * positions.length);
    const h = Math.floor(rand() * H);
    const k = Math.floor(rand() * kv);
    expect(Boolean(got(b, h, 0, k)), `mask mod at (b ${b}, h ${h}, kv ${k})`).toBe(Boolean(want(b, h, positions[b]!, k)));
  }
}

const stepArb = fc.record({
  positions: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
  kvExtra: fc.integer({ min: -60, max: 20 }),
  perBatch: fc.boolean(),
  seed: fc.integer(),
});

describe('a decode step by value: sliceRows / sliceRowsPerBatch, then resize(1, kv)', () => {
  it('has the blocks of its definition, the tables tablesFromClasses writes from them, and the source mod at the absolute position', () => {
    fc.assert(
      fc.property(boolAst, envData, shapeArb, stepArb, (ast, data, sh, r) => {
        const mod = traceMaskMod(buildMask(ast, data));
        const dims = dimsFor(mod, sh);
        const master = createBlockMask(mod, { ...dims, qLen: sh.qLen, kvLen: sh.kvLen, blockSize: sh.block[0] === sh.block[1] ? sh.block[0] : sh.block });
        // one position for every batch, or one per batch (only where the master may serve several)
        const n = r.perBatch && (master.B > 1 || !dims.B) ? (master.B > 1 ? master.B : r.positions.length) : master.B;
        const positions = Array.from({ length: n }, (_, b) => (r.positions[r.perBatch ? b % r.positions.length : 0]! % sh.qLen));
        const kv = Math.max(1, Math.min(sh.kvLen + 20, positions[0]! + 1 + r.kvExtra));
        const slice = r.perBatch ? master.sliceRowsPerBatch(positions) : master.sliceRows(positions[0]!, positions[0]! + 1);
        const step = slice.resize(1, kv);
        const elementKv = Math.max(kv, sh.kvLen);
        const elements = createMask(mod, { B: n, H: master.H, qLen: sh.qLen, kvLen: elementKv });
        const what = `positions [${positions.join(', ')}] of ${sh.qLen}x${sh.kvLen}, kv ${kv}, blocks ${sh.block.join('x')}`;
        expect(step.seqLengths).toEqual([1, kv]);
        expectTables(step, stepBlocks(master, elements, positions, kv, sh.qLen, elementKv), what);
        // the slice itself, read after the step: the master's block rows at full kv length
        expectTables(slice, stepBlocks(master, elements, positions, sh.kvLen, sh.qLen, elementKv), `${what} (the slice)`);
        let seed = r.seed;
        const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) | 0) >>> 8) / (1 << 24);
        expectShiftedMod(step.maskMod, mod, positions, master.H, kv, rand);
        expect(step.maskMod.hash).toBe(slice.maskMod.hash);
      }),
      { numRuns: 300 },
    );
  });

  it('a score mod shifted by the step sees the absolute position (a mod reading q, b and h)', () => {
    const score: ScoreMod = (s, b, h, q, kv) => s.add(q.sub(kv).toFloat().mul(0.25)).add(b.mul(3).add(h).toFloat());
    const traced = traceScoreMod(score);
    const want = compileToJs(traced);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.array(fc.nat({ max: 79 }), { minLength: 2, maxLength: 2 }), fc.nat({ max: 79 }), (bq, positions, k) => {
        const master = createBlockMask((b, h, q, kv) => kv.le(q).or(b.add(h).eq(2)), { B: 2, H: 2, qLen: 80, kvLen: 80, blockSize: bq });
        const step = master.sliceRowsPerBatch(positions).resize(1, 80);
        const got = compileToJs(traceScoreMod(step.shiftScoreMod(traced)));
        for (let b = 0; b < 2; b++) for (let h = 0; h < 2; h++) expect(got(1, b, h, 0, k)).toBe(want(1, b, h, positions[b]!, k));
      }),
      { numRuns: 50 },
    );
  });

  it('slices stay values: growing the source in place later, or reading a slice first, changes no slice or step', () => {
    fc.assert(
      fc.property(boolAst, envData, fc.integer({ min: 1, max: 9 }), fc.nat({ max: 39 }), fc.integer({ min: 1, max: 30 }), (ast, data, block, p, grow) => {
        const mod = traceMaskMod(buildMask(ast, data));
        const master = createBlockMask(mod, { B: 1, H: 1, qLen: 40, kvLen: 40, blockSize: block });
        const unread = master.sliceRows(p, p + 1);
        const read = master.sliceRows(p, p + 1);
        const before = read.toDense(); // builds its tables now
        const stepBefore = unread.resize(1, p + 1).toDense();
        master.extendKv(40 + grow); // moves the master's rows in place
        expect(Array.from(unread.toDense())).toEqual(Array.from(before));
        expect(Array.from(unread.resize(1, p + 1).toDense())).toEqual(Array.from(stepBefore));
        expect(Array.from(read.resize(1, p + 1).toDense())).toEqual(Array.from(stepBefore));
        // The master's tables now grow in place: a slice taken now keeps a copy of its row (the
        // slices above read the master's first tables, which nothing writes), and the next growth,
        // which moves and rewrites the master's rows, changes neither it nor its step.
        const fresh = createBlockMask(mod, { B: 1, H: 1, qLen: 40, kvLen: 40 + grow, blockSize: block });
        const ofGrowable = master.sliceRows(p, p + 1);
        master.extendKv(40 + 2 * grow + block);
        expect(Array.from(ofGrowable.resize(1, p + 1).toDense())).toEqual(Array.from(fresh.sliceRows(p, p + 1).resize(1, p + 1).toDense()));
        expect(Array.from(ofGrowable.toDense())).toEqual(Array.from(fresh.sliceRows(p, p + 1).toDense()));
        expect(Array.from(unread.toDense())).toEqual(Array.from(before));
      }),
      { numRuns: 200 },
    );
  });

  it('a slice of a DecodeSteps step mask keeps that step after the next one', () => {
    fc.assert(
      fc.property(boolAst, envData, fc.integer({ min: 1, max: 9 }), fc.nat({ max: 38 }), fc.nat({ max: 38 }), (ast, data, block, p, q) => {
        const mod = traceMaskMod(buildMask(ast, data));
        const master = createBlockMask(mod, { B: 1, H: 1, qLen: 40, kvLen: 40, blockSize: block });
        const steps = new DecodeSteps(master);
        const slice = steps.at(p).sliceRows(0, 1);
        const want = Array.from(master.sliceRows(p, p + 1).resize(1, p + 1).toDense());
        steps.at(q, 40); // rewrites the step mask's tables in place
        expect(Array.from(slice.toDense())).toEqual(want);
        expect(Array.from(slice.resize(1, p + 1).toDense())).toEqual(want);
      }),
      { numRuns: 100 },
    );
  });

  it('many live slices keep their own offsets (each its own capture; one traced graph, one hash)', () => {
    const mod = traceMaskMod((_b, _h, q, kv) => kv.le(q).and(q.sub(kv).lt(7)));
    const master = createBlockMask(mod, { qLen: 64, kvLen: 64, blockSize: 8 });
    const steps = Array.from({ length: 64 }, (_, p) => master.sliceRows(p, p + 1).resize(1, p + 1));
    const want = compileToJs(mod);
    for (const [p, step] of steps.entries()) {
      // row 0 keeps the unshifted mod (offset 0); every other row one shifted graph
      if (p > 0) expect(step.maskMod.hash).toBe(steps[1]!.maskMod.hash);
      const got = compileToJs(step.maskMod);
      for (let k = 0; k <= p; k++) expect(Boolean(got(0, 0, 0, k))).toBe(Boolean(want(0, 0, p, k)));
    }
  });
});
