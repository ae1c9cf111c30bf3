/**
 * BlockMasks that follow a growing sequence: resize against createBlockMask at the target lengths,
 * row slices against the dense element mask (and against a fresh build where the slice is
 * block-aligned), on random IR masks and shapes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluate, ShapeError, traceMaskMod, traceScoreMod, type MaskMod, type TracedMod } from '@flexattn/ir';
import { createBlockMask, createMask, fromKvBlocks, validateBlockMask, type ClassifiedBlockMask } from './index';
import { boolAst, buildMask, dimsFor, envData, shapeArb } from './grammar.test-helpers';
import { bruteForceBlocks, denseFromQMajor, firstDifference, listsSorted, type Shape } from './oracle.test-helpers';

const blockOf = (s: { block: [number, number] }) => (s.block[0] === s.block[1] ? s.block[0] : s.block);

/** Tables well formed, both views agree, lists ascend, FULL/EMPTY claims true of its mask mod. */
function expectConsistent(mask: ClassifiedBlockMask, what: string): void {
  const v = validateBlockMask(mask);
  if (!v.ok) throw new Error(`${what}: ${v.problems[0]!.message}\n${mask.maskMod.toString()}`);
  const shape: Shape = { B: mask.B, H: mask.H, qLen: mask.seqLengths[0], kvLen: mask.seqLengths[1], bq: mask.blockSize[0], bk: mask.blockSize[1] };
  expect(firstDifference(denseFromQMajor(mask), mask.toDense(), shape)).toBeUndefined();
  expect(listsSorted(mask)).toBe(true);
}

/** The sliced mask's mod is the source mod at absolute rows: its element mask is those rows of the source's. */
function expectRowsOf(slice: ClassifiedBlockMask, mod: MaskMod | TracedMod, H: number, starts: number[], qLen: number, fullQLen: number, kvLen: number): void {
  const full = createMask(mod, { B: starts.length, H, qLen: fullQLen, kvLen });
  const got = createMask(slice.maskMod, { B: starts.length, H, qLen, kvLen });
  for (let b = 0; b < starts.length; b++)
    for (let h = 0; h < H; h++)
      for (let r = 0; r < qLen; r++)
        for (let kv = 0; kv < kvLen; kv++) {
          const want = full[((b * H + h) * fullQLen + starts[b]! + r) * kvLen + kv];
          const have = got[((b * H + h) * qLen + r) * kvLen + kv];
          if (want !== have) throw new Error(`batch ${b} head ${h} row ${r} (absolute ${starts[b]! + r}) kv ${kv}: sliced mod ${have}, source ${want}`);
        }
}

