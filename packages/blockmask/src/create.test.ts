import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { argsRead, capture, scalar, traceMaskMod, OptionError, ShapeError, TraceError, type Expr, type MaskMod } from '@flexattn/ir';
import { createBlockMask, createMask, lastBuildStats, validateBlockMask } from './index';
import { boolAst, buildMask, envData, shapeArb } from './grammar.test-helpers';
import { bruteForceBlocks, denseFromQMajor, firstDifference, listsSorted, type Shape } from './oracle.test-helpers';

/** createBlockMask equals the brute force, both views agree, lists ascend, and it validates. */
function checkAgainstBruteForce(mod: MaskMod, s: Shape, broadcast = false): void {
  const traced = traceMaskMod(mod);
  const opts = { ...(broadcast ? {} : { B: s.B, H: s.H }), qLen: s.qLen, kvLen: s.kvLen, blockSize: s.bq === s.bk ? s.bq : ([s.bq, s.bk] as [number, number]) };
  const reads = argsRead(traced);
  if (broadcast && (reads.b || reads.h)) {
    // one plane shared by every batch / head cannot be right for a mod that reads b / h
    expect(() => createBlockMask(traced, opts)).toThrow(reads.b ? /reads b but B was omitted.*Pass B:/ : /reads h but H was omitted.*Pass H:/);
    return;
  }
  const mask = createBlockMask(traced, opts);
  const shape = broadcast ? { ...s, B: 1, H: 1 } : s;
  expect([mask.B, mask.H]).toEqual([shape.B, shape.H]);
  const got = mask.toDense();
  const want = bruteForceBlocks(traced, shape);
  const diff = firstDifference(got, want, shape);
  if (diff) throw new Error(`${diff}\n${traced.toString()}`);
  expect(firstDifference(denseFromQMajor(mask), got, shape)).toBeUndefined();
  expect(listsSorted(mask)).toBe(true);
}

describe('createBlockMask equals the brute-force classification', () => {
  it('random IR masks (q, kv, b, h, constants, scalars, captured tensors), random shapes and blocks', () => {
    fc.assert(
      fc.property(boolAst, envData, shapeArb, (ast, data, sh) => {
        checkAgainstBruteForce(buildMask(ast, data), { B: sh.B, H: sh.H, qLen: sh.qLen, kvLen: sh.kvLen, bq: sh.block[0], bk: sh.block[1] }, sh.broadcast);
      }),
      { numRuns: 600 },
    );
  });

  it('larger lengths, where the quadtree and the exact sub-box search go deeper', () => {
    fc.assert(
      fc.property(boolAst, envData, fc.integer({ min: 60, max: 300 }), fc.integer({ min: 60, max: 300 }), fc.integer({ min: 8, max: 64 }), fc.integer({ min: 8, max: 64 }), (ast, data, qLen, kvLen, bq, bk) => {
        checkAgainstBruteForce(buildMask(ast, data), { B: 1, H: 1, qLen, kvLen, bq, bk });
      }),
      { numRuns: 120 },
    );
  });

  const structured: [string, MaskMod][] = [
    ['causal', (_b, _h, q, kv) => q.ge(kv)],
    ['sliding window', (_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).le(37))],
    ['prefix-LM', (_b, _h, q, kv) => kv.le(50).or(q.ge(kv))],
    ['per-head window', (_b, h, q, kv) => q.sub(kv).abs().le(h.mul(17).add(3))],
    ['per-batch causal offset', (b, _h, q, kv) => kv.le(q.add(b.mul(29)))],
    ['checkerboard (undecidable by intervals)', (_b, _h, q, kv) => q.add(kv).mod(2).eq(0)],
    ['stripes full in whole blocks', (_b, _h, q, kv) => kv.floorDiv(16).mod(2).eq(0).or(q.lt(0))],
    ['dilated', (_b, _h, q, kv) => q.sub(kv).mod(3).eq(0).and(q.ge(kv))],
    ['wrapping product', (_b, _h, q, kv) => q.mul(kv).mul(1_000_003).gt(0)],
  ];
  for (const [name, mod] of structured) {
    it(`${name}: lengths, blocks and B/H from fast-check`, () => {
      fc.assert(
        fc.property(shapeArb, fc.integer({ min: 0, max: 200 }), (sh, extra) => {
          checkAgainstBruteForce(mod, { B: sh.B, H: sh.H, qLen: sh.qLen + extra, kvLen: sh.kvLen + extra, bq: sh.block[0], bk: sh.block[1] }, sh.broadcast);
        }),
        { numRuns: 40 },
      );
    });
  }

  it('document masks from captured ids, block sizes 1..64', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 64 }), fc.boolean(), (lengths, block, causal) => {
        const ids = new Int32Array(lengths.flatMap((n, d) => Array<number>(n).fill(d)));
        const doc = capture(ids);
        const mod: MaskMod = (_b, _h, q, kv) => (causal ? doc.at(q).eq(doc.at(kv)).and(q.ge(kv)) : doc.at(q).eq(doc.at(kv)));
        checkAgainstBruteForce(mod, { B: 1, H: 1, qLen: ids.length, kvLen: ids.length, bq: block, bk: block });
      }),
      { numRuns: 150 },
    );
  });

  it('NaN in captured float data', () => {
    const t = capture(Float32Array.from([NaN, 5, 1, NaN, 20, 3, 3, 3]));
    const mod: MaskMod = (_b, _h, q, kv) => t.at(q).lt(10).or(t.at(kv).ge(19));
    for (const block of [1, 2, 3, 8]) checkAgainstBruteForce(mod, { B: 1, H: 1, qLen: 8, kvLen: 8, bq: block, bk: block });
  });

  it('scalar values and captured data can change between calls (same graph, new answer)', () => {
    const w = scalar(3, { dtype: 'i32' });
    const ids = new Int32Array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2]);
    const doc = capture(ids);
    const mod = traceMaskMod((_b, _h, q, kv) => q.sub(kv).abs().le(w).and(doc.at(q).eq(doc.at(kv))));
    for (const value of [0, 3, 9]) {
      w.value = value;
      checkAgainstBruteForce(mod as unknown as MaskMod, { B: 1, H: 1, qLen: 10, kvLen: 10, bq: 2, bk: 3 });
    }
    ids.set([0, 1, 1, 1, 1, 1, 1, 1, 1, 2]);
    doc.invalidate();
    checkAgainstBruteForce(mod as unknown as MaskMod, { B: 1, H: 1, qLen: 10, kvLen: 10, bq: 2, bk: 3 });
  });
});

