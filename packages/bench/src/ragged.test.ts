// decode-paged's two layouts hold the same tokens: on the reference, paged and contiguous decode give
// the same output for every sequence, at full and reduced shapes, and the reduced problem keeps K/V
// shared across at least two sequences.
import { describe, expect, it } from 'vitest';
import { assertClose } from '@flexattn/ir/testing';
import type { BenchCase } from './cases';
import { createReferenceBackend } from './deps';
import { kvBytes, problemFor, reducedShape } from './problem';
import { raggedDensity } from './ragged';

const reference = createReferenceBackend();
const lengths = [70, 5, 33, 128];
const shape = { B: 4, Hq: 4, Hkv: 2, Lq: 1, Lkv: 128, E: 8, Ev: 6 };
const cases = (['paged', 'contiguous'] as const).map((layout): BenchCase => ({ id: layout, mod: 'lengths', shape, dtype: 'f32', kind: 'decode', lengths, layout, blockSize: [16, 16] }));

describe('decode-paged problems', () => {
  it('paged and contiguous K/V give the same decode output for every sequence', async () => {
    const [paged, contiguous] = await Promise.all(cases.map((c) => problemFor(c, c.shape, 5)));
    expect(paged!.k.shape).toEqual([1, 2, (5 + 1 + 3 + 8) * 16, 8]); // pages of 16 tokens: ceil(70/16) + ceil(5/16) + …
    expect(contiguous!.k.shape).toEqual([4, 2, 128, 8]);
    const a = await reference.flexAttention(paged!.q, paged!.k, paged!.v, paged!.options);
    const b = await reference.flexAttention(contiguous!.q, contiguous!.k, contiguous!.v, contiguous!.options);
    assertClose(a.out, b.out, { atol: 1e-6, rtol: 1e-6 }, 'out');
    assertClose(a.lse!, b.lse!, { atol: 1e-6, rtol: 1e-6 }, 'lse');
  });

  it('the reduced shape (correctness checks, reference timing) keeps two sequences with scaled lengths', async () => {
    const small = reducedShape({ ...shape, Lkv: 64 }, 'decode');
    const p = await problemFor(cases[0]!, { ...small, Lkv: 64 }, 5);
    expect(p.q.shape[0]).toBe(2);
    expect(p.blockMask!.B).toBe(2);
  });

  it('counts only the sequences’ own tokens: density and bytes', () => {
    expect(raggedDensity(lengths)).toBeCloseTo(236 / 512);
    expect(kvBytes(shape, 'bf16', lengths)).toBe(236 * 2 * 14 * 2);
  });
});
