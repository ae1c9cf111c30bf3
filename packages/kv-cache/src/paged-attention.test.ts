/**
 * Paged attention equals dense attention, on the float64 reference and on WebGPU (lavapipe in CI):
 * random page sizes and logical block sizes, random append orders (chunks interleaved across
 * sequences, some sent before the previous one finished, pages scattered by another sequence
 * reserving and freeing in between), GQA, prefill (many query rows) and decode (one), masks and
 * score mods that read b, h, q and kv. The oracle is the reference on each sequence's own
 * contiguous K/V with its mask built directly.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, capture, fromFloats, inlineMod, traceMaskMod, traceScoreMod, type DType, type FlexAttentionBackend, type MaskMod, type ScoreMod, type Tensor } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { assertClose, randomNormal } from '@flexattn/ir/testing';
import { createBlockMask, validateBlockMask } from '@flexattn/blockmask';
import { createWebGPUBackend } from '@flexattn/backend-webgpu';
import { PagedKVCache } from './index';

const reference = createReferenceBackend();

/**
 * Sizes a GPU backend keeps fixed across cases: the page pool, the document table and the batch
 * are shapes of the mods' captured tensors, part of a kernel's key — fixed, every case reuses the
 * kernels the first one compiled (lavapipe takes seconds per pipeline); the data stays random.
 */
interface FixedPool {
  pages: number;
  docsLength: number;
}

const MASKS = ['causal', 'sinksWindow', 'document', 'noop'] as const;
const SCORES = ['none', 'alibi', 'softcap'] as const;

interface Case {
  pageSize: number;
  /** Logical kv block = pageSize · 2^blockShift (−1: half a page, where the page size is even). */
  blockShift: -1 | 0 | 1;
  qBlock: number;
  lengths: number[];
  Lq: number;
  kvHeads: number;
  group: number;
  E: number;
  Ev: number;
  mask: (typeof MASKS)[number];
  score: (typeof SCORES)[number];
  dtype: DType;
  /** Chunk sizes per sequence (consumed in `order`), and a spare slot that scatters the pages. */
  chunks: number[];
  order: number[];
  scatter: boolean;
  extraPages: number;
  seed: number;
}

/** The random fields of a case; `fixed` replaces some of them (a GPU run pins kernel-keying sizes). */
const caseFields = {
  pageSize: fc.integer({ min: 1, max: 4 }),
  blockShift: fc.constantFrom(-1 as const, 0 as const, 1 as const),
  qBlock: fc.integer({ min: 1, max: 4 }),
  lengths: fc.array(fc.integer({ min: 1, max: 18 }), { minLength: 1, maxLength: 3 }),
  decode: fc.boolean(),
  lqRaw: fc.nat(),
  kvHeads: fc.integer({ min: 1, max: 2 }),
  group: fc.integer({ min: 1, max: 2 }),
  E: fc.integer({ min: 1, max: 4 }),
  Ev: fc.integer({ min: 1, max: 3 }),
  mask: fc.constantFrom(...MASKS),
  score: fc.constantFrom(...SCORES),
  dtype: fc.constantFrom<DType>('f32', 'f32', 'f16'),
  chunks: fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 40, maxLength: 40 }),
  order: fc.array(fc.nat(), { minLength: 60, maxLength: 60 }),
  scatter: fc.boolean(),
  extraPages: fc.nat(3),
  seed: fc.nat(10_000),
};

function casesWith(fixed: Partial<typeof caseFields> = {}): fc.Arbitrary<Case> {
  return fc
    .record({ ...caseFields, ...fixed })
    .map((r) => ({ ...r, blockShift: r.blockShift === -1 && r.pageSize % 2 ? 0 : r.blockShift, Lq: r.decode ? 1 : 1 + (r.lqRaw % Math.min(...r.lengths)) }));
}

const caseArb = casesWith();

