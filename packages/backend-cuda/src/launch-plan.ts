// Which kernel bodies serve a problem and how they are launched — the one place that picks them.
// `selectKernels` chooses the tile configs (config.ts) and renders the prelude they are compiled
// with; `forwardLaunch` / `backwardLaunch` load the modules, lay out the block tables in the chosen
// tiles (ir tileTables, memoised on the mask), pack the by-value arguments and return the launches.
// A new kernel body (another forward, a paged decoder) is chosen here and nowhere else.
import { blockClasses, ceilDiv, shortTileFirstOffset, tileTables, type AttentionProblem, type TracedMod } from '@flexattn/ir';
import type { CallMemory } from './call-memory.js';
import { decodeSplits, visibleWork } from './decode-splits.js';
import { elementBytes } from './device-tensors.js';
import { dqOrder } from './dq-order.js';
import { bwdConfig, configDefines, decodeConfig, decodeCtasPerSm, fwdConfig, lightMods, maskReadsTensor, useDecode, type BwdConfig, type DecodeConfig, type FwdConfig } from './config.js';
import type { ModuleLoader } from './kernel-modules.js';
import type { ModArguments } from './mod-arguments.js';
import type { CudaNative, DevicePtr } from './native.js';
import { packBwdArgs, packDecodeArgs, packFwdArgs, type Dims } from './kernel-args.js';
import { isAdditiveScoreRoot, isIdentityScoreMod, renderPrelude, type RenderedPrelude } from './renderer.js';
import { bwdFa3TensorMaps, fa3TensorMaps } from './tensor-maps.js';

/** See RenderOptions.indexLimit: shapes below it share one source; longer ones get the plain casts. */
const INDEX_LIMIT = 2 ** 22;

/** The kernels chosen for one problem and the prelude they are compiled with. */
export interface KernelSelection {
  problem: AttentionProblem;
  scoreMod: TracedMod | undefined;
  maskMod: TracedMod | undefined;
  forward: FwdConfig;
  backward: BwdConfig;
  /** the split-KV decoder's config, when the problem is a decoding shape */
  decode: DecodeConfig | undefined;
  rendered: RenderedPrelude;
}

export interface TargetDevice {
  /** NVRTC's arch, e.g. sm_90a */
  arch: string;
  smCount: number;
  /** the Hopper forward body (CudaBackendOptions.hopperForward): persistent ('fa3') or per-CTA ('wg') */
  hopperBody: 'fa3' | 'wg';
  /** the Hopper backward body (CudaBackendOptions.hopperBackward): FA3-class ('fa3') or session 3's ('classic') */
  hopperBackward: 'fa3' | 'classic';
  /**
   * The FA3-class backward's fixed-order dQ (bitwise repeatable; deterministic.ts refuses the calls
   * it cannot serve): createCudaBackend({ deterministic: true }).
   */
  deterministicBackward?: boolean;
}

export function selectKernels(p: AttentionProblem, target: TargetDevice): KernelSelection {
  const scoreMod = p.scoreMod;
  const maskMod = p.blockMask?.maskMod;
  const forward = fwdConfig(p.dtype, p.E, p.Ev, {
    identityScore: isIdentityScoreMod(scoreMod),
    lightMods: lightMods(scoreMod, maskMod),
    tensorMask: maskReadsTensor(maskMod),
    additiveScore: scoreMod !== undefined && isAdditiveScoreRoot(scoreMod.root),
    scale: p.scale,
    hopper: target.arch === 'sm_90a',
    hopperBody: target.hopperBody,
  });
  const backward = bwdConfig(p.dtype, p.E, p.Ev, {
    hopper: target.arch === 'sm_90a', hopperBody: target.hopperBackward, kvBroadcast: p.kvBatch !== p.B, deterministic: target.deterministicBackward,
  });
  const decodeRows = p.groupSize * p.Lq;
  // the prelude always carries the decoder's row count (one source per mod and shape class)
  const decodeShape = decodeConfig(p.dtype, p.E, p.Ev, decodeRows);
  // indices (plus a tile of overhang past the end) below 2^22: fast int→float casts of index arithmetic
  const indexLimit = Math.max(p.B, p.Hq, p.Lq, p.Lkv) + 256 <= INDEX_LIMIT ? INDEX_LIMIT : undefined;
  const defines = configDefines(forward, backward, decodeShape, { maxScores: p.returnMaxScores });
  const rendered = renderPrelude({ dtype: p.dtype, E: p.E, Ev: p.Ev, scoreMod, maskMod, defines, indexLimit });
  const decode = useDecode(p.Lq, p.Lkv, p.groupSize) ? decodeShape : undefined;
  return { problem: p, scoreMod, maskMod, forward, backward, decode, rendered };
}

