/**
 * The one kernel interface every backend implements, and the validation of its inputs. Backends call
 * `resolveAttention` first, so every backend rejects the same bad input with the same typed error.
 */
import type { BlockMask } from './block-mask';
import { OptionError, ShapeError, UnsupportedError } from './errors';
import type { CapturedTensor } from './params';
import type { Tensor } from './tensor';
import { numel } from './tensor';
import { type ScoreMod, type TracedMod, traceScoreMod } from './trace';

export interface FlexAttentionOptions {
  scoreMod?: ScoreMod | TracedMod;
  blockMask?: BlockMask;
  /** Defaults to 1/sqrt(E). */
  scale?: number;
  /** Allow Hq ≠ Hkv: query head h reads kv head floor(h / (Hq / Hkv)). */
  enableGqa?: boolean;
  returnLse?: boolean;
}

export interface FlexAttentionResult<T = Tensor> {
  out: T;
  lse?: T;
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
  flexAttention(q: T, k: T, v: T, options?: FlexAttentionOptions): Promise<FlexAttentionResult<T>>;
  /** `lse` is the forward's natural-log lse ([B, Hq, Lq], f32). */
  flexAttentionBackward(q: T, k: T, v: T, out: T, lse: T, dOut: T, options?: FlexAttentionOptions): Promise<FlexAttentionGrads<T>>;
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
}

/** Just what validation needs of a tensor, so device-resident tensors validate the same way. */
export interface TensorLike {
  shape: readonly number[];
  dtype: string;
}

const DTYPES = ['f32', 'f16', 'bf16'];

function check4d(name: string, t: TensorLike | undefined, expected: string): readonly number[] {
  if (!t || !Array.isArray(t.shape)) throw new ShapeError(`${name} must be a tensor ${expected}`);
  if (t.shape.length !== 4) throw new ShapeError(`${name} must have 4 dimensions ${expected}, got shape [${t.shape.join(', ')}]`);
  if (t.shape.some((d) => !Number.isInteger(d) || d < 1)) throw new ShapeError(`${name} has shape [${t.shape.join(', ')}]; every dimension must be a positive integer`);
  if (!DTYPES.includes(t.dtype)) throw new OptionError(`${name} has dtype '${t.dtype}'; use 'f32', 'f16' or 'bf16'`);
  const data = (t as Partial<Tensor>).data;
  if (data && data.length !== numel(t.shape)) throw new ShapeError(`${name} has ${data.length} elements but shape [${t.shape.join(', ')}] needs ${numel(t.shape)}`);
  if (data && (t.dtype === 'f32') !== data instanceof Float32Array) {
    throw new OptionError(`${name}: dtype '${t.dtype}' needs ${t.dtype === 'f32' ? 'a Float32Array' : 'a Uint16Array of bit patterns'}`);
  }
  return t.shape;
}

/** What a backend can run beyond the common case; a call needing more fails in resolveAttention. */
export interface AttentionSupport {
  /**
   * K/V with batch 1 while q has batch B > 1: every query batch reads the same K/V (a paged KV
   * cache's `k`/`v` are [1, Hkv, pages·pageSize, D]). Backends that index K/V by the query's batch
   * leave this off, and such a call gets an UnsupportedError before any work.
   */
  kvBatchBroadcast?: boolean;
}

/** Validates q/k/v and options; returns the resolved problem. */
export function resolveAttention(
  q: TensorLike,
  k: TensorLike,
  v: TensorLike,
  options: FlexAttentionOptions = {},
  maxHeadDim = Infinity,
  support: AttentionSupport = {},
): AttentionProblem {
  const [B, Hq, Lq, E] = check4d('q', q, '[B, Hq, Lq, E]') as [number, number, number, number];
  const [Bk, Hkv, Lkv, Ek] = check4d('k', k, '[B, Hkv, Lkv, E]') as [number, number, number, number];
  const [Bv, Hv, Lv, Ev] = check4d('v', v, '[B, Hkv, Lkv, Ev]') as [number, number, number, number];
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
  const scale = options.scale ?? 1 / Math.sqrt(E);
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) throw new OptionError(`scale must be a positive finite number, got ${String(options.scale)}`);
  const mask = options.blockMask;
  if (mask) {
    const [mq, mk] = mask.seqLengths;
    if (mq !== Lq || mk !== Lkv) throw new ShapeError(`the block mask was built for qLen=${mq}, kvLen=${mk} but q/k have Lq=${Lq}, Lkv=${Lkv}; rebuild it with createBlockMask(mask, { qLen: ${Lq}, kvLen: ${Lkv} })`);
    if (mask.B !== 1 && mask.B !== B) throw new ShapeError(`the block mask has B=${mask.B}; it must be 1 (broadcast) or the batch size ${B}`);
    if (mask.H !== 1 && mask.H !== Hq) throw new ShapeError(`the block mask has H=${mask.H}; it must be 1 (broadcast) or the number of query heads ${Hq}`);
    if (mask.maskMod?.kind !== 'mask') throw new OptionError('blockMask.maskMod must be a traced mask mod');
  }
  const scoreMod = options.scoreMod === undefined ? undefined : traceScoreMod(options.scoreMod);
  return { B, Hq, Hkv, Lq, Lkv, E, Ev, kvBatch: Bk, groupSize: Hq / Hkv, scale, scoreMod, blockMask: mask, dtype: q.dtype as Tensor['dtype'] };
}

/** Checks out/lse/dOut shapes for the backward pass against the resolved problem. */
export function checkBackwardInputs(p: AttentionProblem, out: TensorLike, lse: TensorLike, dOut: TensorLike): void {
  const want = [p.B, p.Hq, p.Lq, p.Ev];
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (!same(out.shape, want)) throw new ShapeError(`out must be [${want.join(', ')}], got [${out.shape.join(', ')}]`);
  if (!same(dOut.shape, want)) throw new ShapeError(`dOut must be [${want.join(', ')}], got [${dOut.shape.join(', ')}]`);
  if (!same(lse.shape, [p.B, p.Hq, p.Lq])) throw new ShapeError(`lse must be [${p.B}, ${p.Hq}, ${p.Lq}] (run the forward with returnLse: true), got [${lse.shape.join(', ')}]`);
  if (out.dtype !== p.dtype || dOut.dtype !== p.dtype) throw new OptionError(`out and dOut must have q's dtype ${p.dtype}`);
  if (lse.dtype !== 'f32') throw new OptionError(`lse must be f32, got ${lse.dtype}`);
}
