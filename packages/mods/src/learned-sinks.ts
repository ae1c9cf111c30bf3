/**
 * Learned attention sinks (GPT-OSS): one logit σ_h per query head joins every row's softmax as an
 * extra column whose value vector is zero. The sink takes probability mass without adding to the
 * output, so a head can attend to "nothing".
 *
 * It is built on two things every backend call gives: lse and the gradient through lse. With the
 * plain attention's (out, lse) of a row,
 *   lse' = logaddexp(lse, σ),   w = exp(lse − lse') = sigmoid(lse − σ),   out' = w · out
 * and backward, with g = Σ dOut'·out (the gradient of w):
 *   dOut = w · dOut',   dLse = g·w(1−w) + dLse'·w,   dσ_h = Σ_rows (dLse'·(1−w) − g·w(1−w)).
 * The backend's flexAttentionBackward(…, { dLse }) turns (dOut, dLse) into dq/dk/dv and capture
 * gradients, so the sink needs no kernel of its own. A row with no visible key (lse = −inf) puts
 * all its mass in the sink: out' = 0, lse' = σ, no gradient to q/k/v.
 */
import {
  type FlexAttentionBackend,
  type FlexAttentionBackwardOptions,
  type FlexAttentionGrads,
  type FlexAttentionOptions,
  fromFloats,
  ShapeError,
  type Tensor,
  toFloat64,
} from '@flexattn/ir';
import { floatArray, type FloatList } from './validate';

/** What the sink forward returns: the results with the sink, and the plain ones backward needs. */
export interface SinkAttentionResult {
  /** [B, Hq, Lq, Ev] in q's dtype: softmax over the keys and the sink, times v. */
  out: Tensor;
  /** [B, Hq, Lq] f32: logaddexp(lse, σ_h). */
  lse: Tensor;
  /** The attention without the sink (kept for backward). */
  inner: { out: Tensor; lse: Tensor };
}

export interface LearnedSinks {
  /** σ_h, one per query head; gradients come back from backward as `sinkGrad`. Edit in place to train. */
  readonly logits: Float32Array;
  forward(backend: FlexAttentionBackend, q: Tensor, k: Tensor, v: Tensor, options?: FlexAttentionOptions): Promise<SinkAttentionResult>;
  /** `options.dLse` is the gradient w.r.t. the returned lse' (optional). */
  backward(
    backend: FlexAttentionBackend,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    forward: SinkAttentionResult,
    dOut: Tensor,
    options?: FlexAttentionBackwardOptions,
  ): Promise<FlexAttentionGrads & { sinkGrad: Float32Array }>;
}

function rowsOf(lse: Tensor, heads: number): { rows: number; perHead: number } {
  const [B, Hq, Lq] = lse.shape as [number, number, number];
  if (Hq !== heads) throw new ShapeError(`learnedSinks: ${heads} sink logits but q has ${Hq} heads; pass one logit per query head`);
  return { rows: B * Hq * Lq, perHead: Lq };
}

/**
 * Per-head learned sink logits (`[Hq]`, finite), as in GPT-OSS. Works on any backend whose
 * flexAttentionBackward takes `dLse` (the reference today; others reject it with an
 * UnsupportedError until they implement it).
 *
 * ```ts
 * const sinks = learnedSinks(new Float32Array(Hq));
 * const fwd = await sinks.forward(backend, q, k, v, { blockMask });
 * const { dq, dk, dv, sinkGrad } = await sinks.backward(backend, q, k, v, fwd, dOut, { blockMask });
 * ```
 */
export function learnedSinks(sinkLogits: FloatList): LearnedSinks {
  const logits = floatArray('learnedSinks', 'sinkLogits', sinkLogits);
  const H = logits.length;
  const weight = (lse: number, sigma: number) => (lse === -Infinity ? 0 : 1 / (1 + Math.exp(sigma - lse)));
  return {
    logits,
    async forward(backend, q, k, v, options = {}) {
      const inner = await backend.flexAttention(q, k, v, { ...options, returnLse: true });
      const lseIn = toFloat64(inner.lse!);
      const outIn = toFloat64(inner.out);
      const { rows, perHead } = rowsOf(inner.lse!, H);
      const Ev = outIn.length / rows;
      const lse = new Float64Array(rows);
      const out = new Float64Array(outIn.length);
      for (let r = 0; r < rows; r++) {
        const sigma = logits[Math.floor(r / perHead) % H]!;
        const l = lseIn[r]!;
        const m = Math.max(l, sigma);
        lse[r] = l === -Infinity ? sigma : m + Math.log(Math.exp(l - m) + Math.exp(sigma - m));
        const w = weight(l, sigma);
        for (let e = 0; e < Ev; e++) out[r * Ev + e] = w * outIn[r * Ev + e]!;
      }
      return { out: fromFloats(out, inner.out.shape, inner.out.dtype), lse: fromFloats(lse, inner.lse!.shape, 'f32'), inner: { out: inner.out, lse: inner.lse! } };
    },
    async backward(backend, q, k, v, fwd, dOut, options = {}) {
      const { dLse: dLseOuter, ...rest } = options;
      const lseIn = toFloat64(fwd.inner.lse);
      const outIn = toFloat64(fwd.inner.out);
      const dOutOuter = toFloat64(dOut);
      const dLseOut = dLseOuter ? toFloat64(dLseOuter) : undefined;
      const { rows, perHead } = rowsOf(fwd.inner.lse, H);
      if (dOutOuter.length !== outIn.length) throw new ShapeError(`learnedSinks: dOut has ${dOutOuter.length} elements, out has ${outIn.length}`);
      if (dLseOut && dLseOut.length !== rows) throw new ShapeError(`learnedSinks: dLse has ${dLseOut.length} elements, lse has ${rows}`);
      const Ev = outIn.length / rows;
      const dOutIn = new Float64Array(outIn.length);
      const dLseIn = new Float64Array(rows);
      const sinkGrad = new Float64Array(H);
      for (let r = 0; r < rows; r++) {
        const h = Math.floor(r / perHead) % H;
        const w = weight(lseIn[r]!, logits[h]!);
        let g = 0;
        for (let e = 0; e < Ev; e++) {
          g += dOutOuter[r * Ev + e]! * outIn[r * Ev + e]!;
          dOutIn[r * Ev + e] = w * dOutOuter[r * Ev + e]!;
        }
        const dl = dLseOut?.[r] ?? 0;
        dLseIn[r] = g * w * (1 - w) + dl * w;
        sinkGrad[h]! += dl * (1 - w) - g * w * (1 - w);
      }
      const grads = await backend.flexAttentionBackward(q, k, v, fwd.inner.out, fwd.inner.lse, fromFloats(dOutIn, dOut.shape, dOut.dtype), {
        ...rest,
        dLse: fromFloats(dLseIn, fwd.inner.lse.shape, 'f32'),
      });
      return { ...grads, sinkGrad: Float32Array.from(sinkGrad) };
    },
  };
}
