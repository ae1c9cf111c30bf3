/**
 * The one kernel interface every backend implements, and the validation of its inputs. Backends call
 * `resolveAttention` first (tensors through validate.ts, the block mask through validate-mask.ts),
 * so every backend rejects the same bad input with the same typed error.
 */
import type { BlockMask } from './block-mask';
import { OptionError, ShapeError, UnsupportedError } from './errors';
import { type AttentionPass, type BackendFeature, checkFeatures, checkOptionValues } from './options';
import type { CapturedTensor } from './params';
import type { Tensor } from './tensor';
import { type ScoreMod, type TracedMod, traceScoreMod } from './trace';
import { checkReciprocalScalars } from './render/reciprocal';
import { checkTensor, checkTensorShape, type TensorLike, type TensorPolicy } from './validate';
import { checkBlockMask } from './validate-mask';

export interface FlexAttentionOptions {
  scoreMod?: ScoreMod | TracedMod;
  blockMask?: BlockMask;
  /** Defaults to 1/sqrt(E). */
  scale?: number;
  /** Allow Hq ≠ Hkv: query head h reads kv head floor(h / (Hq / Hkv)). */
  enableGqa?: boolean;
  /** Also return lse (natural log, [B, Hq, Lq], f32); the same as `returnAux: { lse: true }`. */
  returnLse?: boolean;
  /**
   * Auxiliary outputs: `lse`, and `maxScores` — the row max of the post-mod scores ([B, Hq, Lq],
   * f32, natural units, −inf for a row with no visible key). Backends that do not compute
   * maxScores reject it (UnsupportedError) rather than return without it.
   */
  returnAux?: { lse?: boolean; maxScores?: boolean };
}

/** flexAttentionBackward's options: the forward's, plus the gradient w.r.t. the returned lse. */
export interface FlexAttentionBackwardOptions<T = Tensor> extends FlexAttentionOptions {
  /** dLoss/dlse, [B, Hq, Lq] f32; absent means zero (a loss that does not use lse). */
  dLse?: T;
}

export interface FlexAttentionResult<T = Tensor> {
  out: T;
  lse?: T;
  maxScores?: T;
}

export interface FlexAttentionGrads<T = Tensor> {
  dq: T;
  dk: T;
  dv: T;
  /** Gradients of learnable captured tensors read by the score mod (same layout as their data). */
  captureGrads: Map<CapturedTensor, Float32Array>;
}

export interface FlexAttentionBackend<T = Tensor> {
  readonly name: string;
  /**
   * Optional capabilities (`dLse`, `maxScores`) this backend implements; options that need one it
   * does not declare are rejected with an UnsupportedError. The conformance suite runs their cases
   * on backends that declare them and checks the rejection on the others.
   */
  readonly features?: readonly BackendFeature[];
  flexAttention(q: T, k: T, v: T, options?: FlexAttentionOptions): Promise<FlexAttentionResult<T>>;
  /** `lse` is the forward's natural-log lse ([B, Hq, Lq], f32). */
  flexAttentionBackward(q: T, k: T, v: T, out: T, lse: T, dOut: T, options?: FlexAttentionBackwardOptions<T>): Promise<FlexAttentionGrads<T>>;
  dispose(): void;
  /**
   * Optional, for the benchmark: times passes with the inputs resident on the device (uploaded once),
   * with the backend's best timer (GPU timestamps, CUDA events), after `warmup` untimed runs.
   */
  measure?(q: T, k: T, v: T, options: FlexAttentionOptions, spec: MeasureSpec): Promise<MeasureResult>;
}

export interface MeasureSpec {
  pass: 'fwd' | 'bwd' | 'both';
  warmup: number;
  iterations: number;
  /** For backward passes: the upstream gradient. */
  dOut?: Tensor;
}
export interface MeasureResult {
  /** Milliseconds per iteration, one entry per timed iteration. */
  ms: number[];
  timer: 'gpu-timestamps' | 'cuda-events' | 'wall';
}

/** The sizes of an attention problem: q [B, Hq, Lq, E], k [B, Hkv, Lkv, E], v [B, Hkv, Lkv, Ev]. */
export interface AttentionShape {
  B: number;
  Hq: number;
  Hkv: number;
  Lq: number;
  Lkv: number;
  E: number;
  Ev: number;
}

/** The dimensions of one attention call, resolved and checked. */
export interface AttentionProblem extends AttentionShape {
  /** K/V's batch: B, or 1 when one K/V (a paged KV cache's pages) serves every query batch. */
  kvBatch: number;
  /** Query heads per kv head. */
  groupSize: number;
  scale: number;
  scoreMod: TracedMod | undefined;
  blockMask: BlockMask | undefined;
  dtype: Tensor['dtype'];
  /** The tensor policy q/k/v were checked with; backward inputs are checked with it too. */
  tensors?: TensorPolicy;
  /** returnLse or returnAux.lse */
  returnLse: boolean;
  /** returnAux.maxScores */
  returnMaxScores: boolean;
}

/** What a backend can run beyond the common case; a call needing more fails in resolveAttention. */
export interface AttentionSupport {
  /**
   * K/V with batch 1 while q has batch B > 1: every query batch reads the same K/V (a paged KV
   * cache's `k`/`v` are [1, Hkv, pages·pageSize, D]). Backends that index K/V by the query's batch
   * leave this off, and such a call gets an UnsupportedError before any work.
   */
  kvBatchBroadcast?: boolean;
  /** Which tensors the backend takes: 'host', or its DeviceTensors (validate.ts). */
  tensors?: TensorPolicy;
}