/** What a launch needs from the backend: the addon, the loaded modules, this call's memory and the device. */
export interface LaunchContext {
  native: CudaNative;
  /** a call's loader: its modules stay loaded until the call ends */
  modules: ModuleLoader;
  mem: CallMemory;
  target: TargetDevice;
}

/** Queues a pass's kernels on the default stream. */
export type Launch = () => void;

/** The stream every launch of a pass is queued on (the default stream). */
export const LAUNCH_STREAM = 0n;
/** FlexFwdArgs::tile_counter: one int. */
const TILE_COUNTER_BYTES = 4;

export interface ForwardBuffers {
  q: DevicePtr;
  k: DevicePtr;
  v: DevicePtr;
  out: DevicePtr;
  lse: DevicePtr;
  /** [B, Hq, Lq] f32, where the call asked for returnAux.maxScores */
  maxScores: DevicePtr | null;
}

const dimsOf = (p: AttentionProblem): Dims => ({ B: p.B, Hq: p.Hq, Hkv: p.Hkv, Lq: p.Lq, Lkv: p.Lkv, scale: p.scale });

/**
 * Elements between the K (and the V) of consecutive query batches: contiguous [B, Hkv, Lkv, E]
 * tensors, or 0 where one K/V of batch 1 serves every query batch (a paged KV cache's pages).
 */
export function kvBatchStrides(p: AttentionProblem): [number, number] {
  return p.kvBatch === p.B ? [p.Hkv * p.Lkv * p.E, p.Hkv * p.Lkv * p.Ev] : [0, 0];
}

/**
 * Rows the forward's q tiles are shifted up by, which its block tables must be built with: the
 * persistent body tiles its queries short tile first (Fa3Cfg::q_offset, kernels/flex_fwd_fa3.cuh:
 * its last q tile, the longest under a causal-like mask, is then whole); the other bodies do not.
 */
export function forwardQOffset(c: FwdConfig, p: Pick<AttentionProblem, 'dtype' | 'Lq'>): number {
  return persistentForward(c, p) ? shortTileFirstOffset(p.Lq, c.bm) : 0;
}

/** The forward runs the persistent FA3-class body (fwdConfig gives f32 its SIMT body). */
const persistentForward = (c: FwdConfig, p: Pick<AttentionProblem, 'dtype'>): boolean => c.fa3 && p.dtype !== 'f32';

