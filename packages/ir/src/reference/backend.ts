/**
 * The float64 reference backend: the oracle every other backend is checked against. Naive loops,
 * O(Lq·Lkv) memory per head, written to follow api.md's semantics line by line rather than to be fast,
 * with the special values of docs/architecture.md §4: an input NaN propagates (it is not a mask), a
 * NaN or +∞ post-mod score makes its row NaN, a masked key contributes nothing whatever its values.
 * The backward recomputes each row's lse in float64 instead of reading the f32 lse it is given: at
 * large scores the f32 rounding alone moved dq by 0.54 where the truth is 2e-43.
 */
import { classesFromTables, FULL, PARTIAL } from '../block-tables';
import { BackendDisposedError } from '../errors';
import { captureGradTerms, gradScore } from '../derive';
import { compileNodeToJs, compileToJs } from '../evaluate';
import type { AttentionProblem, FlexAttentionBackend, FlexAttentionBackwardOptions, FlexAttentionOptions, FlexAttentionResult } from '../kernel';
import { checkBackwardInputs, resolveAttention } from '../kernel';
import type { KvStorage } from '../kv-storage';
import { allocateHostKv, writeHostKvRows } from '../kv-storage';
import type { CapturedTensor } from '../params';
import type { Tensor } from '../tensor';
import { fromFloats, toFloat64 } from '../tensor';

type Fn = (...args: number[]) => number | boolean;

/** The K/V batch a query batch reads: its own, or the one K/V shared by every batch. */
const kvBatchOf = (p: AttentionProblem, b: number): number => (p.kvBatch === 1 ? 0 : b);
/** The reference indexes K/V by kvBatchOf, so it runs K/V shared across the batch (paged caches). */
const SUPPORT = { kvBatchBroadcast: true, tensors: 'host' } as const;

/** Per (b, h): post-mod scores of row i into `post` (−inf where masked). */
function makeRowScorer(p: AttentionProblem, q: Float64Array, k: Float64Array) {
  const scoreFn = p.scoreMod ? (compileToJs(p.scoreMod) as (...a: number[]) => number) : undefined;
  const mask = p.blockMask;
  const maskFn = mask ? (compileToJs(mask.maskMod) as Fn) : undefined;
  const dense = mask ? classesFromTables(mask) : undefined;
  return (b: number, h: number, i: number, post: Float64Array, raw: Float64Array) => {
    const hk = Math.floor(h / p.groupSize);
    const qOff = ((b * p.Hq + h) * p.Lq + i) * p.E;
    for (let j = 0; j < p.Lkv; j++) {
      let cls = FULL;
      if (mask && dense) {
        const mb = mask.B === 1 ? 0 : b;
        const mh = mask.H === 1 ? 0 : h;
        const qb = Math.floor(i / mask.blockSize[0]);
        const kb = Math.floor(j / mask.blockSize[1]);
        cls = dense[((mb * mask.H + mh) * mask.qBlocks + qb) * mask.kvBlocks + kb]!;
      }
      if (cls !== FULL && !(cls === PARTIAL && maskFn!(b, h, i, j))) {
        post[j] = -Infinity;
        raw[j] = NaN;
        continue;
      }
      const kOff = ((kvBatchOf(p, b) * p.Hkv + hk) * p.Lkv + j) * p.E;
      let dot = 0;
      for (let e = 0; e < p.E; e++) dot += q[qOff + e]! * k[kOff + e]!;
      const score = dot * p.scale;
      raw[j] = score;
      post[j] = scoreFn ? scoreFn(score, b, h, i, j) : score;
    }
  };
}

/** The reference implements every optional feature: it is what the others are checked against. */
const REFERENCE = { name: 'reference', features: ['dLse', 'maxScores'] } as const;

/**
 * A row's natural-log lse in float64: −∞ when no key is visible (every post −∞), NaN when a post-mod
 * score is NaN or +∞ (softmax is then ∞/∞ or NaN: the row is undefined, not masked).
 */
function rowLse(post: Float64Array): number {
  let m = -Infinity;
  for (let j = 0; j < post.length; j++) {
    const x = post[j]!;
    if (x !== x || x === Infinity) return NaN;
    if (x > m) m = x;
  }
  if (m === -Infinity) return -Infinity;
  let sum = 0;
  for (let j = 0; j < post.length; j++) sum += Math.exp(post[j]! - m);
  return m + Math.log(sum);
}

