/** PagedKVCache's typed errors, and that a failed call leaves the cache exactly as it was. */
import { describe, expect, it } from 'vitest';
import { fromFloats, OptionError, ShapeError, UnsupportedError, type FlexAttentionBackend, type Tensor } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { randomTensor } from '@flexattn/ir/testing';
import { createBlockMask } from '@flexattn/blockmask';
import { BatchIndexError, KvCacheError, OutOfPagesError, PagedKVCache, ReservationExceededError } from './index';

const reference = createReferenceBackend();
const opts = { pages: 4, pageSize: 4, maxBatch: 2, kvHeads: 2, headDim: 3, valueDim: 2, dtype: 'f32' as const };
const kv = (n: number, seed = 1, dtype: Tensor['dtype'] = 'f32') => ({ k: randomTensor([1, 2, n, 3], dtype, seed), v: randomTensor([1, 2, n, 2], dtype, seed + 1) });

/** Everything observable: lengths, capacities, free pages and the K/V contents. */
function state(cache: PagedKVCache) {
  return {
    lengths: [0, 1].map((b) => cache.length(b)),
    capacity: [0, 1].map((b) => cache.capacity(b)),
    free: cache.freePages,
    k: Array.from(cache.k.data),
    v: Array.from(cache.v.data),
  };
}

