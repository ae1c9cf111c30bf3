import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModOptionError } from '../errors';
import { expectMaskEquals, maskFn } from '../test-utils';
import { causal } from './causal';
import { documentMask } from './document';
import { prefixLm } from './prefix-lm';
import { slidingWindow } from './sliding-window';

/** Contiguous documents from random lengths ≥ 1. */
const lengthsArb = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 5 });
const idsOf = (lengths: number[]): number[] => lengths.flatMap((len, d) => Array<number>(len).fill(d));
/** Where a token's document starts, found independently: the first index holding the same id. */
const startOf = (ids: readonly number[], i: number): number => ids.indexOf(ids[i]!);

describe('documentMask', () => {
  it('matches ids[q] = ids[kv] from ids, lengths and offsets alike', () => {
    fc.assert(
      fc.property(lengthsArb, (lengths) => {
        const ids = idsOf(lengths);
        const L = ids.length;
        const offsets = [0, ...lengths.map((_, i) => lengths.slice(0, i + 1).reduce((a, b) => a + b, 0))];
        const ref = (_b: number, _h: number, q: number, kv: number): boolean => ids[q] === ids[kv];
        for (const spec of [Int32Array.from(ids), ids, { ids, seqLen: L }, { lengths }, { offsets, seqLen: L }]) {
          expectMaskEquals(documentMask(spec), ref, { Lq: L, Lkv: L });
        }
      }),
    );
  });

  it('without an inner mask any ids work (non-contiguous, negative)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -2, max: 3 }), { minLength: 1, maxLength: 14 }), (ids) => {
        expectMaskEquals(documentMask(ids), (_b, _h, q, kv) => ids[q] === ids[kv], { Lq: ids.length, Lkv: ids.length });
      }),
    );
  });

  it('applies the inner mask at positions relative to the document start', () => {
    fc.assert(
      fc.property(lengthsArb, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), (lengths, w, p) => {
        const ids = idsOf(lengths);
        const L = ids.length;
        const same = (q: number, kv: number): boolean => ids[q] === ids[kv];
        const rel = (q: number, kv: number): [number, number] => [q - startOf(ids, q), kv - startOf(ids, kv)];
        expectMaskEquals(documentMask({ lengths }, causal()), (_b, _h, q, kv) => same(q, kv) && rel(q, kv)[1] <= rel(q, kv)[0], { Lq: L, Lkv: L });
        expectMaskEquals(documentMask(ids, slidingWindow(w)), (_b, _h, q, kv) => {
          const [rq, rkv] = rel(q, kv);
          return same(q, kv) && rkv <= rq && rq - rkv <= w;
        }, { Lq: L, Lkv: L });
        // prefixLm depends on absolute positions: only a relative start makes each doc's prefix its own
        expectMaskEquals(documentMask(ids, prefixLm(p)), (_b, _h, q, kv) => {
          const [rq, rkv] = rel(q, kv);
          return same(q, kv) && (rkv < p || rkv <= rq);
        }, { Lq: L, Lkv: L });
      }),
      { numRuns: 50 },
    );
  });

  it('takes [B, L] ids with batch', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 1000 }), (B, L, seed) => {
        const ids = Array.from({ length: B * L }, (_, i) => Math.floor(((i % L) * (seed % 7 + 1 + Math.floor(i / L))) / 5));
        const start = (b: number, i: number): number => ids.indexOf(ids[b * L + i]!, b * L) - b * L;
        expectMaskEquals(
          documentMask({ ids, batch: B }, causal()),
          (b, _h, q, kv) => ids[b * L + q] === ids[b * L + kv] && kv - start(b, kv) <= q - start(b, q),
          { B, Lq: L, Lkv: L },
        );
      }),
    );
  });

  it('takes [B][L] nested ids', () => {
    const rows = [[0, 0, 1, 1, 1], [0, 1, 1, 2, 2]];
    expectMaskEquals(documentMask(rows), (b, _h, q, kv) => rows[b]![q] === rows[b]![kv], { B: 2, Lq: 5, Lkv: 5 });
    expect(() => documentMask([[0, 0, 1], [0, 1]])).toThrow(/'docIds'/); // ragged rows
  });

  it('setDocuments repacks in place: same hash, new result', () => {
    const m = documentMask({ lengths: [3, 3] }, causal());
    const before = maskFn(m);
    expect(before(0, 0, 4, 2)).toBe(false);
    m.setDocuments({ lengths: [6] });
    const after = maskFn(m);
    expect(after.traced.hash).toBe(before.traced.hash);
    expect(after(0, 0, 4, 2)).toBe(true);
    expect(before(0, 0, 4, 2)).toBe(true); // compiled code reads the live tables
  });

  it('rejects malformed documents, naming the parameter', () => {
    const bad: [() => unknown, string][] = [
      [() => documentMask([0, 1.5, 2]), 'docIds'],
      [() => documentMask({ ids: [0, 0, 1, 1, 1], batch: 2 }), 'docIds'],
      [() => documentMask({ ids: [0, 0, 1, 1], seqLen: 5 }), 'docIds'],
      [() => documentMask({ ids: [0, 1], batch: 0 }), 'batch'],
      [() => documentMask([]), 'docIds'],
      [() => documentMask({ lengths: [2, -1] }), 'lengths'],
      [() => documentMask({ lengths: [2, 3], seqLen: 6 }), 'lengths'],
      [() => documentMask({ offsets: [0, 4, 2, 6] }), 'offsets'],
      [() => documentMask({ offsets: [1, 4] }), 'offsets'],
      [() => documentMask([0, 0, 1, 1, 0], causal()), 'docIds'], // doc 0 is split: no start
      [() => documentMask([0, 1], 'causal' as never), 'inner'],
      [() => documentMask({ lengths: [2, 2] }).setDocuments({ lengths: [3, 2] }), 'docIds'],
    ];
    for (const [fn, param] of bad) {
      expect(fn).toThrow(ModOptionError);
      expect(fn).toThrow(`'${param}'`);
    }
  });
});