/** Who resolves a call: the pass (which options are allowed) and the backend (which features it has). */
export interface ResolveContext {
  maxHeadDim?: number;
  pass?: AttentionPass;
  /** Options needing a feature this backend does not declare are rejected (UnsupportedError). */
  backend?: { name: string; features?: readonly BackendFeature[] };
  /** What the backend runs beyond the common case (K/V batch broadcast, device tensors). */
  support?: AttentionSupport;
}

/**
 * Validates q/k/v and options; returns the resolved problem. `context` is the backend's head-dim
 * limit (a number, the older form, with `support` after it) or a ResolveContext. Without a backend
 * in the context, options that need an optional feature (dLse, maxScores) are rejected: nothing is
 * silently ignored.
 */
export function resolveAttention(
  q: TensorLike,
  k: TensorLike,
  v: TensorLike,
  options: FlexAttentionBackwardOptions<unknown> = {},
  context: number | ResolveContext = Infinity,
  supportArg: AttentionSupport = {},
): AttentionProblem {
  const ctx: ResolveContext = typeof context === 'number' ? { maxHeadDim: context } : context;
  const maxHeadDim = ctx.maxHeadDim ?? Infinity;
  const support = ctx.support ?? supportArg;
  checkOptionValues(options, ctx.pass ?? 'forward');
  checkFeatures(ctx.backend, options);
  const { tensors } = support;
  const [B, Hq, Lq, E] = checkTensor('q', q, '[B, Hq, Lq, E]', tensors).shape as [number, number, number, number];
  const [Bk, Hkv, Lkv, Ek] = checkTensor('k', k, '[B, Hkv, Lkv, E]', tensors).shape as [number, number, number, number];
  const [Bv, Hv, Lv, Ev] = checkTensor('v', v, '[B, Hkv, Lkv, Ev]', tensors).shape as [number, number, number, number];
  if (q.dtype !== k.dtype || q.dtype !== v.dtype) throw new OptionError(`q, k and v must share a dtype; got ${q.dtype}, ${k.dtype}, ${v.dtype}`);
  if (Bk !== Bv || (Bk !== B && Bk !== 1)) throw new ShapeError(`batch sizes differ: q has ${B}, k ${Bk}, v ${Bv}; k and v need q's batch, or batch 1 to share one K/V across the batch`);
  if (Bk !== B && !support.kvBatchBroadcast) {
    throw new UnsupportedError(`k/v have batch 1 but q has batch ${B}: this backend cannot share one K/V across the batch yet (a paged KV cache needs it); repeat k/v to batch ${B}, or use a backend that supports it (the reference does)`);
  }
  if (Ek !== E) throw new ShapeError(`head dims differ: q has E=${E} but k has ${Ek}; q and k must share E (v's Ev may differ)`);
  if (Hv !== Hkv || Lv !== Lkv) throw new ShapeError(`k is [${k.shape.join(', ')}] but v is [${v.shape.join(', ')}]; they must agree on heads and length`);
  if (Hq !== Hkv) {
    if (!options.enableGqa) throw new ShapeError(`q has ${Hq} heads but k/v have ${Hkv}; pass enableGqa: true for grouped-query attention`);
    if (Hq % Hkv !== 0) throw new ShapeError(`grouped-query attention needs Hq divisible by Hkv; got Hq=${Hq}, Hkv=${Hkv}`);
  }
  if (E > maxHeadDim || Ev > maxHeadDim) throw new ShapeError(`head dims E=${E}, Ev=${Ev} exceed this backend's limit of ${maxHeadDim}`);
  // any finite number, 0 and negative included (PyTorch's rule); checkOptionValues checked the type
  const scale = options.scale ?? 1 / Math.sqrt(E);
  const mask = checkBlockMask(options.blockMask, Lq, Lkv, B, Hq);
  const scoreMod = options.scoreMod === undefined ? undefined : traceScoreMod(options.scoreMod);
  if (scoreMod) checkReciprocalScalars(scoreMod);
  const returnLse = options.returnLse === true || options.returnAux?.lse === true;
  const returnMaxScores = options.returnAux?.maxScores === true;
  return { B, Hq, Hkv, Lq, Lkv, E, Ev, kvBatch: Bk, groupSize: Hq / Hkv, scale, scoreMod, blockMask: mask, dtype: q.dtype as Tensor['dtype'], tensors, returnLse, returnMaxScores };
}

/**
 * Checks the backward pass's out/dOut ([B, Hq, Lq, Ev], q's dtype), lse and dLse ([B, Hq, Lq], f32)
 * against the resolved problem, with the same tensor policy as its q/k/v.
 */
export function checkBackwardInputs(p: AttentionProblem, out: TensorLike, lse: TensorLike, dOut: TensorLike, dLse?: TensorLike): void {
  const rows = [p.B, p.Hq, p.Lq];
  checkTensorShape('out', out, [...rows, p.Ev], p.dtype, " (the forward's out)", p.tensors);
  checkTensorShape('dOut', dOut, [...rows, p.Ev], p.dtype, ' (the gradient of out)', p.tensors);
  checkTensorShape('lse', lse, rows, 'f32', ' (run the forward with returnLse: true)', p.tensors);
  if (dLse !== undefined) checkTensorShape('dLse', dLse, rows, 'f32', ' (the gradient of the returned lse)', p.tensors);
}