/** The forward pass: the split-KV decoder (merging in its last splits) for decoding shapes, else the fused forward. */
export async function forwardLaunch(ctx: LaunchContext, sel: KernelSelection, io: ForwardBuffers, mods: ModArguments): Promise<Launch> {
  const { native: n, mem } = ctx;
  const p = sel.problem;
  if (sel.decode) {
    const cfg = sel.decode;
    const mask = p.blockMask;
    const { splits, keysPerSplit, keyOffset, rowGroups } = decodeSplits(p, cfg, { smCount: ctx.target.smCount, ctasPerSm: decodeCtasPerSm(cfg, ctx.target.arch) }, mask ? visibleWork(mask, p) : undefined);
    const rows = p.B * p.Hq * p.Lq;
    // the decoder looks block classes up by position (the mask's own blocks), memoised on the mask
    const classes = mask
      ? { cls: mem.upload(blockClasses(mask)), mB: mask.B, mH: mask.H, qBlocks: ceilDiv(p.Lq, mask.blockSize[0]), kvBlocks: ceilDiv(p.Lkv, mask.blockSize[1]), blockQ: mask.blockSize[0], blockKv: mask.blockSize[1] }
      : null;
    const args = packDecodeArgs({
      ...dimsOf(p), ...io,
      partO: mem.alloc(splits * rows * p.Ev * 4), partLse: mem.alloc(splits * rows * 4),
      numSplits: splits, keysPerSplit, keyOffset, classes,
      partMax: io.maxScores === null ? null : mem.alloc(splits * rows * 4),
      kvBatchStrides: kvBatchStrides(p),
      // zeroed once: every launch of this plan leaves its counters zero again (the merging split resets its own)
      mergeCount: mem.zeros(p.B * p.Hkv * rowGroups * 4),
    });
    const m = await ctx.modules.load(sel.rendered.prelude, 'dec', { flex_decode: cfg.smemBytes });
    // one launch: the last split of each (batch, kv head, row group) merges the splits' rows
    return () => n.launch(m.fns.flex_decode!, [splits, p.Hkv * rowGroups, p.B], [cfg.threads, 1, 1], cfg.smemBytes, 0n, [args, mods.scoreParams, mods.maskParams]);
  }
  const c = sel.forward;
  const persistent = persistentForward(c, p);
  const table = p.blockMask ? mem.tileTable(tileTables(p.blockMask, c.bm, c.bn, { batch: p.B, heads: p.Hq, qOffset: forwardQOffset(c, p) }), 'kv-major') : null;
  const strides = kvBatchStrides(p);
  // the persistent body's work-tile counter: this call's own, so no other launch (another stream,
  // or one that trapped) shares its schedule; zeroed on the launch's stream before every launch.
  // Only the dynamic scheduler reads it (Fa3Cfg::DYN_SCHED: identity score mod); under a score mod
  // the tiles go in a fixed order, and neither the counter nor its memset is needed.
  const tileCounter = persistent && isIdentityScoreMod(sel.scoreMod) ? mem.alloc(TILE_COUNTER_BYTES) : null;
  const args = packFwdArgs({ ...dimsOf(p), ...io, table, kvBatchStrides: strides, tileCounter });
  const m = await ctx.modules.load(sel.rendered.prelude, 'fwd', { flex_fwd: c.smemBytes });
  const params = [args, mods.scoreParams, mods.maskParams];
  if (persistent && p.dtype !== 'f32') {  // (the dtype test narrows the type for fa3TensorMaps)
    // persistent: one CTA per SM at most, each draws (q tile, head, batch) tiles from the counter,
    // and the three TMA tensor maps follow the params structs
    const maps = fa3TensorMaps(n, { ...dimsOf(p), dtype: p.dtype, q: io.q, k: io.k, v: io.v, E: p.E, Ev: p.Ev, kvBatchStrides: strides, bm: c.bm, bn: c.bn });
    const ctas = Math.min(ceilDiv(p.Lq, c.bm) * p.Hq * p.B, ctx.target.smCount);
    return () => {
      if (tileCounter !== null) n.memsetD8(tileCounter, 0, TILE_COUNTER_BYTES, LAUNCH_STREAM);
      n.launch(m.fns.flex_fwd!, [ctas, 1, 1], [c.threads, 1, 1], c.smemBytes, LAUNCH_STREAM, [...params, ...maps]);
    };
  }
  return () => n.launch(m.fns.flex_fwd!, [ceilDiv(p.Lq, c.bm), p.Hq, p.B], [c.threads, 1, 1], c.smemBytes, LAUNCH_STREAM, params);
}

export interface BackwardBuffers {
  q: DevicePtr;
  k: DevicePtr;
  v: DevicePtr;
  out: DevicePtr;
  dout: DevicePtr;
  lse: DevicePtr;
  dq: DevicePtr;
  dk: DevicePtr;
  dv: DevicePtr;
  /** [B, Hq, Lq] f32: the gradient with respect to lse (options.dLse), folded into delta; null: zero */
  dLse: DevicePtr | null;
}

