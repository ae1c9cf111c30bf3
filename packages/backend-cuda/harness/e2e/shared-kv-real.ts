// K/V shared by the query batch (batch stride 0) and paged KV caches (@flexattn/kv-cache on this
// backend's device tensors) through the real CUDA backend, against the float64 reference, in the
// conformance runner's `CONF PASS|FAIL` lines:
// - shared K/V: suite cases with q of batch 3 and K/V of batch 1, forward (every body: the
//   persistent and mma.sync forwards, the split-KV decoder) and backward (dK/dV summed over the
//   query batches) against the reference, which reads the same one K/V for every batch;
// - paged: sequences of different lengths appended in interleaved chunks into scattered pages,
//   decode (one query each) and a 24-row prefill-like call, against dense attention over each
//   sequence's own contiguous K/V with a length mask (independent of paging).
import { createBlockMask } from '@flexattn/blockmask';
import { capture, compareClose, randomTensor, type DType, type FlexAttentionBackend, type MaskMod, type Tensor } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { caseInputs, CONFORMANCE_CASES, DEFAULT_TOLERANCE, type ConformanceCase } from '@flexattn/ir/testing';
import { PagedKVCache } from '@flexattn/kv-cache';

type Log = (ok: boolean, dtype: DType, pass: string, name: string, detail: string) => void;

const byName = (name: string): ConformanceCase => CONFORMANCE_CASES.find((c) => c.name === name)!;
const SHARED: ConformanceCase[] = [
  { ...byName('causal, odd lengths'), name: 'shared K/V: causal, 3x4 tiles @ head dim 64', B: 3, Lq: 333, Lkv: 333, E: 64, Ev: 64 },
  { ...byName('alibi (captured slopes) with GQA'), name: 'shared K/V: alibi with GQA', B: 3 },
  { ...byName('noop'), name: 'shared K/V: noop, Lq 300 Lkv 460 @ head dim 128', B: 3, Lq: 300, Lkv: 460, E: 128, Ev: 128 },
  { ...byName('decode-like: Lq small, Lkv long, causal with offset, GQA'), name: 'shared K/V: split-KV decoder @ head dim 128', B: 3, Lkv: 1500, E: 128, Ev: 128 },
];

/** Batch 0 of a [B, ...] tensor, as [1, ...]. */
function firstBatch(t: Tensor): Tensor {
  const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return { data: t.data.slice(0, per), shape: [1, ...t.shape.slice(1)], dtype: t.dtype } as Tensor;
}

const figures = (c: ReturnType<typeof compareClose>) => JSON.stringify({ maxAbs: c.maxAbsError, maxRel: c.maxRelError, bad: c.mismatches || undefined });

async function sharedKv(cuda: FlexAttentionBackend, ref: FlexAttentionBackend, c: ConformanceCase, dtype: DType, log: Log): Promise<void> {
  const x = caseInputs(c, dtype, 31);
  const k = firstBatch(x.k);
  const v = firstBatch(x.v);
  const tol = DEFAULT_TOLERANCE[dtype];
  const fwdRef = await ref.flexAttention(x.q, k, v, x.options);
  const fwd = await cuda.flexAttention(x.q, k, v, x.options);
  for (const [name, got, want] of [['out', fwd.out, fwdRef.out], ['lse', fwd.lse!, fwdRef.lse!]] as const) {
    const r = compareClose(got, want, tol.forward, { matchNaN: true });
    log(r.ok, dtype, 'forward', `${name} ${c.name}`, figures(r));
  }
  const gRef = await ref.flexAttentionBackward(x.q, k, v, fwdRef.out, fwdRef.lse!, x.dOut, x.options);
  const g = await cuda.flexAttentionBackward(x.q, k, v, fwd.out, fwd.lse!, x.dOut, x.options);
  for (const [name, got, want] of [['dq', g.dq, gRef.dq], ['dk', g.dk, gRef.dk], ['dv', g.dv, gRef.dv]] as const) {
    const r = compareClose(got, want, tol.backward, { matchNaN: true });
    log(r.ok && got.shape.join() === want.shape.join(), dtype, 'backward', `${name} ${c.name}`, `${figures(r)} shape [${got.shape.join(', ')}]`);
  }
}

/** [B, H, Lmax, D]: sequence b's rows at the front of batch b, zeros after. */
function contiguous(parts: Tensor[], Lmax: number): Tensor {
  const [, H, , D] = parts[0]!.shape as [number, number, number, number];
  const data = parts[0]!.dtype === 'f32' ? new Float32Array(parts.length * H * Lmax * D) : new Uint16Array(parts.length * H * Lmax * D);
  parts.forEach((p, b) => {
    const L = p.shape[2]!;
    for (let h = 0; h < H; h++) data.set(p.data.subarray(h * L * D, (h + 1) * L * D), (b * H + h) * Lmax * D);
  });
  return { data, shape: [parts.length, H, Lmax, D], dtype: parts[0]!.dtype } as Tensor;
}

