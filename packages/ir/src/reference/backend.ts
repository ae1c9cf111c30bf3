/**
 * The float64 reference backend: the oracle every other backend is checked against. Naive loops,
 * O(Lq·Lkv) memory per head, written to follow api.md's semantics line by line rather than to be fast.
 */
import { FULL, PARTIAL } from '../block-mask';
import { captureGradTerms, gradScore } from '../derive';
import { compileNodeToJs, compileToJs } from '../evaluate';
import type { AttentionProblem, FlexAttentionBackend, FlexAttentionOptions } from '../kernel';
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
const SUPPORT = { kvBatchBroadcast: true };

/** Per (b, h): post-mod scores of row i into `post` (−inf where masked). */
function makeRowScorer(p: AttentionProblem, q: Float64Array, k: Float64Array) {
  const scoreFn = p.scoreMod ? (compileToJs(p.scoreMod) as (...a: number[]) => number) : undefined;
  const mask = p.blockMask;
  const maskFn = mask ? (compileToJs(mask.maskMod) as Fn) : undefined;
  const dense = mask?.toDense();
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

function forward(q: Tensor, k: Tensor, v: Tensor, options: FlexAttentionOptions) {
  const p = resolveAttention(q, k, v, options, Infinity, SUPPORT);
  const [qf, kf, vf] = [toFloat64(q), toFloat64(k), toFloat64(v)];
  const out = new Float64Array(p.B * p.Hq * p.Lq * p.Ev);
  const lse = new Float64Array(p.B * p.Hq * p.Lq);
  const score = makeRowScorer(p, qf, kf);
  const post = new Float64Array(p.Lkv);
  const raw = new Float64Array(p.Lkv);
  for (let b = 0; b < p.B; b++)
    for (let h = 0; h < p.Hq; h++) {
      const hk = Math.floor(h / p.groupSize);
      for (let i = 0; i < p.Lq; i++) {
        score(b, h, i, post, raw);
        let m = -Infinity;
        for (let j = 0; j < p.Lkv; j++) if (post[j]! > m) m = post[j]!;
        const row = (b * p.Hq + h) * p.Lq + i;
        if (m === -Infinity) {
          lse[row] = -Infinity; // no visible key: out stays 0
          continue;
        }
        let sum = 0;
        for (let j = 0; j < p.Lkv; j++) sum += Math.exp(post[j]! - m);
        lse[row] = m + Math.log(sum);
        for (let j = 0; j < p.Lkv; j++) {
          const w = Math.exp(post[j]! - m) / sum;
          if (w === 0) continue;
          const vOff = ((kvBatchOf(p, b) * p.Hkv + hk) * p.Lkv + j) * p.Ev;
          for (let e = 0; e < p.Ev; e++) out[row * p.Ev + e]! += w * vf[vOff + e]!;
        }
      }
    }
  return { p, out, lse };
}

function backward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lseT: Tensor, dOut: Tensor, options: FlexAttentionOptions) {
  const p = resolveAttention(q, k, v, options, Infinity, SUPPORT);
  checkBackwardInputs(p, out, lseT, dOut);
  const [qf, kf, vf, dof, lse] = [toFloat64(q), toFloat64(k), toFloat64(v), toFloat64(dOut), toFloat64(lseT)];
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
        if (lse[row] === -Infinity) continue; // a fully masked row has zero gradients
        score(b, h, i, post, raw);
        let delta = 0;
        for (let j = 0; j < p.Lkv; j++) {
          P[j] = post[j] === -Infinity ? 0 : Math.exp(post[j]! - lse[row]!);
          const vOff = ((kvBatchOf(p, b) * p.Hkv + hk) * p.Lkv + j) * p.Ev;
          let s = 0;
          for (let e = 0; e < p.Ev; e++) s += dof[row * p.Ev + e]! * vf[vOff + e]!;
          dP[j] = s;
          delta += P[j]! * s;
        }
        for (let j = 0; j < p.Lkv; j++) {
          if (P[j] === 0) continue;
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
  forward64(q: Tensor, k: Tensor, v: Tensor, options?: FlexAttentionOptions): { out: Float64Array; lse: Float64Array };
} {
  return {
    name: 'reference',
    forward64(q, k, v, options = {}) {
      const { out, lse } = forward(q, k, v, options);
      return { out, lse };
    },
    async flexAttention(q, k, v, options = {}) {
      const { p, out, lse } = forward(q, k, v, options);
      const result: { out: Tensor; lse?: Tensor } = { out: fromFloats(out, [p.B, p.Hq, p.Lq, p.Ev], p.dtype) };
      if (options.returnLse) result.lse = fromFloats(lse, [p.B, p.Hq, p.Lq], 'f32');
      return result;
    },
    async flexAttentionBackward(q, k, v, out, lse, dOut, options = {}) {
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
      writeHostKvRows(dst, rows, src);
    },
    dispose() {},
  };
}
