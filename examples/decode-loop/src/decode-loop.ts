/**
 * A decode loop on a paged KV cache, without a model: random projections stand in for one
 * attention layer (x → q, k, v; attention output → the next token's embedding). Each sequence's
 * prompt is prefilled alone, then every sequence generates `steps` tokens together — each at its
 * own position — with an attention-sinks + sliding-window mask (StreamingLLM). The BlockMask is
 * built once for the longest sequence; a step only takes its rows (`sliceRowsPerBatch`) and maps
 * them to the cache's pages (`cache.blockMask`).
 *
 * Every attention call is checked against dense attention on the float64 reference: the same
 * queries over each sequence's own contiguous K/V, with the mask built directly at that position.
 */
import { createBlockMask } from '@flexattn/blockmask';
import { fromFloats, type FlexAttentionBackend, type Tensor } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { compareClose, seededRandom } from '@flexattn/ir/testing';
import { PagedKVCache } from '@flexattn/kv-cache';
import { attentionSinks } from '@flexattn/mods';

export interface DecodeLoopOptions {
  /** Prompt length of each sequence (one sequence per entry). */
  prompts: number[];
  /** Tokens each sequence generates after its prompt. */
  steps: number;
  dModel: number;
  kvHeads: number;
  /** Query heads per kv head (GQA). */
  groupSize: number;
  headDim: number;
  /** Tokens per page = the BlockMask's block size. */
  pageSize: number;
  sinks: number;
  window: number;
  seed: number;
}

/** One attention call and how far it was from dense attention. */
export interface CallReport {
  phase: 'prefill' | 'decode';
  /** The sequences' positions of the (last) query row. */
  positions: number[];
  maxAbsError: number;
  ok: boolean;
}

export interface DecodeLoopResult {
  calls: CallReport[];
  /** Pages the sequences hold at the end, and the cache's total. */
  pagesUsed: number;
  pages: number;
  /** The last step's generated embeddings, per sequence (for a look at the numbers). */
  last: Float32Array[];
}

/** Random projections: a [rows, cols] matrix scaled to keep activations O(1). */
function matrix(rows: number, cols: number, random: () => number): Float32Array {
  const m = new Float32Array(rows * cols);
  for (let i = 0; i < m.length; i++) m[i] = (random() * 2 - 1) * Math.sqrt(3 / cols);
  return m;
}

/** y[n, rows] = x[n, cols] · Wᵀ */
function project(x: Float32Array, n: number, w: Float32Array, rows: number, cols: number): Float32Array {
  const y = new Float32Array(n * rows);
  for (let t = 0; t < n; t++)
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += x[t * cols + c]! * w[r * cols + c]!;
      y[t * rows + r] = s;
    }
  return y;
}

/** [n, heads·D] token-major → [1, heads, n, D] head-major, as attention takes it. */
function toHeads(y: Float32Array, n: number, heads: number, D: number): Tensor {
  const out = new Float32Array(heads * n * D);
  for (let t = 0; t < n; t++) for (let h = 0; h < heads; h++) out.set(y.subarray((t * heads + h) * D, (t * heads + h + 1) * D), (h * n + t) * D);
  return fromFloats(out, [1, heads, n, D], 'f32');
}

/** Concatenates [1, H, n, D] tensors along the batch (decode: one row per sequence). */
function stackBatch(parts: Tensor[]): Tensor {
  const size = parts[0]!.data.length;
  const data = new Float32Array(parts.length * size);
  parts.forEach((p, i) => data.set(p.data, i * size));
  return { data, shape: [parts.length, ...parts[0]!.shape.slice(1)], dtype: 'f32' };
}

/** Row `row` of batch `b` of an attention output [B, H, n, D], heads concatenated: the next embedding's input. */
function outputRow(out: Tensor, b: number, row: number): Float32Array {
  const [, H, n, D] = out.shape as [number, number, number, number];
  const v = new Float32Array(H * D);
  for (let h = 0; h < H; h++) v.set(out.data.subarray(((b * H + h) * n + row) * D, ((b * H + h) * n + row + 1) * D) as Float32Array, h * D);
  return v;
}

