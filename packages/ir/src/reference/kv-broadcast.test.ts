/**
 * K/V shared across the batch (kvBatch 1, what a paged KV cache hands the kernels): the reference
 * must equal the same call with K/V repeated to q's batch — forward, and backward with dk/dv summed
 * over the batch (the chain rule for a shared tensor). Other backends reject it with a typed error.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blockMaskByEvaluation } from '../block-mask';
import { ShapeError, UnsupportedError } from '../errors';
import { resolveAttention } from '../kernel';
import { allocateHostKv, hasKvStorage, writeHostKvRows } from '../kv-storage';
import { capture } from '../params';
import type { Tensor } from '../tensor';
import { fromFloats, toFloat64 } from '../tensor';
import { assertClose, randomTensor } from '../testing';
import { traceMaskMod, traceScoreMod } from '../trace';
import { createReferenceBackend } from './backend';

/** [1, H, L, D] repeated to [B, H, L, D]. */
function repeatBatch(t: Tensor, B: number): Tensor {
  const values = toFloat64(t);
  const out = new Float64Array(values.length * B);
  for (let b = 0; b < B; b++) out.set(values, b * values.length);
  return fromFloats(out, [B, ...t.shape.slice(1)], t.dtype);
}

/** [B, H, L, D] summed over the batch to [1, H, L, D]. */
function sumBatch(t: Tensor): Float64Array {
  const values = toFloat64(t);
  const per = values.length / t.shape[0]!;
  const out = new Float64Array(per);
  for (let i = 0; i < values.length; i++) out[i % per]! += values[i]!;
  return out;
}

const reference = createReferenceBackend();
const tol = { atol: 1e-5, rtol: 1e-5 };

describe('reference: K/V with batch 1 serve every query batch', () => {
  it('equals K/V repeated over the batch, forward and backward (random shapes, GQA, masks that read b)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          B: fc.integer({ min: 2, max: 3 }),
          Hkv: fc.integer({ min: 1, max: 2 }),
          group: fc.integer({ min: 1, max: 2 }),
          Lq: fc.integer({ min: 1, max: 9 }),
          Lkv: fc.integer({ min: 1, max: 13 }),
          E: fc.integer({ min: 1, max: 6 }),
          Ev: fc.integer({ min: 1, max: 5 }),
          seed: fc.integer({ min: 0, max: 1000 }),
        }),
        async ({ B, Hkv, group, Lq, Lkv, E, Ev, seed }) => {
          const Hq = Hkv * group;
          const q = randomTensor([B, Hq, Lq, E], 'f32', seed);
          const k = randomTensor([1, Hkv, Lkv, E], 'f32', seed + 1);
          const v = randomTensor([1, Hkv, Lkv, Ev], 'f32', seed + 2);
          const dOut = randomTensor([B, Hq, Lq, Ev], 'f32', seed + 3);
          const limit = capture(Int32Array.from({ length: B }, (_, b) => (seed + 3 * b) % (Lkv + 1)), [B], { name: 'limit' });
          const mask = traceMaskMod((b, _h, _q, kv) => kv.lt(limit.at(b)));
          const options = {
            enableGqa: true,
            blockMask: blockMaskByEvaluation(mask, { B, qLen: Lq, kvLen: Lkv, blockSize: 4 }),
            scoreMod: traceScoreMod((s, b, h, qi, kv) => s.add(b.mul(0.5)).sub(h.mul(0.25)).add(qi.sub(kv).mul(0.125))),
          };
          const shared = await reference.flexAttention(q, k, v, { ...options, returnLse: true });
          const [kB, vB] = [repeatBatch(k, B), repeatBatch(v, B)];
          const repeated = await reference.flexAttention(q, kB, vB, { ...options, returnLse: true });
          assertClose(shared.out, repeated.out, tol, 'out');
          assertClose(shared.lse!, repeated.lse!, tol, 'lse');
          const g = await reference.flexAttentionBackward(q, k, v, shared.out, shared.lse!, dOut, options);
          const gB = await reference.flexAttentionBackward(q, kB, vB, repeated.out, repeated.lse!, dOut, options);
          expect(g.dk.shape).toEqual([1, Hkv, Lkv, E]);
          expect(g.dv.shape).toEqual([1, Hkv, Lkv, Ev]);
          assertClose(g.dq, gB.dq, tol, 'dq');
          assertClose(g.dk, sumBatch(gB.dk), tol, 'dk');
          assertClose(g.dv, sumBatch(gB.dv), tol, 'dv');
        },
      ),
      { numRuns: 40, seed: 16 },
    );
  });

  it('resolveAttention rejects it with an UnsupportedError unless the backend declares support', () => {
    const q = { shape: [2, 2, 3, 4], dtype: 'f32' };
    const kv = { shape: [1, 2, 5, 4], dtype: 'f32' };
    expect(() => resolveAttention(q, kv, kv)).toThrow(UnsupportedError);
    expect(() => resolveAttention(q, kv, kv)).toThrow(/repeat k\/v to batch 2/);
    expect(resolveAttention(q, kv, kv, {}, Infinity, { kvBatchBroadcast: true }).kvBatch).toBe(1);
    expect(() => resolveAttention(q, kv, { shape: [2, 2, 5, 4], dtype: 'f32' }, {}, Infinity, { kvBatchBroadcast: true })).toThrow(ShapeError);
    expect(() => resolveAttention(q, { shape: [3, 2, 5, 4], dtype: 'f32' }, { shape: [3, 2, 5, 4], dtype: 'f32' })).toThrow(/batch sizes differ/);
  });
});

describe('KvStorage on host tensors (the reference)', () => {
  it('the reference offers it; writes land in the named rows of every head and nowhere else', async () => {
    expect(hasKvStorage(reference)).toBe(true);
    const dst = reference.allocateKv([1, 2, 6, 3], 'f32');
    const src = fromFloats(Array.from({ length: 2 * 2 * 3 }, (_, i) => i + 1), [1, 2, 2, 3], 'f32');
    await reference.writeKvRows(dst, Int32Array.of(4, 1), src);
    const at = (h: number, r: number) => Array.from(dst.data.subarray((h * 6 + r) * 3, (h * 6 + r + 1) * 3));
    expect(at(0, 4)).toEqual([1, 2, 3]);
    expect(at(0, 1)).toEqual([4, 5, 6]);
    expect(at(1, 4)).toEqual([7, 8, 9]);
    expect(at(1, 1)).toEqual([10, 11, 12]);
    for (const r of [0, 2, 3, 5]) expect(at(0, r).concat(at(1, r))).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('a bad write throws a typed error and writes nothing', () => {
    const dst = allocateHostKv([1, 2, 4, 3], 'f16');
    const src = randomTensor([1, 2, 2, 3], 'f16', 1);
    expect(() => writeHostKvRows(dst, Int32Array.of(0, 4), src)).toThrow(/row 4 \(index 1\) is outside \[0, 3\]/);
    expect(() => writeHostKvRows(dst, Int32Array.of(0), src)).toThrow(/holds 2 rows but 1 destination rows/);
    expect(() => writeHostKvRows(dst, Int32Array.of(0, 1), randomTensor([1, 2, 2, 3], 'bf16', 1))).toThrow(/dtype bf16 but the destination f16/);
    expect(() => writeHostKvRows(dst, Int32Array.of(0, 1), randomTensor([1, 1, 2, 3], 'f16', 1))).toThrow(/heads \(2\)/);
    expect(dst.data.every((x) => x === 0)).toBe(true);
  });
});
