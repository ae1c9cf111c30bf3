// The KV storage checks every backend shares (allocateKv's arguments, a row write's agreement),
// against an independent statement of what is allowed: random shapes, dtypes and rows, the valid
// ones accepted, every other one refused with the typed error that names the fix.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OptionError, ShapeError } from './errors';
import { allocateHostKv, checkKvAllocation, checkKvRowWrite, writeHostKvRows } from './kv-storage';
import type { DType, Tensor } from './tensor';
import { kvAllocationRefusals } from './testing/kv-storage';

const KNOWN_DTYPES = ['f32', 'f16', 'bf16'];

/** What allocateKv accepts, written out plainly: the error class it must throw, or null. */
function expectedAllocationError(shape: readonly unknown[], dtype: string): typeof OptionError | typeof ShapeError | null {
  if (!KNOWN_DTYPES.includes(dtype)) return OptionError;
  if (shape.length !== 4 || shape[0] !== 1) return ShapeError;
  let count = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 1) return ShapeError;
    count *= d;
  }
  return count <= Number.MAX_SAFE_INTEGER ? null : ShapeError;
}

const dim = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 30) },
);
const shapeArb = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(1, 1, 1, 2, 0), dim, dim, dim).map((s) => [...s]) },
  { weight: 1, arbitrary: fc.array(dim, { maxLength: 6 }) },
);
const dtypeArb = fc.constantFrom('f32', 'f16', 'bf16', 'f64', 'int8', '', 'F32');

describe('checkKvAllocation', () => {
  it('accepts exactly [1, heads, rows, D] of positive integers in a known dtype; refuses the rest with the typed error naming the fix', () => {
    fc.assert(
      fc.property(shapeArb, dtypeArb, (shape, dtype) => {
        const expected = expectedAllocationError(shape, dtype);
        let thrown: unknown = null;
        try {
          checkKvAllocation(shape, dtype as DType);
        } catch (e) {
          thrown = e;
        }
        if (expected === null) return thrown === null;
        expect(thrown).toBeInstanceOf(expected);
        const message = (thrown as Error).message;
        expect(message).toMatch(/^allocateKv: /);
        expect(message).toMatch(expected === OptionError ? /use 'f32', 'f16' or 'bf16'$/ : /\[1, heads, rows, D\]|allocate smaller pages/);
        return true;
      }),
      // every dim a safe integer, their product not: the element count itself must be checked
      { numRuns: 400, examples: [[[1, 2 ** 20, 2 ** 20, 2 ** 20], 'f32']] },
    );
  });

  it('refuses what is not an array of numbers with a ShapeError, not a raw TypeError', () => {
    for (const shape of [undefined, null, 4, 'abc', { length: 4 }, [1, '2', 3, 4], [1, 2n, 3, 4]]) {
      expect(() => checkKvAllocation(shape as never, 'f32')).toThrow(ShapeError);
    }
  });

  it("kvAllocationRefusals (what backends' tests check their allocateKv against) covers both error classes, and the reference refuses each the same way", () => {
    const refusals = kvAllocationRefusals();
    expect(new Set(refusals.map((r) => r.error.constructor))).toEqual(new Set([OptionError, ShapeError]));
    for (const { shape, dtype, error } of refusals) {
      expect(expectedAllocationError(Array.isArray(shape) ? shape : [shape], dtype)).toBe(error.constructor);
      expect(() => allocateHostKv(shape, dtype)).toThrow(error);
    }
  });

  it('the reference allocateKv (allocateHostKv) applies it: a valid call gives zeros of the shape, an invalid one throws before allocating', () => {
    fc.assert(
      fc.property(shapeArb, dtypeArb, (shape, dtype) => {
        const expected = expectedAllocationError(shape, dtype);
        if (expected !== null) {
          expect(() => allocateHostKv(shape, dtype as DType)).toThrow(expected);
          return;
        }
        if (shape.reduce((a, b) => a * b, 1) > 1e6) return; // valid but too large to allocate in a unit test
        const t = allocateHostKv(shape, dtype as DType);
        expect(t.shape).toEqual(shape);
        expect(t.data).toBeInstanceOf(dtype === 'f32' ? Float32Array : Uint16Array);
        expect(t.data.length).toBe(shape.reduce((a, b) => a * b, 1));
        expect(t.data.every((x) => x === 0)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

/** A row write the plain way: the error class it must throw, or null. */
function expectedWriteError(dst: readonly number[], rows: readonly number[], src: readonly number[], sameDtype: boolean): typeof OptionError | typeof ShapeError | null {
  if (dst.length !== 4 || dst[0] !== 1 || src.length !== 4 || src[0] !== 1) return ShapeError;
  if (src[1] !== dst[1] || src[3] !== dst[3] || src[2] !== rows.length) return ShapeError;
  if (!sameDtype) return OptionError;
  return rows.every((r) => r >= 0 && r < dst[2]!) ? null : ShapeError;
}

const hostTensor = (shape: readonly number[], dtype: DType, fill: (i: number) => number): Tensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, (_, i) => fill(i)), shape: [...shape], dtype };
};

describe('checkKvRowWrite', () => {
  it('accepts a source [1, heads, rows.length, D] of the destination dtype with rows inside it; the write then moves exactly those rows', () => {
    const small = fc.integer({ min: 1, max: 4 });
    fc.assert(
      fc.property(
        fc.record({ heads: small, dstRows: fc.integer({ min: 1, max: 6 }), D: small }),
        fc.array(fc.integer({ min: -1, max: 7 }), { maxLength: 5 }),
        fc.constantFrom('ok', 'batch', 'heads', 'D', 'count', 'rank'),
        fc.boolean(),
        ({ heads, dstRows, D }, rowList, srcVariant, sameDtype) => {
          const dstShape = [1, heads, dstRows, D];
          const n = rowList.length;
          const srcShape = {
            ok: [1, heads, n, D],
            batch: [2, heads, n, D],
            heads: [1, heads + 1, n, D],
            D: [1, heads, n, D + 1],
            count: [1, heads, n + 1, D],
            rank: [heads, n, D],
          }[srcVariant]!;
          const rows = Int32Array.from(rowList);
          const dst = hostTensor(dstShape, 'f32', () => -1);
          const src = hostTensor(srcShape, sameDtype ? 'f32' : 'f16', (i) => i);
          const expected = expectedWriteError(dstShape, rowList, srcShape, sameDtype);
          if (expected !== null) {
            expect(() => writeHostKvRows(dst, rows, src)).toThrow(expected);
            expect(dst.data.every((x) => x === -1)).toBe(true); // a refused write writes nothing
            return;
          }
          writeHostKvRows(dst, rows, src);
          // the last write of a row wins; untouched rows keep their -1
          const want = new Float32Array(dst.data.length).fill(-1);
          for (let h = 0; h < heads; h++) {
            for (let i = 0; i < n; i++) {
              for (let d = 0; d < D; d++) want[(h * dstRows + rowList[i]!) * D + d] = (h * n + i) * D + d;
            }
          }
          expect(Array.from(dst.data)).toEqual(Array.from(want));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses rows that are not an Int32Array with an OptionError', () => {
    const t = { shape: [1, 1, 4, 2], dtype: 'f32' };
    expect(() => checkKvRowWrite(t, [0] as never, { shape: [1, 1, 1, 2], dtype: 'f32' })).toThrow(OptionError);
    expect(() => checkKvRowWrite(t, Uint32Array.from([0]) as never, { shape: [1, 1, 1, 2], dtype: 'f32' })).toThrow(/must be an Int32Array/);
  });
});