describe('PagedKVCache', () => {
  it('lays K/V out as [1, kvHeads, pages·pageSize, D] in the backend’s memory', () => {
    const cache = new PagedKVCache(reference, opts);
    expect(cache.k.shape).toEqual([1, 2, 16, 3]);
    expect(cache.v.shape).toEqual([1, 2, 16, 2]);
    expect(new PagedKVCache(reference, { ...opts, dtype: 'bf16' }).k.data).toBeInstanceOf(Uint16Array);
  });

  it('a backend without KvStorage gets an UnsupportedError naming the way out', () => {
    const { allocateKv: _a, writeKvRows: _w, ...plain } = createReferenceBackend();
    expect(() => new PagedKVCache(plain as FlexAttentionBackend, opts)).toThrow(UnsupportedError);
    expect(() => new PagedKVCache(plain as FlexAttentionBackend, opts)).toThrow(/cannot hold a paged KV cache yet .*use the reference backend/);
  });

  it('rejects bad options with OptionErrors', () => {
    expect(() => new PagedKVCache(reference, { ...opts, pages: 0 })).toThrow(/pages must be a positive integer/);
    expect(() => new PagedKVCache(reference, { ...opts, dtype: 'f64' as never })).toThrow(OptionError);
    expect(() => new PagedKVCache(reference, { ...opts, pages: 2 ** 20, pageSize: 2 ** 12 })).toThrow(/exceed the i32 range/);
  });

  it('running out of pages: OutOfPagesError, nothing allocated', () => {
    const cache = new PagedKVCache(reference, opts);
    cache.reserve(0, 9); // 3 pages
    const before = state(cache);
    const err = (() => {
      try {
        cache.reserve(1, 8);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(OutOfPagesError);
    expect(err).toMatchObject({ requested: 2, available: 1 });
    expect((err as Error).message).toMatch(/free\(\) finished sequences, or create the cache with more pages/);
    expect(state(cache)).toEqual(before);
  });

  it('appending past reserve: ReservationExceededError, nothing written', async () => {
    const cache = new PagedKVCache(reference, opts);
    cache.reserve(0, 6);
    await cache.append(0, kv(5).k, kv(5).v);
    const before = state(cache);
    const { k, v } = kv(4, 9);
    const err = await cache.append(0, k, v).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReservationExceededError);
    expect((err as Error).message).toMatch(/call reserve\(0, 9\) first/);
    expect(state(cache)).toEqual(before);
    cache.reserve(0, 9);
    await cache.append(0, k, v);
    expect(cache.length(0)).toBe(9);
  });

  it('a batch index out of range: BatchIndexError from every method', async () => {
    const cache = new PagedKVCache(reference, opts);
    expect(() => cache.reserve(2, 1)).toThrow(BatchIndexError);
    expect(() => cache.free(-1)).toThrow(BatchIndexError);
    expect(() => cache.length(1.5)).toThrow(BatchIndexError);
    await expect(cache.append(5, kv(1).k, kv(1).v)).rejects.toBeInstanceOf(BatchIndexError);
  });

  it('K/V of the wrong shape or dtype: ShapeError / OptionError before anything is written', async () => {
    const cache = new PagedKVCache(reference, opts);
    cache.reserve(0, 8);
    const before = state(cache);
    const { k, v } = kv(2);
    await expect(cache.append(0, randomTensor([1, 1, 2, 3], 'f32', 1), v)).rejects.toThrow(/k has shape \[1, 1, 2, 3\] but the cache takes \[1, 2, n, 3\]/);
    await expect(cache.append(0, k, randomTensor([1, 2, 2, 3], 'f32', 1))).rejects.toThrow(ShapeError);
    await expect(cache.append(0, k, randomTensor([1, 2, 3, 2], 'f32', 1))).rejects.toThrow(/k holds 2 tokens but v holds 3/);
    await expect(cache.append(0, kv(2, 1, 'f16').k, kv(2, 1, 'f16').v)).rejects.toThrow(/dtype f16 but the cache holds f32/);
    await expect(cache.append(0, { ...k, data: new Float32Array(3) }, v)).rejects.toThrow(/has 3 elements/);
    await expect(cache.append(0, { ...k, data: new Uint16Array(12) } as Tensor, v)).rejects.toThrow(/needs a Float32Array/);
    expect(state(cache)).toEqual(before);
  });

  it('appends to one sequence run in call order, even when not awaited; free refuses while one is in flight', async () => {
    const cache = new PagedKVCache(reference, { ...opts, kvHeads: 1, headDim: 1, valueDim: 1 });
    cache.reserve(0, 8);
    const token = (x: number) => fromFloats([x], [1, 1, 1, 1], 'f32');
    const writes = [1, 2, 3, 4, 5].map((x) => cache.append(0, token(x), token(-x)));
    expect(() => cache.free(0)).toThrow(KvCacheError);
    await Promise.all(writes);
    expect(cache.length(0)).toBe(5);
    expect(Array.from(cache.k.data.subarray(0, 5))).toEqual([1, 2, 3, 4, 5]);
    expect(Array.from(cache.v.data.subarray(0, 5))).toEqual([-1, -2, -3, -4, -5]);
    cache.free(0);
    expect([cache.length(0), cache.capacity(0), cache.freePages]).toEqual([0, 0, 4]);
  });

  it('a failing device write leaves the length unchanged (the rows written stay unread)', async () => {
    let fail = false;
    const flaky = {
      ...createReferenceBackend(),
      async writeKvRows(dst: Tensor, rows: Int32Array, src: Tensor) {
        if (fail) throw new Error('device lost');
        await reference.writeKvRows(dst, rows, src);
      },
    };
    const cache = new PagedKVCache(flaky, opts);
    cache.reserve(0, 8);
    await cache.append(0, kv(3).k, kv(3).v);
    fail = true;
    await expect(cache.append(0, kv(2).k, kv(2).v)).rejects.toThrow(/device lost/);
    expect(cache.length(0)).toBe(3);
    fail = false;
    await cache.append(0, kv(2).k, kv(2).v); // the queue goes on after a failure
    expect(cache.length(0)).toBe(5);
  });

  it('blockMask: rejects what it cannot convert, with the fix in the message', async () => {
    const cache = new PagedKVCache(reference, opts);
    cache.reserve(0, 7);
    await cache.append(0, kv(7).k, kv(7).v);
    const causal = createBlockMask((_b, _h, q, kv) => q.ge(kv), { qLen: 7, kvLen: 7, blockSize: 4 });
    expect(() => cache.blockMask(createBlockMask(() => true, { qLen: 1, kvLen: 8, blockSize: 3 }))).toThrow(/kv block \(3\) and the page size \(4\) must divide one another/);
    expect(() => cache.blockMask(createBlockMask(() => true, { qLen: 1, kvLen: 6, blockSize: 4 }), { batch: 1 })).toThrow(/holds 7 tokens but the logical mask covers kvLen = 6/);
    expect(() => cache.blockMask(causal, { batch: 3 })).toThrow(/batch must be an integer in \[1, 2\]/);
    expect(() => cache.blockMask(createBlockMask((b, _h, q, kv) => q.ge(kv.add(b)), { B: 1, qLen: 7, kvLen: 7, blockSize: 4 }))).toThrow(/reads b but the mask was built with B: 1/);
    expect(() => cache.blockMask({} as never)).toThrow(OptionError);
    expect(() => cache.blockMask(causal, { sequences: [2] })).toThrow(BatchIndexError);
    expect(() => cache.blockMask(causal, { sequences: [0.5] })).toThrow(/sequences\[0\] = 0.5 is not an integer/);
    expect(() => cache.blockMask(causal, { sequences: [0, 1], batch: 1 })).toThrow(/pass one or the other/);
    expect(cache.blockMask(causal, { sequences: [1, 0] }).B).toBe(2);
    expect(cache.blockMask(causal, { batch: 1 }).seqLengths).toEqual([7, 16]);
  });
});
