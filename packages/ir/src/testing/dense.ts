/**
 * An independent dense float64 definition of attention, forward and backward, to judge backends
 * (the reference included) by. It follows api.md and docs/architecture.md §4 with formulas chosen
 * to differ from a kernel's: each weight is P_j = 1 / Σ_k exp(post_k − post_j) (no lse, no running
 * max), and dS_j = P_j · Σ_k P_k (dP_j − dP_k), which keeps its relative accuracy when P is one-hot
 * (where P_j (dP_j − Σ_k P_k dP_k) cancels to 0 and a reused rounded lse gives garbage).
 *
 * Special values: a key with post −∞ (masked, or −∞ from the score mod) contributes nothing; a row
 * whose post-mod scores include NaN or +∞ is NaN (out, lse and its gradients); a row with no
 * visible key has out 0, lse −∞ and zero gradients. O(Lkv²) per row: for small problems.
 * `kvBatch: 1` in the shape means one K/V serves every query batch (a paged KV cache).
 *
 * Weight underflow (docs/architecture.md §4): where a non-finite v (or dOut) meets a weight below
 * WEIGHT_UNDERFLOW, the result is precision-dependent — ±∞ or NaN from a nonzero weight (float64),
 * NaN (0·∞) or nothing (a skipped key) from one that rounded to 0 (f32 kernels; this definition
 * itself where Σ exp overflows) — so those elements are marked `unspecified` and not compared.
 */
import { FULL, PARTIAL } from '../block-mask';
import { gradScore } from '../derive';
import { evaluate } from '../evaluate';
import type { AttentionShape, FlexAttentionOptions } from '../kernel';
import { traceScoreMod } from '../trace';

export type DenseScore = (s: number, b: number, h: number, q: number, kv: number) => number;

/** A problem's sizes; `kvBatch` 1 shares K/V across the batch (default: K/V have q's batch). */
export type DenseShape = AttentionShape & { kvBatch?: number };
const kvRowOf = (d: DenseShape, b: number, hk: number, j: number) => ((d.kvBatch === 1 ? 0 : b) * d.Hkv + hk) * d.Lkv + j;

/** The mods of a problem as plain functions. */
export interface DenseMods {
  /** Defaults to 1 / sqrt(E). */
  scale?: number;
  score?: DenseScore;
  /** d score' / d score, for the backward (identity when absent). */
  dScore?: DenseScore;
  /** Whether key kv is visible to query q (block classes and the mask mod together); all when absent. */
  visible?: (b: number, h: number, q: number, kv: number) => boolean;
}

/**
 * Weights below this may be 0 in a backend's arithmetic: f32 flushes at 2^-126, and a kernel's
 * unnormalized exp(post − running max) is at least the weight; the 2^6 margin covers the f32
 * rounding of the scores (an error of up to ln 2^6 ≈ 4 in post − max).
 */
export const WEIGHT_UNDERFLOW = 2 ** -120;

/** Plain functions for a call's options: traced mods through the interpreter (`evaluate`), blocks from `toDense()`. */
export function denseModsOf(options: FlexAttentionOptions, d: AttentionShape): DenseMods {
  const mods: DenseMods = { scale: options.scale };
  if (options.scoreMod !== undefined) {
    const sm = traceScoreMod(options.scoreMod);
    const g = gradScore(sm);
    mods.score = (score, b, h, q, kv) => evaluate(sm, { score, b, h, q, kv }) as number;
    mods.dScore = (score, b, h, q, kv) => evaluate(g, { score, b, h, q, kv }) as number;
  }
  const mask = options.blockMask;
  if (mask) {
    const dense = mask.toDense();
    const [bq, bk] = mask.blockSize;
    const qBlocks = Math.ceil(d.Lq / bq);
    const kvBlocks = Math.ceil(d.Lkv / bk);
    mods.visible = (b, h, q, kv) => {
      const plane = (mask.B === 1 ? 0 : b) * mask.H + (mask.H === 1 ? 0 : h);
      const cls = dense[(plane * qBlocks + Math.floor(q / bq)) * kvBlocks + Math.floor(kv / bk)];
      return cls === FULL || (cls === PARTIAL && evaluate(mask.maskMod, { b, h, q, kv }) === true);
    };
  }
  return mods;
}

interface Row {
  /** post-mod scores (−∞ where masked) and the raw scores q·k·scale */
  post: Float64Array;
  raw: Float64Array;
  /** softmax weights; NaN for an undefined row, all 0 for a row with no visible key */
  P: Float64Array;
  lse: number;
}

function rowOf(d: DenseShape, q: ArrayLike<number>, k: ArrayLike<number>, m: DenseMods, b: number, h: number, i: number): Row {
  const scale = m.scale ?? 1 / Math.sqrt(d.E);
  const hk = Math.floor(h / (d.Hq / d.Hkv));
  const post = new Float64Array(d.Lkv);
  const raw = new Float64Array(d.Lkv);
  for (let j = 0; j < d.Lkv; j++) {
    if (m.visible && !m.visible(b, h, i, j)) {
      post[j] = -Infinity;
      continue;
    }
    let s = 0;
    for (let e = 0; e < d.E; e++) s += q[((b * d.Hq + h) * d.Lq + i) * d.E + e]! * k[kvRowOf(d, b, hk, j) * d.E + e]!;
    raw[j] = s * scale;
    post[j] = m.score ? m.score(raw[j]!, b, h, i, j) : raw[j]!;
  }
  const P = new Float64Array(d.Lkv);
  const live = [...post.keys()].filter((j) => post[j] !== -Infinity);
  if (live.some((j) => Number.isNaN(post[j]) || post[j] === Infinity)) return { post, raw, P: P.fill(NaN), lse: NaN };
  if (live.length === 0) return { post, raw, P, lse: -Infinity };
  for (const j of live) P[j] = 1 / live.reduce((acc, kk) => acc + Math.exp(post[kk]! - post[j]!), 0);
  const top = live.reduce((a, j) => (post[j]! > post[a]! ? j : a), live[0]!);
  return { post, raw, P, lse: post[top]! - Math.log(P[top]!) };
}