/** A row's max post-mod score (returnAux.maxScores): −∞ when no key is visible, NaN with a NaN score. */
function rowMax(post: Float64Array): number {
  let m = -Infinity;
  for (let j = 0; j < post.length; j++) {
    const x = post[j]!;
    if (x !== x) return NaN;
    if (x > m) m = x;
  }
  return m;
}

function forward(q: Tensor, k: Tensor, v: Tensor, options: FlexAttentionOptions) {
  const p = resolveAttention(q, k, v, options, { pass: 'forward', backend: REFERENCE, support: SUPPORT });
  const [qf, kf, vf] = [toFloat64(q), toFloat64(k), toFloat64(v)];
  const out = new Float64Array(p.B * p.Hq * p.Lq * p.Ev);
  const lse = new Float64Array(p.B * p.Hq * p.Lq);
  const maxScores = new Float64Array(p.B * p.Hq * p.Lq);
  const score = makeRowScorer(p, qf, kf);
  const post = new Float64Array(p.Lkv);
  const raw = new Float64Array(p.Lkv);
  for (let b = 0; b < p.B; b++)
    for (let h = 0; h < p.Hq; h++) {
      const hk = Math.floor(h / p.groupSize);
      for (let i = 0; i < p.Lq; i++) {
        score(b, h, i, post, raw);
        const row = (b * p.Hq + h) * p.Lq + i;
        maxScores[row] = rowMax(post);
        lse[row] = rowLse(post);
        if (lse[row] === -Infinity) continue; // no visible key: out stays 0
        for (let j = 0; j < p.Lkv; j++) {
          if (post[j] === -Infinity) continue; // masked: its v is never read (a NaN there stays out)
          const w = Math.exp(post[j]! - lse[row]!);
          const vOff = ((kvBatchOf(p, b) * p.Hkv + hk) * p.Lkv + j) * p.Ev;
          for (let e = 0; e < p.Ev; e++) out[row * p.Ev + e]! += w * vf[vOff + e]!;
        }
      }
    }
  return { p, out, lse, maxScores };
}

function backward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lseT: Tensor, dOut: Tensor, options: FlexAttentionBackwardOptions) {
  const p = resolveAttention(q, k, v, options, { pass: 'backward', backend: REFERENCE, support: SUPPORT });
  checkBackwardInputs(p, out, lseT, dOut, options.dLse);
  const [qf, kf, vf, dof] = [toFloat64(q), toFloat64(k), toFloat64(v), toFloat64(dOut)];
  const dLse = options.dLse ? toFloat64(options.dLse) : undefined;
  const dq = new Float64Array(qf.length);
  const dk = new Float64Array(kf.length);
  const dv = new Float64Array(vf.length);
  const score = makeRowScorer(p, qf, kf);
  const argNames = ['score', 'b', 'h', 'q', 'kv'] as const;
  const dScore = p.scoreMod ? (compileToJs(gradScore(p.scoreMod)) as (...a: number[]) => number) : undefined;
  const terms = p.scoreMod
    ? captureGradTerms(p.scoreMod).map((t) => ({
        tensor: t.tensor,
        partial: compileNodeToJs(t.partial, p.scoreMod!.captures, argNames) as (...a: number[]) => number,
        indices: t.indices.map((n) => compileNodeToJs(n, p.scoreMod!.captures, argNames) as (...a: number[]) => number),
      }))
    : [];
  const captureGrads = new Map<CapturedTensor, Float64Array>();
  // Every learnable tensor the mod reads gets a gradient, zero where nothing reached it.
  for (const { tensor } of p.scoreMod?.gradTensors ?? []) captureGrads.set(tensor, new Float64Array(tensor.data.length));
  const post = new Float64Array(p.Lkv);
  const raw = new Float64Array(p.Lkv);
  const P = new Float64Array(p.Lkv);
  const dP = new Float64Array(p.Lkv);
  for (let b = 0; b < p.B; b++)
    for (let h = 0; h < p.Hq; h++) {
      const hk = Math.floor(h / p.groupSize);
      for (let i = 0; i < p.Lq; i++) {
        const row = (b * p.Hq + h) * p.Lq + i;
        score(b, h, i, post, raw);
        const lse = rowLse(post); // float64, not the f32 lse the caller holds
        if (lse === -Infinity) continue; // a fully masked row has zero gradients
        // d lse / d post_j = P_j, so a gradient through lse adds dLse·P_j to dPost_j: it enters as
        // a shift of delta (dPost_j = P_j · (dP_j − (delta − dLse)))
        let delta = dLse ? -dLse[row]! : 0;
        for (let j = 0; j < p.Lkv; j++) {
          if (post[j] === -Infinity) {
            P[j] = 0;
            dP[j] = 0; // masked: its v (even NaN) takes no part
            continue;
          }
          P[j] = Math.exp(post[j]! - lse);
          const vOff = ((kvBatchOf(p, b) * p.Hkv + hk) * p.Lkv + j) * p.Ev;
          let s = 0;
          for (let e = 0; e < p.Ev; e++) s += dof[row * p.Ev + e]! * vf[vOff + e]!;
          dP[j] = s;
          delta += P[j]! * s;
        }
        for (let j = 0; j < p.Lkv; j++) {
          if (post[j] === -Infinity) continue;
          const dPost = P[j]! * (dP[j]! - delta);
          const ds = dScore ? dPost * dScore(raw[j]!, b, h, i, j) : dPost;
          // With K/V shared by the batch (kvBatch 1), dk/dv sum every query batch's contribution.
          const kOff = ((kvBatchOf(p, b) * p.Hkv + hk) * p.Lkv + j) * p.E;
          const vOff = ((kvBatchOf(p, b) * p.Hkv + hk) * p.Lkv + j) * p.Ev;
          for (let e = 0; e < p.E; e++) {
            dq[row * p.E + e]! += ds * kf[kOff + e]! * p.scale;
            dk[kOff + e]! += ds * qf[row * p.E + e]! * p.scale;
          }
          for (let e = 0; e < p.Ev; e++) dv[vOff + e]! += P[j]! * dof[row * p.Ev + e]!;
          for (const t of terms) {
            const idx = t.indices.map((f) => f(raw[j]!, b, h, i, j));
            captureGrads.get(t.tensor)![t.tensor.flatIndex(idx)]! += dPost * t.partial(raw[j]!, b, h, i, j);
          }
        }
      }
    }
  return { p, dq, dk, dv, captureGrads };
}