/**
 * Rows a 256-thread block of flex_bwd_preprocess covers: a row's Ev elements read as 16-byte vectors
 * by Ev / (16 / bytes) lanes where that is a power of two up to 32, else a warp a row (flex_bwd.cuh's
 * PreprocessShape). The kernel strides over rows, so this sizes the grid and never decides correctness.
 */
export function preprocessRowsPerBlock(Ev: number, bytes: number): number {
  const perVector = 16 / bytes;
  const lanes = Ev % perVector === 0 ? Ev / perVector : 0;
  return lanes > 0 && lanes <= 32 && (lanes & (lanes - 1)) === 0 ? 256 / lanes : 8;
}

/** Elements of dq a thread of flex_bwd_dq_convert converts at a time (special.cuh: 16 where E allows); sizes the grid. */
export const dqConvertElementsPerThread = (E: number): number => (E % 16 === 0 ? 16 : 1);

/** The backward pass: delta = rowsum(dO·O), then dK/dV (and dQ accumulated) per kv tile, then dQ converted. */
export async function backwardLaunch(ctx: LaunchContext, sel: KernelSelection, io: BackwardBuffers, mods: ModArguments): Promise<Launch> {
  const { native: n, mem } = ctx;
  const p = sel.problem;
  const c = sel.backward;
  const rows = p.B * p.Hq * p.Lq;
  const tables = p.blockMask ? tileTables(p.blockMask, c.bmq, c.bn, { batch: p.B, heads: p.Hq }) : null;
  // the deterministic dQ order: a counter per (b, h, q tile), zeroed before every launch below, and
  // each kv tile's visiting order and rank per visited q tile (from the same tables; none needed without a mask)
  const semBytes = c.deterministic ? p.B * p.Hq * ceilDiv(p.Lq, c.bmq) * 4 : 0;
  const dqSemaphore = c.deterministic ? mem.alloc(semBytes) : null;
  const args = packBwdArgs({
    ...dimsOf(p), ...io,
    delta: mem.alloc(rows * 4), dqAccum: mem.alloc(rows * p.E * 4),
    table: tables ? mem.tileTable(tables, 'q-major') : null,
    kvBatchStrides: kvBatchStrides(p),
    dqSemaphore, dqRank: c.deterministic && tables ? mem.upload(dqOrder(tables)) : null,
  });
  const m = await ctx.modules.load(sel.rendered.prelude, c.fa3 ? 'bwdFa3' : 'bwd', { flex_bwd_dkdv: c.smemBytes });
  // the FA3-class body streams Q and dO (and reads K, V) through TMA: four tensor maps after the
  // params structs (bwdConfig selects it only for 16-bit types and a K/V per batch)
  const maps = c.fa3 && p.dtype !== 'f32'
    ? bwdFa3TensorMaps(n, { ...dimsOf(p), dtype: p.dtype, q: io.q, dout: io.dout, k: io.k, v: io.v, E: p.E, Ev: p.Ev, kvBatchStrides: [p.Hkv * p.Lkv * p.E, p.Hkv * p.Lkv * p.Ev], bm: c.bmq, bn: c.bn })
    : [];
  return () => {
    for (const g of mods.grads.values()) n.memsetD8(g.ptr, 0, g.bytes);
    if (dqSemaphore !== null) n.memsetD8(dqSemaphore, 0, semBytes);
    n.launch(m.fns.flex_bwd_preprocess!, [ceilDiv(rows, preprocessRowsPerBlock(p.Ev, elementBytes(p.dtype))), 1, 1], [256, 1, 1], 0, 0n, [args]);
    n.launch(m.fns.flex_bwd_dkdv!, [ceilDiv(p.Lkv, c.bn), p.Hkv, p.B], [c.threads, 1, 1], c.smemBytes, 0n, [args, mods.scoreParams, mods.maskParams, ...maps]);
    n.launch(m.fns.flex_bwd_dq_convert!, [Math.min(4096, ceilDiv(rows * p.E, 256 * dqConvertElementsPerThread(p.E))), 1, 1], [256, 1, 1], 0, 0n, [args, mods.scoreParams, mods.maskParams]);
  };
}