/** The case's logical mod (reads b through per-sequence document ids) and score mod. */
function mods(c: Case, Lmax: number): { mask: MaskMod; score?: ScoreMod } {
  const ids = new Int32Array(c.lengths.length * Lmax);
  for (let i = 0; i < ids.length; i++) ids[i] = Math.floor(((i % Lmax) + (i / Lmax) * 3) / 5);
  const docs = capture(ids, [c.lengths.length, Lmax], { name: 'docs' });
  const slopes = capture(Float32Array.from({ length: c.kvHeads * c.group }, (_, h) => 0.5 / (h + 1)), undefined, { name: 'slopes' });
  const masks: Record<Case['mask'], MaskMod> = {
    causal: (_b, _h, q, kv) => kv.le(q),
    sinksWindow: (_b, _h, q, kv) => kv.le(q).and(kv.lt(2).or(q.sub(kv).lt(5))),
    document: (b, _h, q, kv) => docs.at(b, q).eq(docs.at(b, kv)).and(kv.le(q)),
    noop: () => true,
  };
  const mask = masks[c.mask];
  const score: ScoreMod | undefined = {
    none: undefined,
    alibi: ((s, _b, h, q, kv) => s.add(slopes.at(h).mul(kv.sub(q)))) as ScoreMod,
    softcap: ((s) => s.div(5).tanh().mul(5)) as ScoreMod,
  }[c.score];
  return { mask, score };
}

/** [1, H, n, D] rows [from, from + n) of a [H, L, D] array. */
function rowsOf(all: Float32Array, H: number, L: number, D: number, from: number, n: number, dtype: DType): Tensor {
  const out = new Float32Array(H * n * D);
  for (let h = 0; h < H; h++) out.set(all.subarray((h * L + from) * D, (h * L + from + n) * D), h * n * D);
  return fromFloats(out, [1, H, n, D], dtype);
}

/** Batch b of a [B, ...] tensor as [1, ...]. */
function batchOf(t: Tensor, b: number): Tensor {
  const per = t.data.length / t.shape[0]!;
  return { data: t.data.slice(b * per, (b + 1) * per), shape: [1, ...t.shape.slice(1)], dtype: t.dtype } as Tensor;
}