describe('planes', () => {
  it('a mask that reads neither b nor h is classified once and copied', () => {
    const m = createBlockMask((_b, _h, q, kv) => q.ge(kv), { B: 3, H: 4, qLen: 300, kvLen: 300, blockSize: 32 });
    expect(lastBuildStats()!.planesClassified).toBe(1);
    expect([m.B, m.H]).toEqual([3, 4]);
    expect(validateBlockMask(m).ok).toBe(true);
  });
  it('a per-head mask classifies H planes and copies them over B', () => {
    createBlockMask((_b, h, q, kv) => q.sub(kv).le(h), { B: 3, H: 4, qLen: 64, kvLen: 64, blockSize: 8 });
    expect(lastBuildStats()!.planesClassified).toBe(4);
    createBlockMask((b, h, q, kv) => q.sub(kv).le(h.add(b)), { B: 3, H: 4, qLen: 64, kvLen: 64, blockSize: 8 });
    expect(lastBuildStats()!.planesClassified).toBe(12);
  });
});

describe('speed-relevant structure', () => {
  it('causal at L = 8192 needs few interval boxes and a handful of evaluations per diagonal block', () => {
    createBlockMask((_b, _h, q, kv) => q.ge(kv), { qLen: 8192, kvLen: 8192 });
    const s = lastBuildStats()!;
    expect(s.exactBlocks).toBe(64);
    expect(s.boxes).toBeLessThan(400);
    expect(s.evaluations).toBeLessThanOrEqual(64 * 5);
  });
  it('L = 131072 causal: 1M blocks, tables of 16 bytes a block', () => {
    const m = createBlockMask((_b, _h, q, kv) => q.ge(kv), { qLen: 131072, kvLen: 131072 });
    expect(m.kvIndices.length).toBe(1024 * 1024);
    expect(m.kvNumBlocks[1023]).toBe(1);
    expect(m.fullKvNumBlocks[1023]).toBe(1023);
    expect(m.qNumBlocks[0]).toBe(1);
    expect(m.fullQNumBlocks[0]).toBe(1023);
    expect(m.sparsity()).toBeCloseTo((100 * (1024 * 1023) / 2) / (1024 * 1024), 6);
  });
});

describe('the picture and helpers', () => {
  it('toString draws full, partial and empty blocks', () => {
    const m = createBlockMask((_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).le(24)), { qLen: 64, kvLen: 64, blockSize: 8 });
    expect(m.toString()).toMatchInlineSnapshot(`
      "BlockMask 64×64 in 8×8 blocks, B=1 H=1, sparsity 59.38%
      |░       |
      |█░      |
      |██░     |
      |░██░    |
      | ░██░   |
      |  ░██░  |
      |   ░██░ |
      |    ░██░|"
    `);
  });
  it('createMask accepts a plain function', () => {
    expect(Array.from(createMask((_b, _h, q, kv) => q.ge(kv), { qLen: 2, kvLen: 2 }))).toEqual([1, 0, 1, 1]);
  });
});

describe('bad input raises typed errors', () => {
  const causal: MaskMod = (_b, _h, q, kv) => q.ge(kv);
  it.each([
    [{ qLen: 0, kvLen: 8 }], [{ qLen: 8, kvLen: 0 }], [{ qLen: -4, kvLen: 8 }], [{ qLen: 8, kvLen: 2.5 }],
    [{ qLen: 8, kvLen: 8, blockSize: 0 }], [{ qLen: 8, kvLen: 8, blockSize: [8, 0] as [number, number] }], [{ qLen: 8, kvLen: 8, blockSize: -1 }],
    [{ qLen: 8, kvLen: 8, B: 0 }], [{ qLen: 8, kvLen: 8, H: -1 }],
  ])('%j → ShapeError', (opts) => {
    expect(() => createBlockMask(causal, opts)).toThrow(ShapeError);
  });
  it('blockSize of the wrong form → ShapeError (ir reads [8] as [8, undefined])', () => {
    expect(() => createBlockMask(causal, { qLen: 8, kvLen: 8, blockSize: [8] as unknown as [number, number] })).toThrow(ShapeError);
  });
  it('a mask mod that returns a number → TraceError', () => {
    expect(() => createBlockMask(((_b: Expr, _h: Expr, q: Expr, kv: Expr) => q.sub(kv)) as unknown as MaskMod, { qLen: 8, kvLen: 8 })).toThrow(TraceError);
    expect(() => createBlockMask((() => 1) as unknown as MaskMod, { qLen: 8, kvLen: 8 })).toThrow(TraceError);
  });
  it('missing options → OptionError', () => {
    expect(() => createBlockMask(causal, undefined as unknown as { qLen: number; kvLen: number })).toThrow(OptionError);
  });
  it('a score mod or a non-function → TraceError', () => {
    expect(() => createBlockMask(42 as unknown as MaskMod, { qLen: 8, kvLen: 8 })).toThrow(TraceError);
  });
});