/** Visible keys of a row whose weight may underflow (NaN weights of an undefined row are not small). */
const tinyKeys = (r: Row): number[] => [...r.post.keys()].filter((j) => r.post[j] !== -Infinity && r.P[j]! < WEIGHT_UNDERFLOW);

const nonFinite = (x: ArrayLike<number>, from: number, n: number): boolean => {
  for (let e = from; e < from + n; e++) if (!Number.isFinite(x[e]!)) return true;
  return false;
};

/**
 * Forward: out [B, Hq, Lq, Ev] and the natural-log lse [B, Hq, Lq], in float64; `unspecified`
 * (out's shape, 1 = not compared) marks out[row, e] where a non-finite v[j, e] has an underflowing weight.
 */
export function denseForward64(d: DenseShape, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, m: DenseMods = {}) {
  const out = new Float64Array(d.B * d.Hq * d.Lq * d.Ev);
  const lse = new Float64Array(d.B * d.Hq * d.Lq);
  const unspecified = new Uint8Array(out.length);
  for (let b = 0; b < d.B; b++)
    for (let h = 0; h < d.Hq; h++) {
      const hk = Math.floor(h / (d.Hq / d.Hkv));
      for (let i = 0; i < d.Lq; i++) {
        const r = rowOf(d, q, k, m, b, h, i);
        const row = (b * d.Hq + h) * d.Lq + i;
        lse[row] = r.lse;
        for (let j = 0; j < d.Lkv; j++) {
          if (r.post[j] === -Infinity) continue;
          for (let e = 0; e < d.Ev; e++) out[row * d.Ev + e]! += r.P[j]! * v[kvRowOf(d, b, hk, j) * d.Ev + e]!;
        }
        for (const j of tinyKeys(r)) {
          for (let e = 0; e < d.Ev; e++) if (!Number.isFinite(v[kvRowOf(d, b, hk, j) * d.Ev + e]!)) unspecified[row * d.Ev + e] = 1;
        }
      }
    }
  return { out, lse, unspecified };
}

/**
 * Backward: dq, dk, dv for the loss Σ out · dOut, in float64. `unspecified` (1 = not compared):
 * for a row where a key with an underflowing weight has a non-finite v or the row a non-finite
 * dOut, that row's dq, dk of every key it sees (through its delta = dOut · out) and dv of those keys.
 */
export function denseBackward64(d: DenseShape, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dOut: ArrayLike<number>, m: DenseMods = {}) {
  const scale = m.scale ?? 1 / Math.sqrt(d.E);
  const dq = new Float64Array(d.B * d.Hq * d.Lq * d.E);
  const kvRows = (d.kvBatch ?? d.B) * d.Hkv * d.Lkv;
  const dk = new Float64Array(kvRows * d.E);
  const dv = new Float64Array(kvRows * d.Ev);
  const unspecified = { dq: new Uint8Array(dq.length), dk: new Uint8Array(dk.length), dv: new Uint8Array(dv.length) };
  for (let b = 0; b < d.B; b++)
    for (let h = 0; h < d.Hq; h++) {
      const hk = Math.floor(h / (d.Hq / d.Hkv));
      for (let i = 0; i < d.Lq; i++) {
        const r = rowOf(d, q, k, m, b, h, i);
        if (r.lse === -Infinity) continue;
        const row = (b * d.Hq + h) * d.Lq + i;
        const live = [...r.post.keys()].filter((j) => r.post[j] !== -Infinity);
        const tiny = tinyKeys(r);
        if (tiny.length && (nonFinite(dOut, row * d.Ev, d.Ev) || tiny.some((j) => nonFinite(v, kvRowOf(d, b, hk, j) * d.Ev, d.Ev)))) {
          unspecified.dq.fill(1, row * d.E, (row + 1) * d.E);
          for (const j of live) unspecified.dk.fill(1, kvRowOf(d, b, hk, j) * d.E, (kvRowOf(d, b, hk, j) + 1) * d.E);
          for (const j of tiny) unspecified.dv.fill(1, kvRowOf(d, b, hk, j) * d.Ev, (kvRowOf(d, b, hk, j) + 1) * d.Ev);
        }
        const dP = new Float64Array(d.Lkv);
        for (const j of live) for (let e = 0; e < d.Ev; e++) dP[j]! += dOut[row * d.Ev + e]! * v[kvRowOf(d, b, hk, j) * d.Ev + e]!;
        for (const j of live) {
          const dPost = r.P[j]! * live.reduce((acc, kk) => acc + r.P[kk]! * (dP[j]! - dP[kk]!), 0);
          const ds = dPost * (m.dScore ? m.dScore(r.raw[j]!, b, h, i, j) : 1);
          const kRow = kvRowOf(d, b, hk, j);
          for (let e = 0; e < d.E; e++) {
            dq[row * d.E + e]! += ds * k[kRow * d.E + e]! * scale;
            dk[kRow * d.E + e]! += ds * q[row * d.E + e]! * scale;
          }
          for (let e = 0; e < d.Ev; e++) dv[kRow * d.Ev + e]! += r.P[j]! * dOut[row * d.Ev + e]!;
        }
      }
    }
  return { dq, dk, dv, unspecified };
}