/** Runs case `c` on `backend` (paged) against the reference (dense); a GPU run passes its fixed pool. */
async function checkCase(c: Case, backend: FlexAttentionBackend = reference, pool?: FixedPool): Promise<void> {
  const nSeq = c.lengths.length;
  const Lmax = Math.max(...c.lengths);
  const Hq = c.kvHeads * c.group;
  const bk = c.blockShift === 1 ? 2 * c.pageSize : c.blockShift === -1 ? c.pageSize / 2 : c.pageSize;
  const pagesNeeded = c.lengths.reduce((s, l) => s + Math.ceil(l / c.pageSize), 0);
  const pages = pagesNeeded + c.extraPages + (c.scatter ? 2 : 0);
  if (pool && (pool.pages < pages || pool.docsLength < Lmax)) throw new Error(`the fixed pool (${pool.pages} pages, documents of ${pool.docsLength}) is too small for this case`);
  const spare = nSeq; // a slot used only to scatter pages
  const cache = new PagedKVCache(backend, {
    pages: pool?.pages ?? pages, pageSize: c.pageSize, maxBatch: nSeq + 1,
    kvHeads: c.kvHeads, headDim: c.E, valueDim: c.Ev, dtype: c.dtype,
  });
  const K = c.lengths.map((L, b) => randomNormal(c.kvHeads * L * c.E, c.seed + 10 * b));
  const V = c.lengths.map((L, b) => randomNormal(c.kvHeads * L * c.Ev, c.seed + 10 * b + 5));

  // Append each sequence in chunks, sequences interleaved; some appends are not awaited before the next.
  const written = c.lengths.map(() => 0);
  let chunk = 0;
  const inFlight: Promise<void>[] = [];
  for (let step = 0; written.some((w, b) => w < c.lengths[b]!); step++) {
    const open = c.lengths.map((_, b) => b).filter((b) => written[b]! < c.lengths[b]!);
    const b = open[c.order[step % c.order.length]! % open.length]!;
    const n = Math.min(c.chunks[chunk++ % c.chunks.length]!, c.lengths[b]! - written[b]!);
    if (c.scatter && step % 2 === 0) {
      cache.reserve(spare, c.pageSize); // takes a page now, gives it back later: the next pages interleave
      if (step % 4 === 0) cache.free(spare);
    }
    cache.reserve(b, written[b]! + n);
    const p = cache.append(b, rowsOf(K[b]!, c.kvHeads, c.lengths[b]!, c.E, written[b]!, n, c.dtype), rowsOf(V[b]!, c.kvHeads, c.lengths[b]!, c.Ev, written[b]!, n, c.dtype));
    written[b]! += n;
    if (step % 3 === 1) inFlight.push(p);
    else await p;
  }
  await Promise.all(inFlight);
  c.lengths.forEach((L, b) => expect(cache.length(b)).toBe(L));

  const { mask, score } = mods(c, pool?.docsLength ?? Lmax);
  const traced = traceMaskMod(mask);
  const master = createBlockMask(traced, { B: nSeq, qLen: Lmax, kvLen: Lmax, blockSize: [c.qBlock, bk] });
  const starts = c.lengths.map((L) => L - c.Lq);
  const logical = master.sliceRowsPerBatch(starts, c.Lq);
  const physical = cache.blockMask(logical, { batch: nSeq });
  const validation = validateBlockMask(physical);
  if (!validation.ok) throw new Error(`physical mask: ${validation.problems[0]!.message}`);

  const q = fromFloats(randomNormal(nSeq * Hq * c.Lq * c.E, c.seed + 999), [nSeq, Hq, c.Lq, c.E], c.dtype);
  const paged = await backend.flexAttention(q, cache.k, cache.v, {
    // The kernel's q is the row within the slice: the score mod gets the absolute position from the slice.
    blockMask: physical, scoreMod: score ? cache.scoreMod(logical.shiftScoreMod(score)) : undefined, enableGqa: true, returnLse: true,
  });

  const tracedScore = score ? traceScoreMod(score) : undefined;
  // the reference pages in float64; a GPU accumulates in f32
  const tol = backend !== reference ? { atol: 1e-4, rtol: 1e-4 } : c.dtype === 'f32' ? { atol: 1e-5, rtol: 1e-5 } : { atol: 2e-3, rtol: 2e-3 };
  /** The oracle: sequence `seq` alone, contiguous, the mods at absolute positions as query batch `b` sees them. */
  const dense = (qb: Tensor, seq: number, b: number) => {
    const L = c.lengths[seq]!;
    const start = starts[seq]!;
    const own = createBlockMask((_b, h, qi, kv) => inlineMod(traced, { b, h, q: qi.add(start), kv }), { qLen: c.Lq, kvLen: L, blockSize: 1 });
    return reference.flexAttention(qb, rowsOf(K[seq]!, c.kvHeads, L, c.E, 0, L, c.dtype), rowsOf(V[seq]!, c.kvHeads, L, c.Ev, 0, L, c.dtype), {
      blockMask: own,
      scoreMod: tracedScore ? (s, _b, h, qi, kv) => inlineMod(tracedScore, { score: s, b, h, q: qi.add(start), kv }) : undefined,
      enableGqa: true,
      returnLse: true,
    });
  };
  for (let b = 0; b < nSeq; b++) {
    const want = await dense(batchOf(q, b), b, b);
    assertClose(batchOf(paged.out, b), want.out, tol, `out of sequence ${b}`);
    assertClose(batchOf(paged.lse!, b), want.lse!, tol, `lse of sequence ${b}`);
  }

  // One sequence alone (a prefill beside the others): query batch 0 reads cache sequence `seq`.
  const seq = c.seed % nSeq;
  // B: 1 — one query batch, classified at b = 0 (the document mod reads b; a mask without B would be refused)
  const aloneLogical = createBlockMask(traced, { B: 1, qLen: Lmax, kvLen: Lmax, blockSize: [c.qBlock, bk] }).sliceRows(starts[seq]!, starts[seq]! + c.Lq);
  const qAlone = batchOf(q, seq);
  const alone = await backend.flexAttention(qAlone, cache.k, cache.v, {
    blockMask: cache.blockMask(aloneLogical, { sequences: [seq] }),
    scoreMod: score ? cache.scoreMod(aloneLogical.shiftScoreMod(score)) : undefined,
    enableGqa: true,
    returnLse: true,
  });
  const want = await dense(qAlone, seq, 0);
  assertClose(alone.out, want.out, tol, `out of sequence ${seq} alone`);
  assertClose(alone.lse!, want.lse!, tol, `lse of sequence ${seq} alone`);
  cache.dispose();
}

