/**
 * A mask built without B (H) is one plane shared by every batch (head). For a mod that reads b (h)
 * that plane, classified at b = 0, claims blocks full that are not full for b = 1 — and the kernels
 * skip the mask mod in full blocks: a silent wrong answer. createBlockMask refuses to build it;
 * resolveAttention refuses such a mask (from any builder) when the call has more than one batch (head).
 */
import { describe, expect, it } from 'vitest';
import { OptionError, ShapeError, evaluate, traceMaskMod, type Tensor } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { assertClose, denseForward64, randomTensor } from '@flexattn/ir/testing';
import { FULL, createBlockMask, fromKvBlocks } from './index';

// batch b sees 8·b fewer keys: a causal mask shifted per batch
const perBatch = traceMaskMod((b, _h, q, kv) => kv.le(q.sub(b.mul(8))));
const shape = { B: 2, Hq: 2, Hkv: 2, Lq: 32, Lkv: 32, E: 8, Ev: 8 };
const q = randomTensor([2, 2, 32, 8], 'f32', 1);
const k = randomTensor([2, 2, 32, 8], 'f32', 2);
const v = randomTensor([2, 2, 32, 8], 'f32', 3);
const reference = createReferenceBackend();

/** Dense attention over the keys the mod shows each query: the answer the user asked for. */
const intended = () => denseForward64(shape, q.data, k.data, v.data, { visible: (b, h, qi, kv) => evaluate(perBatch, { b, h, q: qi, kv }) === true }).out;

/** Elements masked for batch b inside blocks a 4×4 plane (blocks of 8) claims FULL. */
function maskedInFullBlocks(plane: Uint8Array, b: number): number {
  let n = 0;
  for (let qb = 0; qb < 4; qb++)
    for (let kb = 0; kb < 4; kb++) {
      if (plane[qb * 4 + kb] !== FULL) continue;
      for (let qi = qb * 8; qi < qb * 8 + 8; qi++) for (let kv = kb * 8; kv < kb * 8 + 8; kv++) if (evaluate(perBatch, { b, h: 0, q: qi, kv }) !== true) n++;
    }
  return n;
}

describe('masks shared across batches or heads whose mod reads b or h', () => {
  it('createBlockMask refuses to build one, naming the option to pass', () => {
    expect(() => createBlockMask(perBatch, { qLen: 32, kvLen: 32, blockSize: 8 })).toThrow(OptionError);
    expect(() => createBlockMask(perBatch, { qLen: 32, kvLen: 32, blockSize: 8 })).toThrow(/reads b but B was omitted.*Pass B: <number of batches>/);
    expect(() => createBlockMask((_b, h, q, kv) => kv.le(q.add(h)), { B: 2, qLen: 32, kvLen: 32 })).toThrow(/reads h but H was omitted.*Pass H:/);
  });

  it('the reference with B = 2: the fixed mask gives the intended answer; one classified at b = 0 is refused', async () => {
    const right = createBlockMask(perBatch, { B: 2, qLen: 32, kvLen: 32, blockSize: 8 });
    assertClose((await reference.flexAttention(q, k, v, { blockMask: right })).out, intended(), { atol: 1e-5, rtol: 1e-5 });

    // The hole: B: 1 is a batch of one, classified at b = 0 — its full blocks are not full for b = 1.
    const one = createBlockMask(perBatch, { B: 1, qLen: 32, kvLen: 32, blockSize: 8 });
    expect(maskedInFullBlocks(one.toDense(), 1)).toBeGreaterThan(0);
    expect(maskedInFullBlocks(right.toDense().subarray(16), 1)).toBe(0);
    await expect(reference.flexAttention(q, k, v, { blockMask: one })).rejects.toThrow(ShapeError);
    await expect(reference.flexAttention(q, k, v, { blockMask: one })).rejects.toThrow(/B=1 .*reads b.*createBlockMask\(maskMod, \{ B: 2/);
    // the same tables from fromKvBlocks, shared by the batch: refused the same way
    const shared = fromKvBlocks({ kvNumBlocks: one.kvNumBlocks, kvIndices: one.kvIndices, fullKvNumBlocks: one.fullKvNumBlocks, fullKvIndices: one.fullKvIndices, seqLengths: [32, 32], blockSize: 8, maskMod: perBatch });
    await expect(reference.flexAttention(q, k, v, { blockMask: shared })).rejects.toThrow(/reads b/);
    // with one batch nothing is shared
    const first = (t: Tensor): Tensor => ({ ...t, shape: [1, ...t.shape.slice(1)], data: t.data.slice(0, t.data.length / 2) as Float32Array });
    const alone = await reference.flexAttention(first(q), first(k), first(v), { blockMask: one });
    assertClose(alone.out, intended().slice(0, alone.out.data.length), { atol: 1e-5, rtol: 1e-5 });
  });

  it('slices of a shared mask read their one offset at index 0, so they stay shareable', async () => {
    const causal = createBlockMask((_b, _h, qi, kv) => kv.le(qi), { qLen: 32, kvLen: 32, blockSize: 8 });
    const step = causal.sliceRows(20, 21).resize(1, 32);
    const out = await reference.flexAttention(randomTensor([2, 2, 1, 8], 'f32', 4), k, v, { blockMask: step });
    expect(out.out.shape).toEqual([2, 2, 1, 8]);
  });
});
