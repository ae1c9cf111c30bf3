/**
 * Decoding a batch of sequences of different lengths — the `decode-paged` suite. One query token
 * per sequence over its own K/V, stored two ways so the ratio shows what paging costs:
 * - paged: a PagedKVCache (page size = the BlockMask kv block), pages handed out in interleaved
 *   rounds so each sequence's pages are scattered, K/V [1, Hkv, pages·pageSize, D] shared by the
 *   batch, the length mask converted to the pages (`cache.blockMask`);
 * - contiguous: K/V [B, Hkv, Lmax, D] with the same tokens and a length mask (`kv < length[b]`).
 * Both read exactly each sequence's tokens: GB/s count sum(lengths)·Hkv·(E + Ev) bytes.
 */
import { PagedKVCache } from '@flexattn/kv-cache';
import type { BenchCase, Shape } from './cases';
import { capture, createBlockMask, createReferenceBackend, type MaskMod, randomTensor, type Tensor } from './deps';
import type { Problem } from './problem';

/** Useful (q, kv) pairs over B·Lmax: each sequence reads its own length. */
export const raggedDensity = (lengths: readonly number[]): number => lengths.reduce((s, l) => s + l, 0) / (lengths.length * Math.max(...lengths));

/**
 * The sequences a problem of `shape` runs: all of them at full size; on a reduced shape (the
 * bench's correctness check and the reference's timing), at least two (so K/V shared across the
 * batch is exercised), lengths scaled to the shape's Lkv.
 */
function lengthsFor(lengths: readonly number[], shape: Shape, full: Shape): number[] {
  if (shape.Lkv >= full.Lkv && shape.B >= lengths.length) return [...lengths];
  const n = Math.min(lengths.length, Math.max(2, shape.B));
  const pick = Array.from({ length: n }, (_, i) => lengths[Math.round((i * (lengths.length - 1)) / Math.max(1, n - 1))]!);
  return pick.map((l) => Math.max(1, Math.round((l * shape.Lkv) / full.Lkv)));
}

/** Per sequence, K/V rows [1, Hkv, L, D] (the same tokens for both layouts). */
function sequenceKv(lengths: number[], shape: Shape, c: Pick<BenchCase, 'dtype'>, seed: number): { k: Tensor; v: Tensor }[] {
  return lengths.map((L, b) => ({
    k: randomTensor([1, shape.Hkv, L, shape.E], c.dtype, seed + 100 * b + 1),
    v: randomTensor([1, shape.Hkv, L, shape.Ev], c.dtype, seed + 100 * b + 2),
  }));
}

/** [B, Hkv, Lmax, D] with sequence b's rows at the front of batch b, zeros after. */
function contiguous(parts: Tensor[], Lmax: number): Tensor {
  const [, H, , D] = parts[0]!.shape as [number, number, number, number];
  const data = parts[0]!.dtype === 'f32' ? new Float32Array(parts.length * H * Lmax * D) : new Uint16Array(parts.length * H * Lmax * D);
  parts.forEach((p, b) => {
    const L = p.shape[2]!;
    for (let h = 0; h < H; h++) data.set(p.data.subarray(h * L * D, (h + 1) * L * D), ((b * H + h) * Lmax) * D);
  });
  return { data, shape: [parts.length, H, Lmax, D], dtype: parts[0]!.dtype };
}

export async function buildRaggedProblem(c: BenchCase, shape: Shape, seed: number): Promise<Problem> {
  const lengths = lengthsFor(c.lengths!, shape, c.shape);
  const B = lengths.length;
  const Lmax = Math.max(...lengths);
  const pageSize = c.blockSize?.[1] ?? 128;
  const lens = capture(Int32Array.from(lengths), [B], { name: 'lengths' });
  const lengthMask: MaskMod = (b, _h, _q, kv) => kv.lt(lens.at(b));
  const logical = createBlockMask(lengthMask, { B, qLen: 1, kvLen: Lmax, blockSize: [c.blockSize?.[0] ?? 128, pageSize] });
  const kv = sequenceKv(lengths, shape, c, seed);
  const q = randomTensor([B, shape.Hq, 1, shape.E], c.dtype, seed);
  const common = { shape: { ...shape, B, Lq: 1, Lkv: Lmax }, dtype: c.dtype, q, dOut: randomTensor([B, shape.Hq, 1, shape.Ev], c.dtype, seed + 3), density: raggedDensity(lengths) };
  if (c.layout === 'contiguous') {
    return { ...common, k: contiguous(kv.map((x) => x.k), Lmax), v: contiguous(kv.map((x) => x.v), Lmax), blockMask: logical, options: { blockMask: logical, enableGqa: shape.Hq !== shape.Hkv, returnLse: true } };
  }
  // Paged: the host cache of the reference backend builds the page layout; every backend then gets
  // its K/V as ordinary tensors (batch 1, shared by the query batch).
  const cache = new PagedKVCache(createReferenceBackend(), {
    pages: lengths.reduce((s, l) => s + Math.ceil(l / pageSize), 0), pageSize, maxBatch: B,
    kvHeads: shape.Hkv, headDim: shape.E, valueDim: shape.Ev, dtype: c.dtype,
  });
  for (let round = 1; round <= 4; round++) lengths.forEach((L, b) => cache.reserve(b, Math.ceil((L * round) / 4)));
  await Promise.all(kv.map(({ k, v }, b) => cache.append(b, k, v)));
  const blockMask = cache.blockMask(logical);
  return { ...common, k: cache.k, v: cache.v, blockMask, options: { blockMask, enableGqa: shape.Hq !== shape.Hkv, returnLse: true } };
}