describe('resize: same mod, new lengths', () => {
  it('equals createBlockMask at the target lengths (random IR masks, shapes, growing and shrinking)', () => {
    fc.assert(
      fc.property(boolAst, envData, shapeArb, fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 60 }), (ast, data, sh, qLen2, kvLen2) => {
        const mod = traceMaskMod(buildMask(ast, data));
        const dims = dimsFor(mod, sh);
        const resized = createBlockMask(mod, { ...dims, qLen: sh.qLen, kvLen: sh.kvLen, blockSize: blockOf(sh) }).resize(qLen2, kvLen2);
        const fresh = createBlockMask(mod, { ...dims, qLen: qLen2, kvLen: kvLen2, blockSize: blockOf(sh) });
        expect(resized.seqLengths).toEqual([qLen2, kvLen2]);
        const shape: Shape = { B: fresh.B, H: fresh.H, qLen: qLen2, kvLen: kvLen2, bq: sh.block[0], bk: sh.block[1] };
        const diff = firstDifference(resized.toDense(), fresh.toDense(), shape);
        if (diff) throw new Error(`${sh.qLen}x${sh.kvLen} → ${qLen2}x${kvLen2}: ${diff}\n${mod.toString()}`);
        expect(firstDifference(denseFromQMajor(resized), fresh.toDense(), shape)).toBeUndefined();
        expect(listsSorted(resized)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('grown one token at a time equals a fresh build at every length (the incremental extension of a decode loop)', () => {
    const window: MaskMod = (_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).lt(21).or(kv.lt(3)));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 20 }), (bq, bk, start) => {
        let mask = createBlockMask(window, { qLen: start, kvLen: start, blockSize: [bq, bk] });
        for (let L = start + 1; L <= start + 40; L++) {
          mask = mask.resize(L, L);
          const shape: Shape = { B: 1, H: 1, qLen: L, kvLen: L, bq, bk };
          const diff = firstDifference(mask.toDense(), bruteForceBlocks(window, shape), shape);
          if (diff) throw new Error(`L=${L}: ${diff}`);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('masks from fromKvBlocks keep their tables and classify only new blocks with their mod', () => {
    const m = fromKvBlocks({ kvNumBlocks: [1, 0], kvIndices: [1, 0, 0, 0], seqLengths: [8, 8], blockSize: 4, maskMod: (_b, _h, q, kv) => q.ge(kv) });
    const grown = m.resize(8, 12);
    // Row 0 keeps only its listed partial block 1; row 1 lists nothing; the new kv block 2 (kv 8..11) is empty for q < 8.
    expect(Array.from(grown.toDense())).toEqual([0, 1, 0, 0, 0, 0]);
    expect(Array.from(m.resize(12, 12).toDense())).toEqual([0, 1, 0, 0, 0, 0, 2, 2, 1]);
  });

  it('rejects lengths that are not positive integers (ShapeError)', () => {
    const m = createBlockMask((_b, _h, q, kv) => q.ge(kv), { qLen: 16, kvLen: 16, blockSize: 4 });
    expect(() => m.resize(0, 16)).toThrow(ShapeError);
    expect(() => m.resize(16, 2.5)).toThrow(/kvLen must be a positive integer/);
  });
});

describe('sliceRows: the block rows of a query range', () => {
  const sliceArb = fc.record({ start: fc.nat(), len: fc.integer({ min: 1, max: 20 }) });

  it('is sound against the dense element mask for any range, and equals a fresh build of the rows when block-aligned', () => {
    fc.assert(
      fc.property(boolAst, envData, shapeArb, sliceArb, (ast, data, sh, r) => {
        const mod = traceMaskMod(buildMask(ast, data));
        const dims = dimsFor(mod, sh);
        const mask = createBlockMask(mod, { ...dims, qLen: sh.qLen, kvLen: sh.kvLen, blockSize: blockOf(sh) });
        const start = r.start % sh.qLen;
        const end = Math.min(sh.qLen, start + r.len);
        const slice = mask.sliceRows(start, end);
        expect(slice.seqLengths).toEqual([end - start, sh.kvLen]);
        expectRowsOf(slice, mod, mask.H, Array.from({ length: mask.B }, () => start), end - start, sh.qLen, sh.kvLen);
        expectConsistent(slice, `rows [${start}, ${end}) of ${sh.qLen}x${sh.kvLen}`);
        const [bq, bk] = sh.block;
        if (start % bq === 0 && (end % bq === 0 || end === sh.qLen)) {
          const shape: Shape = { B: mask.B, H: mask.H, qLen: end - start, kvLen: sh.kvLen, bq, bk };
          expect(firstDifference(slice.toDense(), bruteForceBlocks(slice.maskMod, shape), shape)).toBeUndefined();
        }
      }),
      { numRuns: 400 },
    );
  });

  it('then resize: consistent, and equal to a fresh build of the shifted mod when the slice is block-aligned', () => {
    fc.assert(
      fc.property(boolAst, envData, shapeArb, sliceArb, fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 60 }), (ast, data, sh, r, qLen2, kvLen2) => {
        const mask = createBlockMask(buildMask(ast, data), { B: sh.B, H: sh.H, qLen: sh.qLen, kvLen: sh.kvLen, blockSize: blockOf(sh) });
        const start = r.start % sh.qLen;
        const end = Math.min(sh.qLen, start + r.len);
        const slice = mask.sliceRows(start, end);
        const resized = slice.resize(qLen2, kvLen2);
        expectConsistent(resized, `rows [${start}, ${end}) resized to ${qLen2}x${kvLen2}`);
        expect(resized.maskMod.hash).toBe(slice.maskMod.hash);
        if (start % sh.block[0] === 0 && (end % sh.block[0] === 0 || end === sh.qLen)) {
          const shape: Shape = { B: sh.B, H: sh.H, qLen: qLen2, kvLen: kvLen2, bq: sh.block[0], bk: sh.block[1] };
          expect(firstDifference(resized.toDense(), bruteForceBlocks(slice.maskMod, shape), shape)).toBeUndefined();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('slices of slices compose their offsets', () => {
    const mod = traceMaskMod((_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).lt(10)));
    const mask = createBlockMask(mod, { qLen: 64, kvLen: 64, blockSize: 8 });
    const twice = mask.sliceRows(16, 48).sliceRows(5, 20);
    expectRowsOf(twice, mod, 1, [21], 15, 64, 64);
    expectConsistent(twice, 'rows 5..20 of rows 16..48');
  });

  it('one decode step at every position: the rows of position p, then kv cut to p + 1', () => {
    const sinksWindow = traceMaskMod((_b, _h, q, kv) => kv.le(q).and(kv.lt(4).or(q.sub(kv).lt(40))));
    const master = createBlockMask(sinksWindow, { qLen: 200, kvLen: 200, blockSize: 16 });
    const hashes = new Set<string>();
    for (let p = 0; p < 200; p++) {
      const step = master.sliceRows(p, p + 1).resize(1, p + 1);
      expectRowsOf(step, sinksWindow, 1, [p], 1, 200, p + 1);
      expectConsistent(step, `decode step at ${p}`);
      if (p > 0) hashes.add(step.maskMod.hash);
    }
    expect(hashes.size).toBe(1); // a new position is new data, never a new kernel
  });

  it('shiftScoreMod gives a score mod the slice’s absolute query positions, per batch', () => {
    const relative = traceScoreMod((s, b, _h, q, kv) => s.add(q.sub(kv).toFloat().mul(0.5)).add(b));
    const master = createBlockMask(() => true, { qLen: 40, kvLen: 40, blockSize: 8 });
    const rows = master.sliceRowsPerBatch([3, 17, 39]);
    const shifted = traceScoreMod(rows.shiftScoreMod(relative));
    for (const [b, start] of [3, 17, 39].entries()) expect(evaluate(shifted, { score: 1, b, h: 0, q: 0, kv: 2 })).toBe(evaluate(relative, { score: 1, b, h: 0, q: start, kv: 2 }));
    const unsliced = traceScoreMod(master.shiftScoreMod(relative));
    expect(evaluate(unsliced, { score: 1, b: 1, h: 0, q: 5, kv: 2 })).toBe(evaluate(relative, { score: 1, b: 1, h: 0, q: 5, kv: 2 }));
  });

  it('rejects ranges outside the mask with a ShapeError naming the valid range', () => {
    const m = createBlockMask((_b, _h, q, kv) => q.ge(kv), { qLen: 16, kvLen: 16, blockSize: 4 });
    expect(() => m.sliceRows(-1, 3)).toThrow(ShapeError);
    expect(() => m.sliceRows(4, 17)).toThrow(/\[4, 17\) are outside the mask's \[0, 16\)/);
    expect(() => m.sliceRows(5, 5)).toThrow(/0 ≤ start < end ≤ 16/);
    expect(() => m.sliceRows(1.5, 3)).toThrow(/must be integers/);
  });
});

describe('sliceRowsPerBatch: each sequence at its own position', () => {
  it('takes rows [starts[b], starts[b] + qLen) of each batch, sound against the dense element mask', () => {
    fc.assert(
      fc.property(boolAst, envData, shapeArb, fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 5 }), (ast, data, sh, rawStarts, qLen) => {
        fc.pre(qLen <= sh.qLen);
        const mod = traceMaskMod(buildMask(ast, data));
        const B = rawStarts.length;
        // (A mask built with B omitted serves every batch only for mods that do not read b: see the next test.)
        const mask = createBlockMask(mod, { B, H: sh.H, qLen: sh.qLen, kvLen: sh.kvLen, blockSize: blockOf(sh) });
        const starts = rawStarts.map((s) => s % (sh.qLen - qLen + 1));
        const rows = mask.sliceRowsPerBatch(starts, qLen);
        expect([rows.B, rows.seqLengths[0]]).toEqual([B, qLen]);
        expectRowsOf(rows, mod, sh.H, starts, qLen, sh.qLen, sh.kvLen);
        expectConsistent(rows, `rows at ${starts.join(',')}`);
        expectConsistent(rows.resize(qLen, sh.kvLen + 7), 'grown by 7 kv');
      }),
      { numRuns: 300 },
    );
  });

  it('a mask built once for every batch (B omitted) serves sequences at different positions', () => {
    const sinksWindow = traceMaskMod((_b, _h, q, kv) => kv.le(q).and(kv.lt(4).or(q.sub(kv).lt(40))));
    const master = createBlockMask(sinksWindow, { qLen: 300, kvLen: 300, blockSize: 32 });
    const starts = [0, 45, 129, 299];
    const rows = master.sliceRowsPerBatch(starts).resize(1, 300);
    expectRowsOf(rows, sinksWindow, 1, starts, 1, 300, 300);
    expectConsistent(rows, 'four sequences');
  });

  it('rejects a start count that does not match the batch, and ranges outside the mask', () => {
    const m = createBlockMask((b, _h, q, kv) => q.ge(kv.add(b)), { B: 2, qLen: 16, kvLen: 16, blockSize: 4 });
    expect(() => m.sliceRowsPerBatch([1, 2, 3])).toThrow(/B=2 but 3 starts/);
    expect(() => m.sliceRowsPerBatch([1, 16])).toThrow(/batch 1.*\[16, 17\) are outside/);
    expect(() => m.sliceRowsPerBatch([])).toThrow(ShapeError);
    const one = createBlockMask((b, _h, q, kv) => q.ge(kv.add(b)), { B: 1, qLen: 16, kvLen: 16, blockSize: 4 });
    expect(() => one.sliceRowsPerBatch([1, 2])).toThrow(/reads b but this mask was built for one batch \(B: 1\).*B: 2/);
  });
});