/** The float64 reference backend (O(L²) time, O(L) extra memory per row). */
export function createReferenceBackend(): FlexAttentionBackend & KvStorage & {
  /** Forward results in float64, before rounding to the input dtype (for tests and the bench). */
  forward64(q: Tensor, k: Tensor, v: Tensor, options?: FlexAttentionOptions): { out: Float64Array; lse: Float64Array; maxScores: Float64Array };
} {
  let disposed = false;
  const live = () => {
    if (disposed) throw new BackendDisposedError('reference', 'createReferenceBackend()');
  };
  return {
    ...REFERENCE,
    forward64(q, k, v, options = {}) {
      live();
      const { out, lse, maxScores } = forward(q, k, v, options);
      return { out, lse, maxScores };
    },
    async flexAttention(q, k, v, options = {}) {
      live();
      const { p, out, lse, maxScores } = forward(q, k, v, options);
      const result: FlexAttentionResult = { out: fromFloats(out, [p.B, p.Hq, p.Lq, p.Ev], p.dtype) };
      if (p.returnLse) result.lse = fromFloats(lse, [p.B, p.Hq, p.Lq], 'f32');
      if (p.returnMaxScores) result.maxScores = fromFloats(maxScores, [p.B, p.Hq, p.Lq], 'f32');
      return result;
    },
    async flexAttentionBackward(q, k, v, out, lse, dOut, options = {}) {
      live();
      const { p, dq, dk, dv, captureGrads } = backward(q, k, v, out, lse, dOut, options);
      const grads = new Map<CapturedTensor, Float32Array>();
      for (const [t, g] of captureGrads) grads.set(t, Float32Array.from(g));
      return {
        dq: fromFloats(dq, [p.B, p.Hq, p.Lq, p.E], p.dtype),
        dk: fromFloats(dk, [p.kvBatch, p.Hkv, p.Lkv, p.E], p.dtype),
        dv: fromFloats(dv, [p.kvBatch, p.Hkv, p.Lkv, p.Ev], p.dtype),
        captureGrads: grads,
      };
    },
    // Paged KV caches (@flexattn/kv-cache) keep their pages in host tensors here.
    allocateKv: allocateHostKv,
    async writeKvRows(dst, rows, src) {
      live();
      writeHostKvRows(dst, rows, src);
    },
    dispose() {
      disposed = true;
    },
  };
}