describe('paged attention equals dense attention (reference)', () => {
  it('random pages, block sizes, append orders, GQA, masks and score mods; prefill and decode', async () => {
    await fc.assert(fc.asyncProperty(caseArb, (c) => checkCase(c)), { numRuns: 150, seed: 1616 });
  });

  it('a decode loop: append one token per sequence, convert, attend — every step equal to dense', async () => {
    const c: Case = {
      pageSize: 4, blockShift: 0, qBlock: 4, lengths: [9, 14, 3], Lq: 1, kvHeads: 2, group: 2, E: 4, Ev: 4,
      mask: 'sinksWindow', score: 'alibi', dtype: 'f32', chunks: [1], order: [0, 1, 2], scatter: true, extraPages: 2, seed: 3,
    };
    for (let grow = 0; grow < 8; grow++) await checkCase({ ...c, lengths: c.lengths.map((L) => L + grow) });
  });

  it('a logical mask built once for every sequence (B = 1) applies to `batch` sequences', async () => {
    const cache = new PagedKVCache(reference, { pages: 6, pageSize: 4, maxBatch: 3, kvHeads: 1, headDim: 2, dtype: 'f32' });
    const lengths = [5, 11];
    const kv = lengths.map((L, b) => randomNormal(L * 2, 40 + b));
    for (const [b, L] of lengths.entries()) {
      cache.reserve(b, L);
      await cache.append(b, rowsOf(kv[b]!, 1, L, 2, 0, L, 'f32'), rowsOf(kv[b]!, 1, L, 2, 0, L, 'f32'));
    }
    const everything = createBlockMask(() => true, { qLen: 1, kvLen: 12, blockSize: 4 });
    expect(() => cache.blockMask(everything)).not.toThrow(); // B = maxBatch by default
    const physical = cache.blockMask(everything, { batch: 2 });
    expect(physical.B).toBe(2);
    const q = fromFloats(randomNormal(2 * 2, 7), [2, 1, 1, 2], 'f32');
    const paged = await reference.flexAttention(q, cache.k, cache.v, { blockMask: physical, returnLse: true });
    for (const [b, L] of lengths.entries()) {
      const dense = await reference.flexAttention(batchOf(q, b), rowsOf(kv[b]!, 1, L, 2, 0, L, 'f32'), rowsOf(kv[b]!, 1, L, 2, 0, L, 'f32'), { returnLse: true });
      assertClose(batchOf(paged.out, b), dense.out, { atol: 1e-6, rtol: 1e-6 }, `sequence ${b}`);
    }
  });
});

/** WebGPU (lavapipe in CI), or why this machine has none (a missing adapter fails only where WebGPU is required). */
async function loadWebGPU(splitKv?: boolean): Promise<FlexAttentionBackend | string> {
  try {
    return await createWebGPUBackend({ powerPreference: 'low-power', splitKv });
  } catch (err) {
    if (err instanceof BackendUnavailableError && process.env.FLEXATTN_REQUIRE_WEBGPU !== '1') return err.message.split('\n')[0]!;
    throw err;
  }
}

const webgpu = await loadWebGPU();
const webgpuDecoder = typeof webgpu === 'string' ? webgpu : await loadWebGPU(true);

describe.skipIf(typeof webgpu === 'string')(`paged attention equals dense attention (webgpu${typeof webgpu === 'string' ? `: ${webgpu}` : ''})`, () => {
  // The sizes that key kernels are pinned — three sequences, GQA 4/2, E 4, Ev 3, one mask and one
  // score mod that read b, h, q and kv, and the page size (the physical → logical wrappers divide by
  // it: a constant in the kernel) — so each test compiles its few pipelines once (lavapipe takes
  // seconds to tens of seconds per pipeline); logical block sizes, lengths, append orders, page
  // placement, Lq and the data stay random. The reference tests above cover every page size.
  const gpuCases = (pageSize: number, decode?: boolean) =>
    casesWith({
      pageSize: fc.constant(pageSize),
      lengths: fc.array(fc.integer({ min: 1, max: 18 }), { minLength: 3, maxLength: 3 }),
      kvHeads: fc.constant(2), group: fc.constant(2), E: fc.constant(4), Ev: fc.constant(3),
      mask: fc.constantFrom<Case['mask']>('document'), score: fc.constantFrom<Case['score']>('alibi'), dtype: fc.constantFrom<DType>('f32'),
      ...(decode && { decode: fc.constant(true) }),
    });
  const pool: FixedPool = { pages: 3 * 18 + 3 + 2, docsLength: 18 };
  it('prefill and decode (page size 2) through the fused forward kernel', async () => {
    await fc.assert(fc.asyncProperty(gpuCases(2), (c) => checkCase(c, webgpu as FlexAttentionBackend, pool)), { numRuns: 12, seed: 1617 });
  }, 600_000);
  it('decode (page size 3) through the split-KV decoder: pages read through the block tables', async () => {
    await fc.assert(fc.asyncProperty(gpuCases(3, true), (c) => checkCase(c, webgpuDecoder as FlexAttentionBackend, pool)), { numRuns: 10, seed: 1618 });
  }, 600_000);
});