export async function runDecodeLoop(backend: FlexAttentionBackend, o: DecodeLoopOptions): Promise<DecodeLoopResult> {
  const random = seededRandom(o.seed);
  const Hq = o.kvHeads * o.groupSize;
  const D = o.headDim;
  const Wq = matrix(Hq * D, o.dModel, random);
  const Wk = matrix(o.kvHeads * D, o.dModel, random);
  const Wv = matrix(o.kvHeads * D, o.dModel, random);
  const Wo = matrix(o.dModel, Hq * D, random);
  const nSeq = o.prompts.length;
  const finalLengths = o.prompts.map((p) => p + o.steps);
  const Lmax = Math.max(...finalLengths);

  const cache = new PagedKVCache(backend, {
    pages: finalLengths.reduce((s, L) => s + Math.ceil(L / o.pageSize), 0),
    pageSize: o.pageSize, maxBatch: nSeq, kvHeads: o.kvHeads, headDim: D, dtype: 'f32',
  });
  // One BlockMask for the whole run (query rows × keys up to the longest sequence).
  const mask = attentionSinks(o.sinks, o.window);
  const master = createBlockMask(mask, { qLen: Lmax, kvLen: Lmax, blockSize: o.pageSize });

  const reference = createReferenceBackend();
  // Each sequence's K/V, contiguous, for the dense check: [kvHeads][tokens][D] as growing arrays.
  const denseK = o.prompts.map(() => [] as Float32Array[]);
  const denseV = o.prompts.map(() => [] as Float32Array[]);
  const calls: CallReport[] = [];

  /** Dense attention of sequence b's queries (rows ending at position `end`) over its own K/V. */
  async function dense(q: Tensor, b: number, end: number) {
    const L = end + 1;
    const n = q.shape[2]!;
    const k = toHeads(Float32Array.from(denseK[b]!.flatMap((t) => Array.from(t))), L, o.kvHeads, D);
    const v = toHeads(Float32Array.from(denseV[b]!.flatMap((t) => Array.from(t))), L, o.kvHeads, D);
    const own = createBlockMask(attentionSinks(o.sinks, o.window, { offset: L - n }), { qLen: n, kvLen: L, blockSize: o.pageSize });
    return (await reference.flexAttention(q, k, v, { blockMask: own, enableGqa: true })).out;
  }

  /** Projects tokens of sequence b and appends their K/V to the cache (and the dense copy). */
  async function append(b: number, x: Float32Array, n: number): Promise<void> {
    const k = project(x, n, Wk, o.kvHeads * D, o.dModel);
    const v = project(x, n, Wv, o.kvHeads * D, o.dModel);
    for (let t = 0; t < n; t++) {
      denseK[b]!.push(k.subarray(t * o.kvHeads * D, (t + 1) * o.kvHeads * D));
      denseV[b]!.push(v.subarray(t * o.kvHeads * D, (t + 1) * o.kvHeads * D));
    }
    cache.reserve(b, cache.length(b) + n);
    await cache.append(b, toHeads(k, n, o.kvHeads, D), toHeads(v, n, o.kvHeads, D));
  }

  const next = (row: Float32Array) => project(row, 1, Wo, o.dModel, Hq * D).map(Math.tanh);
  let tokens: Float32Array[] = [];

  // Prefill: each prompt alone (query batch 0 reads cache sequence b).
  for (let b = 0; b < nSeq; b++) {
    const P = o.prompts[b]!;
    const x = Float32Array.from({ length: P * o.dModel }, () => random() * 2 - 1);
    await append(b, x, P);
    const q = toHeads(project(x, P, Wq, Hq * D, o.dModel), P, Hq, D);
    const logical = master.sliceRows(0, P);
    const out = (await backend.flexAttention(q, cache.k, cache.v, { blockMask: cache.blockMask(logical, { sequences: [b] }), enableGqa: true })).out;
    const cmp = compareClose(out, await dense(q, b, P - 1), { atol: 1e-5, rtol: 1e-5 });
    calls.push({ phase: 'prefill', positions: [P - 1], maxAbsError: cmp.maxAbsError, ok: cmp.ok });
    tokens.push(next(outputRow(out, 0, P - 1)));
  }

  // Decode: every sequence appends its new token, then one batched call attends for all of them.
  for (let step = 0; step < o.steps; step++) {
    const queries: Tensor[] = [];
    for (let b = 0; b < nSeq; b++) {
      await append(b, tokens[b]!, 1);
      queries.push(toHeads(project(tokens[b]!, 1, Wq, Hq * D, o.dModel), 1, Hq, D));
    }
    const positions = o.prompts.map((_, b) => cache.length(b) - 1);
    const logical = master.sliceRowsPerBatch(positions, 1);
    const q = stackBatch(queries);
    const out = (await backend.flexAttention(q, cache.k, cache.v, { blockMask: cache.blockMask(logical), enableGqa: true })).out;
    let maxAbsError = 0;
    let ok = true;
    for (let b = 0; b < nSeq; b++) {
      const want = await dense(queries[b]!, b, positions[b]!);
      const cmp = compareClose(outputRow(out, b, 0), outputRow(want, 0, 0), { atol: 1e-5, rtol: 1e-5 });
      maxAbsError = Math.max(maxAbsError, cmp.maxAbsError);
      ok &&= cmp.ok;
    }
    calls.push({ phase: 'decode', positions, maxAbsError, ok });
    tokens = o.prompts.map((_, b) => next(outputRow(out, b, 0)));
  }

  const pagesUsed = cache.pages - cache.freePages;
  cache.dispose();
  return { calls, pagesUsed, pages: cache.pages, last: tokens };
}