/** Rows [from, to) of a [1, H, L, D] tensor. */
function rowsOf(t: Tensor, from: number, to: number): Tensor {
  const [, H, L, D] = t.shape as [number, number, number, number];
  const n = to - from;
  const data = t.dtype === 'f32' ? new Float32Array(H * n * D) : new Uint16Array(H * n * D);
  for (let h = 0; h < H; h++) data.set(t.data.subarray((h * L + from) * D, (h * L + to) * D), h * n * D);
  return { data, shape: [1, H, n, D], dtype: t.dtype } as Tensor;
}

async function paged(cuda: FlexAttentionBackend, ref: FlexAttentionBackend, dtype: DType, Lq: number, E: number, log: Log): Promise<void> {
  const lengths = [700, 90, 1300, 257];
  const [B, Hq, Hkv, pageSize] = [lengths.length, 8, 2, 64];
  const Lmax = Math.max(...lengths);
  const name = `paged: lengths ${lengths.join('/')} page ${pageSize}, Lq ${Lq}, GQA ${Hq}/${Hkv} @ head dim ${E}`;
  const lens = capture(Int32Array.from(lengths), [B], { name: 'lengths' });
  const mod: MaskMod = (b, _h, _q, kv) => kv.lt(lens.at(b));
  const logical = createBlockMask(mod, { B, qLen: Lq, kvLen: Lmax, blockSize: [Math.min(Lq, 64), pageSize] });
  const seqs = lengths.map((L, b) => ({ k: randomTensor([1, Hkv, L, E], dtype, 500 + 10 * b), v: randomTensor([1, Hkv, L, E], dtype, 501 + 10 * b) }));
  const cache = new PagedKVCache(cuda, { pages: lengths.reduce((s, L) => s + Math.ceil(L / pageSize), 0) + 3, pageSize, maxBatch: B, kvHeads: Hkv, headDim: E, dtype });
  // interleaved chunks: each sequence's pages scattered among the others'
  const done = lengths.map(() => 0);
  for (let round = 1; round <= 4; round++) {
    for (const [b, L] of lengths.entries()) {
      const to = Math.ceil((L * round) / 4);
      cache.reserve(b, to);
      await cache.append(b, rowsOf(seqs[b]!.k, done[b]!, to), rowsOf(seqs[b]!.v, done[b]!, to));
      done[b] = to;
    }
  }
  const q = randomTensor([B, Hq, Lq, E], dtype, 77);
  const opts = { enableGqa: true, returnLse: true };
  const got = await cuda.flexAttention(q, cache.k, cache.v, { ...opts, blockMask: cache.blockMask(logical) });
  const want = await ref.flexAttention(q, contiguous(seqs.map((s) => s.k), Lmax), contiguous(seqs.map((s) => s.v), Lmax), { ...opts, blockMask: logical });
  for (const [n, g, w] of [['out', got.out, want.out], ['lse', got.lse!, want.lse!]] as const) {
    const r = compareClose(g, w, DEFAULT_TOLERANCE[dtype].forward, { matchNaN: true });
    log(r.ok, dtype, 'forward', `${n} ${name}`, figures(r));
  }
  for (const b of lengths.keys()) cache.free(b);
}

/** Runs the shared-K/V and paged checks; returns the number of failures (errors count as one each). */
export async function runSharedKvChecks(cuda: FlexAttentionBackend, dtypes: readonly DType[]): Promise<number> {
  const ref = createReferenceBackend();
  let failures = 0;
  const log: Log = (ok, dtype, pass, name, detail) => {
    if (!ok) failures++;
    console.log(`CONF ${ok ? 'PASS' : 'FAIL'} ${dtype} ${pass.padEnd(8)} ${name} ${detail}`);
  };
  const guarded = async (dtype: DType, name: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      log(false, dtype, 'run', name, `threw ${((e as Error).message ?? String(e)).split('\n').slice(0, 8).join(' | ')}`);
    }
  };
  for (const dtype of dtypes) {
    for (const c of SHARED) await guarded(dtype, c.name, () => sharedKv(cuda, ref, c, dtype, log));
    // f32 has no persistent body; 16-bit: the decoder (Lq 1) and the tensor-core forward (Lq 24)
    for (const [Lq, E] of [[1, 128], [24, 128], [24, 64]] as const) await guarded(dtype, `paged Lq ${Lq} E ${E}`, () => paged(cuda, ref, dtype, Lq, E, log));
  }
  ref.dispose();
  return failures;
}
