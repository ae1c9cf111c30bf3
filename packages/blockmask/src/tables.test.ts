import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OptionError, ShapeError, type Expr, type MaskMod } from '@flexattn/ir';
import { createBlockMask, fromKvBlocks, validateBlockMask, FULL, PARTIAL } from './index';
import { boolAst, buildMask, envData, shapeArb } from './grammar.test-helpers';
import { denseFromQMajor } from './oracle.test-helpers';

const causal: MaskMod = (_b, _h, q, kv) => q.ge(kv);

describe('fromKvBlocks', () => {
  it('round-trips any createBlockMask result and derives the q-major views', () => {
    fc.assert(
      fc.property(boolAst, envData, shapeArb, (ast, data, sh) => {
        const mod = buildMask(ast, data);
        const m = createBlockMask(mod, { B: sh.B, H: sh.H, qLen: sh.qLen, kvLen: sh.kvLen, blockSize: sh.block });
        const back = fromKvBlocks({
          kvNumBlocks: m.kvNumBlocks, kvIndices: m.kvIndices, fullKvNumBlocks: m.fullKvNumBlocks, fullKvIndices: m.fullKvIndices,
          seqLengths: [sh.qLen, sh.kvLen], blockSize: sh.block, maskMod: mod, B: sh.B, H: sh.H,
        });
        expect(back.toDense()).toEqual(m.toDense());
        expect(denseFromQMajor(back)).toEqual(m.toDense());
        expect(back.qNumBlocks).toEqual(m.qNumBlocks);
        expect(back.fullQIndices).toEqual(m.fullQIndices);
      }),
      { numRuns: 150 },
    );
  });

  it('accepts unsorted lists, plain arrays, narrower index tables and no full blocks', () => {
    // 3 q blocks × 4 kv blocks; width 2 index rows.
    const m = fromKvBlocks({ kvNumBlocks: [2, 1, 0], kvIndices: [3, 1, 0, 0, 0, 0], seqLengths: [24, 30], blockSize: 8, maskMod: causal });
    expect(Array.from(m.toDense())).toEqual([0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(m.kvIndices.subarray(0, 2))).toEqual([1, 3]);
    expect(Array.from(m.qNumBlocks)).toEqual([1, 1, 0, 1]);
    expect(m.sparsity()).toBeCloseTo(75);
  });

  it('without a mask mod, partial blocks see every element', () => {
    const m = fromKvBlocks({ kvNumBlocks: new Int32Array([1]), kvIndices: new Int32Array([0]), seqLengths: [4, 4], blockSize: 4 });
    expect(validateBlockMask(m).ok).toBe(true);
  });

  it('rejects bad tables with typed errors', () => {
    const base = { seqLengths: [16, 16] as [number, number], blockSize: 8, maskMod: causal };
    expect(() => fromKvBlocks({ ...base, kvNumBlocks: [1, 1], kvIndices: [0, 0, 2, 0] })).toThrow(ShapeError); // index 2 ≥ kvBlocks
    expect(() => fromKvBlocks({ ...base, kvNumBlocks: [1, 1], kvIndices: [0, 0, -1, 0] })).toThrow(ShapeError);
    expect(() => fromKvBlocks({ ...base, kvNumBlocks: [3, 1], kvIndices: [0, 1, 1, 0] })).toThrow(ShapeError); // count > kvBlocks
    expect(() => fromKvBlocks({ ...base, kvNumBlocks: [-1, 1], kvIndices: [0, 1, 1, 0] })).toThrow(ShapeError);
    expect(() => fromKvBlocks({ ...base, kvNumBlocks: [1, 1, 1], kvIndices: [0, 0, 0, 0, 0, 0] })).toThrow(ShapeError); // 3 rows for 2 q blocks
    expect(() => fromKvBlocks({ ...base, kvNumBlocks: [1, 1], kvIndices: [0, 0, 0] })).toThrow(ShapeError); // ragged
    expect(() => fromKvBlocks({ ...base, kvNumBlocks: [2, 0], kvIndices: [1, 1, 0, 0] })).toThrow(OptionError); // duplicate
    expect(() => fromKvBlocks({ ...base, kvNumBlocks: [1, 0], kvIndices: [0, 0, 0, 0], fullKvNumBlocks: [1, 0], fullKvIndices: [0, 0, 0, 0] })).toThrow(OptionError); // partial and full
    expect(() => fromKvBlocks({ ...base, kvNumBlocks: [1, 0], kvIndices: [0, 0, 0, 0], fullKvNumBlocks: [1, 0] })).toThrow(OptionError);
    expect(() => fromKvBlocks({ ...base, seqLengths: [0, 16], kvNumBlocks: [], kvIndices: [] })).toThrow(ShapeError);
    expect(() => fromKvBlocks({ ...base, blockSize: 0, kvNumBlocks: [0, 0], kvIndices: [0, 0] })).toThrow(ShapeError);
    expect(() => fromKvBlocks({ ...base, kvIndices: [0, 0] } as never)).toThrow(OptionError);
    expect(() => fromKvBlocks({ ...base, kvNumBlocks: [0, 0], kvIndices: [0, 0], maskMod: ((_b: Expr, _h: Expr, q: Expr) => q) as unknown as MaskMod })).toThrow();
  });
});

describe('validateBlockMask', () => {
  it('accepts every createBlockMask result, tightly (no partial block is uniform)', () => {
    fc.assert(
      fc.property(boolAst, envData, shapeArb, (ast, data, sh) => {
        const m = createBlockMask(buildMask(ast, data), { B: sh.B, H: sh.H, qLen: sh.qLen, kvLen: sh.kvLen, blockSize: sh.block });
        const v = validateBlockMask(m, { tight: true });
        expect(v.problems).toEqual([]);
        expect(v.ok).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('catches a planted wrong claim (a partial block declared full, an empty one, a visible block dropped)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 1, max: 9 }), fc.nat(), (blocks, block, pick) => {
        const L = blocks * block + (pick % block);
        const m = createBlockMask(causal, { qLen: L, kvLen: L, blockSize: block });
        const dense = m.toDense();
        const partials = [...dense.keys()].filter((i) => dense[i] === PARTIAL);
        const fulls = [...dense.keys()].filter((i) => dense[i] === FULL);
        const kvBlocks = m.kvBlocks;
        const tables = (d: Uint8Array) => {
          const rows = m.qBlocks;
          const kvNum: number[] = [], kvIdx: number[] = [], fNum: number[] = [], fIdx: number[] = [];
          for (let r = 0; r < rows; r++) {
            const p = [], f = [];
            for (let k = 0; k < kvBlocks; k++) if (d[r * kvBlocks + k] === PARTIAL) p.push(k); else if (d[r * kvBlocks + k] === FULL) f.push(k);
            kvNum.push(p.length); fNum.push(f.length);
            kvIdx.push(...p, ...Array<number>(kvBlocks - p.length).fill(0)); fIdx.push(...f, ...Array<number>(kvBlocks - f.length).fill(0));
          }
          return fromKvBlocks({ kvNumBlocks: kvNum, kvIndices: kvIdx, fullKvNumBlocks: fNum, fullKvIndices: fIdx, seqLengths: [L, L], blockSize: block, maskMod: causal });
        };
        if (block > 1 && partials.length) {
          const d = dense.slice();
          d[partials[pick % partials.length]!] = FULL;
          const v = validateBlockMask(tables(d));
          expect(v.ok).toBe(false);
          expect(v.problems.map((p) => p.kind)).toEqual(['full-not-full']);
        }
        if (fulls.length) {
          const d = dense.slice();
          const i = fulls[pick % fulls.length]!;
          d[i] = 0;
          const v = validateBlockMask(tables(d));
          expect(v.problems).toHaveLength(1);
          expect(v.problems[0]).toMatchObject({ kind: 'empty-not-empty', qBlock: Math.floor(i / kvBlocks), kvBlock: i % kvBlocks });
          d[i] = PARTIAL; // slower, not wrong
          expect(validateBlockMask(tables(d)).ok).toBe(true);
          expect(validateBlockMask(tables(d), { tight: true }).problems.map((p) => p.kind)).toEqual(['partial-uniform']);
        }
      }),
      { numRuns: 80 },
    );
  });

  it('reports transposed views that disagree, and out-of-range entries', () => {
    const m = createBlockMask(causal, { qLen: 32, kvLen: 32, blockSize: 8 });
    (m.fullQNumBlocks as Int32Array)[0] = 2; // column 0 should list q blocks 1, 2, 3 as full
    let v = validateBlockMask(m);
    expect(v.ok).toBe(false);
    expect(v.problems.every((p) => p.kind === 'transpose')).toBe(true);
    expect(v.problems[0]).toMatchObject({ qBlock: 3, kvBlock: 0 });
    (m.fullQNumBlocks as Int32Array)[0] = 3;
    (m.kvIndices as Int32Array)[0] = 7;
    v = validateBlockMask(m);
    expect(v.problems.map((p) => p.kind)).toContain('index');
  });
});
