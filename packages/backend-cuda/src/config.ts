// Tile configurations of the CUDA kernels and their shared-memory sizes. The kernels take the
// config as macros (FLEX_FWD_BM, …) from the prelude, so this file is the one source of truth;
// the defaults in kernels/*.cuh only matter for hand-built sources. Byte counts mirror
// flex::SmemTile / FwdCfg / BwdCfg / DecCfg in kernels/*.cuh.
import { CapturedTensor, gradScore, type DType, type TracedMod } from '@flexattn/ir';

export interface FwdConfig {
  /** Query rows per CTA (the q tile of the block tables). */
  bm: number;
  /** Keys per pipeline stage (the kv tile of the block tables). */
  bn: number;
  warps: number;
  stages: number;
  /** Softmax and P·V one m16 row block at a time / the tile body specialised per tile case (FwdCfg). */
  mtOuter: boolean;
  oneBlock: boolean;
  /**
   * The Hopper body (kernels/flex_fwd_wg.cuh: S = Q Kᵀ and O += P·V on wgmma, softmax overlapped)
   * where NVRTC targets sm_90a; the kernel falls back to the mma.sync body elsewhere.
   */
  wgmma: boolean;
  /**
   * The persistent warp-specialised Hopper body (kernels/flex_fwd_fa3.cuh: TMA producer
   * warpgroup, `warps / 4` consumer warpgroups in ping-pong; grid min(work tiles, SMs), and three
   * tensor maps after the params structs). `threads` counts the producer warpgroup.
   */
  fa3: boolean;
  /**
   * With `fa3`: a mask reading a tensor under the identity score mod (a document mask) — a partial
   * tile's column values go through shared memory (FLEX_FA3_SMEM_COLS, kernels/flex_fwd_fa3.cuh).
   */
  smemCols: boolean;
  /**
   * With `fa3`: an additive score mod (score + bias, FLEX_SCORE_MOD_ADDITIVE) goes into S's
   * accumulator as bias / scale before QKᵀ, and the softmax takes the identity mod's path
   * (FLEX_FA3_BACC, Fa3Cfg::BACC). Head dims 64 and 128 only, and only for a scale the kernel can
   * divide by (baccScale).
   */
  bacc: boolean;
  threads: number;
  smemBytes: number;
}

export interface BwdConfig {
  /** q tile (inner axis of the kv-major tables). */
  bmq: number;
  /** kv rows per CTA (outer axis): 16 per warp. */
  bn: number;
  warps: number;
  /** Sᵀ and dPᵀ on Hopper's wgmma (sm_90a; mma.sync elsewhere). */
  wgmma: boolean;
  /**
   * The FA3-class Hopper body (kernels/flex_bwd_fa3.cuh, BwdFa3Cfg: a TMA producer warpgroup,
   * two consumer warpgroups, dQ by bulk reduce-add; the tensor maps of Q, dO, K, V after the
   * params structs). `threads` counts the producer warpgroup.
   */
  fa3: boolean;
  /** Q/dO ring depth of the FA3-class body. */
  stages: number;
  /**
   * The FA3-class body's deterministic variant (FLEX_BWD_DETERMINISTIC: dQ added in a fixed order
   * of kv tiles by a writer warp, dq-order.ts); false for every other body.
   */
  deterministic: boolean;
  threads: number;
  smemBytes: number;
}

export interface BwdConfigOptions {
  /** The device is a Hopper (compute capability 9.x, NVRTC targets sm_90a). */
  hopper?: boolean;
  /**
   * With `hopper`: the FA3-class body ('fa3', the default: kernels/flex_bwd_fa3.cuh) or the
   * session-3 one ('classic', kernels/flex_bwd.cuh). CudaBackendOptions.hopperBackward.
   */
  hopperBody?: 'fa3' | 'classic';
  /** One K/V for every query batch (dK/dV summed over the batch): only the session-3 body sums them. */
  kvBroadcast?: boolean;
  /** TargetDevice.deterministicBackward: the FA3-class body's fixed-order dQ (where that body serves). */
  deterministic?: boolean;
}

export interface DecodeConfig {
  /** (query head, query index) rows per CTA. */
  rows: number;
  /** Keys per tile; keys_per_split is a multiple of it. */
  bn: number;
  maxTiles: number;
  /** K/V ring buffers: stages - 1 tiles in flight while one is computed (FLEX_DEC_STAGES) */
  stages: number;
  /** the body's variant bits (FLEX_DEC_VARIANT; kernels/flex_decode.cuh DEC_*): DECODE_VARIANT */
  variant: number;
  threads: number;
  smemBytes: number;
}

const ceil16 = (x: number) => Math.ceil(x / 16) * 16;
const ceil8 = (x: number) => Math.ceil(x / 8) * 8;

/** Bytes of a ROWS x COLS 16-bit tile (flex::SmemTile): swizzled rows, or one chunk of padding. */
export function smemTileBytes(rows: number, cols: number): number {
  const chunks = cols / 8;
  const stride = chunks % 8 === 0 ? cols : cols + 8;
  return rows * stride * 2;
}

/** f32 (SIMT) kernels use 32 x 32 tiles, 8 warps, static shared memory only. */
export const F32_TILE = 32;

export interface FwdConfigOptions {
  /** The score mod is the identity (no per-element score work): D64 can afford the wider BN 128 tile. */
  identityScore?: boolean;
  /** The device is a Hopper (compute capability 9.x, NVRTC targets sm_90a): the wgmma body's tiles. */
  hopper?: boolean;
  /**
   * With `hopper`: the persistent warp-specialised body ('fa3', the default) or the per-CTA one
   * ('wg', kernels/flex_fwd_wg.cuh).
   */
  hopperBody?: 'fa3' | 'wg';
  /**
   * The mods cost little per element (lightMods()): the persistent body's D64 tile then takes three
   * consumer warpgroups.
   */
  lightMods?: boolean;
  /** The mask reads a captured tensor (a document mask): see FwdConfig.smemCols. */
  tensorMask?: boolean;
  /** The score mod is score + bias(b, h, q, kv) (renderer.ts isAdditiveScoreRoot): see FwdConfig.bacc. */
  additiveScore?: boolean;
  /** The call's softmax scale (FwdConfig.bacc needs baccScale(scale)); absent: 1. */
  scale?: number;
}

/**
 * The persistent body writes bias / scale into S (FwdConfig.bacc) with the float reciprocal of the
 * float scale: a positive scale whose reciprocal is finite in float (not 0, not below ~2.9e-39), or
 * the call keeps the per-element mod.
 */
export function baccScale(scale: number): boolean {
  const f = Math.fround(scale);
  return f > 0 && Number.isFinite(Math.fround(1 / f));
}

// Measured on the H100 (harness time_shape, noop / causal / alibi / softcap-approx, 2026-11-25
// session 3): D64 BM128 BN128 4 warps 3 stages 0.826 ms noop (BN 64: 0.906; two warpgroups of one
// or two row blocks: 1.19 / 0.99; it also wins with a score mod although ptxas spills a few
// bytes there: alibi 1.013 vs 1.092 ms); D128 two warpgroups of two 64-row blocks (BM 256) BN 64
// 2 stages 2.53 ms (one warpgroup BM 128: 2.67; 3 stages: 3.53; before this body: 3.17).
type HopperTile = { bm: number; bn: number; warps: number; stages: number };
// The per-CTA Hopper body (kernels/flex_fwd_wg.cuh), measured on the H100 (harness time_shape,
// 2026-11-25 session 3): D64 BM128 BN128 4 warps 3 stages 0.826 ms noop (BN 64: 0.906; two
// warpgroups of one or two row blocks: 1.19 / 0.99); D128 two warpgroups of two 64-row blocks
// (BM 256) BN 64 2 stages 2.53 ms (one warpgroup BM 128: 2.67; 3 stages: 3.53).
const WG_TILES: Record<64 | 128, HopperTile> = {
  64: { bm: 128, bn: 128, warps: 4, stages: 3 },
  128: { bm: 256, bn: 64, warps: 8, stages: 2 },
};
// The persistent Hopper body (kernels/flex_fwd_fa3.cuh, Fa3Cfg): BM = 64 rows per consumer
// warpgroup (warps / 4 of them), BN keys per stage, a STAGES-deep K/V ring. Measured on the H100
// (harness `hopper`, 2026-12-06, B2 H16 L8192 D128 / B4 H16 L4096 D64, ms): D128 two warpgroups 2
// stages noop 1.652, causal 1.002, alibi 1.959, softcap 3.712 (3 stages 1.829 / 1.016 / 2.107 /
// 3.704; the per-CTA body 2.848 / 1.561 / 3.283 / 4.446). D64: three warpgroups (BM 192, 2 stages)
// win where the mods' per-element work is light — noop 0.601 vs 0.655 (two warpgroups, 3 stages),
// causal 0.368 vs 0.421, sliding window 0.208 vs 0.219, alibi 0.801 vs 0.840 — and lose where it
// is heavy, their 160 registers a thread against 240: softcap 1.892 vs 1.665, softcap-approx 1.167
// vs 1.047. A document mask lost there too (0.411 vs 0.261: doc ids loaded 32 a thread per partial
// tile, 12 bytes spilled) until its column values went through shared memory (FLEX_FA3_SMEM_COLS):
// then BM 192 takes 0.186 ms against BM 128's 0.202 and main's 0.278 (H100 2026-12-07, B4 H16
// L4096 D64 bf16, torch 0.230), with no spills.
// D256 (E = Ev = 256; issue 15): two consumer warpgroups (BM 128) and BN 64 — the only tile whose
// ring of two stages fits beside Q (64 KB + 2 × 64 KB of K and V; BN 128 or a third stage does
// not), and O alone takes 128 fp32 registers a consumer thread (FA3's hdim-256 forward also keeps
// BM 128, two warpgroups, two stages).
const FA3_TILES = {
  64: { bm: 128, bn: 128, warps: 8, stages: 3 },
  '64light': { bm: 192, bn: 128, warps: 12, stages: 2 },
  128: { bm: 128, bn: 128, warps: 8, stages: 2 },
  256: { bm: 128, bn: 64, warps: 8, stages: 2 },
} satisfies Record<string, HopperTile>;
/** Fa3Cfg::SCHED_BYTES: the work-tile ring's two full / empty mbarrier pairs and its two 16-byte slots. */
const FA3_SCHED_BYTES = 4 * 8 + 2 * 16;
/** Fa3Cfg::SCOL_SLOT: shared bytes per key of a warpgroup's column values (FlexColVals up to 16 bytes). */
const FA3_SCOL_SLOT = 16;
/** The H100's dynamic shared memory per block. */
const HOPPER_SMEM_LIMIT = 227 * 1024;
/**
 * Shared memory of the persistent Hopper body (Fa3Cfg::SMEM_BYTES): Q, the K/V ring, 2 + 4 · stages
 * mbarriers, the work-tile ring, then with `smemCols` each consumer warpgroup's column values where
 * they fit (Fa3Cfg::SCOL_RESERVED; every tile of FA3_TILES has room).
 */
export function fa3SmemBytes(t: HopperTile, E: number, Ev: number, smemCols = false): number {
  const sched = t.bm * E * 2 + t.stages * t.bn * (E + Ev) * 2 + (2 + 4 * t.stages) * 8 + FA3_SCHED_BYTES;
  const withCols = ceilTo(sched, 16) + (t.warps / 4) * t.bn * FA3_SCOL_SLOT;
  return smemCols && withCols <= HOPPER_SMEM_LIMIT ? withCols : sched;
}
const ceilTo = (x: number, m: number) => Math.ceil(x / m) * m;

/** FwdConfig.smemCols' rule (also the harness's mod headers): a mask reading a tensor under the identity score mod. */
export function sharesColumnValues(identityScore: boolean, tensorMask: boolean): boolean {
  return identityScore && tensorMask;
}

/** The mask reads a captured tensor (a document mask's ids). FwdConfigOptions.tensorMask. */
export function maskReadsTensor(maskMod: TracedMod | undefined): boolean {
  return maskMod?.captures.some((c) => c instanceof CapturedTensor) ?? false;
}

/**
 * Whether the mods cost little per element: no score mod or an additive one (score + f(b, h, q, kv),
 * its derivative the constant 1: ALiBi, relative position), and a mask that reads no captured tensor
 * (causal, sliding window, prefix-LM) or reads one under the identity score mod, whose column values
 * the persistent body shares through shared memory (FwdConfig.smemCols). FwdConfigOptions.lightMods.
 */
export function lightMods(scoreMod: TracedMod | undefined, maskMod: TracedMod | undefined): boolean {
  const identity = !scoreMod || (scoreMod.root.op === 'arg' && scoreMod.root.arg === 'score');
  const grad = identity ? undefined : gradScore(scoreMod).root;
  const additive = grad === undefined || (grad.op === 'const' && grad.arg === 1);
  return additive && (identity || !maskReadsTensor(maskMod));
}

export function fwdConfig(dtype: DType, E: number, Ev: number, options: FwdConfigOptions = {}): FwdConfig {
  if (dtype === 'f32') return { bm: F32_TILE, bn: F32_TILE, warps: 8, stages: 1, mtOuter: false, oneBlock: false, wgmma: false, fa3: false, smemCols: false, bacc: false, threads: 256, smemBytes: 0 };
  let c: { bm: number; bn: number; warps: number; stages: number; mtOuter: boolean; oneBlock: boolean };
  // measured on the H100 (benchmarks/history.md, 2026-11-25 sweep): D64 BN 128 0.915 ms vs BN 64 1.00 ms,
  // 3 stages 0.916 vs 2 stages 0.937; D128 row-block-outer + one block per tile case 3.55 ms vs 3.72
  // (causal 1.98 vs 2.10); 8-warp and 128-register variants were slower everywhere
  // With wgmma (same day, harness and bench): D64 BN 128 0.87 ms noop / 0.51 causal vs BN 64 0.94 / 0.60,
  // but a score mod on the BN 128 tile spills (bench: softcap 2.85 ms, relpos 1.40 vs 1.95 / 1.13
  // before wgmma) while BN 64 keeps it in registers (softcap-approx 1.25 vs 1.45 ms)
  const identityScore = options.identityScore ?? true;
  const smemCols = sharesColumnValues(identityScore, options.tensorMask ?? false);
  const bacc = !identityScore && (options.additiveScore ?? false) && baccScale(options.scale ?? 1);
  // head dim 256 has only the persistent body's tile; the per-CTA body ('wg') keeps the classic one below
  if (options.hopper && (options.hopperBody ?? 'fa3') === 'fa3' && E === 256 && Ev === 256) {
    const t = FA3_TILES[256];
    // not BACC: unmeasured there, and the bias tile beside O's 128 registers a thread may spill
    return { ...t, mtOuter: false, oneBlock: false, wgmma: true, fa3: true, smemCols, bacc: false, threads: t.warps * 32 + 128, smemBytes: fa3SmemBytes(t, E, Ev, smemCols) };
  }
  if (options.hopper && (E === 64 || E === 128) && (Ev === 64 || Ev === 128)) {
    const size = E <= 64 && Ev <= 64 ? 64 : 128;
    if ((options.hopperBody ?? 'fa3') === 'fa3') {
      const t = FA3_TILES[size === 64 && options.lightMods ? '64light' : size];
      return { ...t, mtOuter: false, oneBlock: false, wgmma: true, fa3: true, smemCols, bacc, threads: t.warps * 32 + 128, smemBytes: fa3SmemBytes(t, E, Ev, smemCols) };
    }
    const t = WG_TILES[size];
    const smemBytes = smemTileBytes(t.bm, E) + t.stages * (smemTileBytes(t.bn, E) + smemTileBytes(t.bn, Ev));
    return { ...t, mtOuter: false, oneBlock: false, wgmma: true, fa3: false, smemCols: false, bacc: false, threads: t.warps * 32, smemBytes };
  }
  if (E <= 64 && Ev <= 64) c = { bm: 128, bn: identityScore ? 128 : 64, warps: 4, stages: 3, mtOuter: false, oneBlock: false };
  else if (E <= 128 && Ev <= 128) c = { bm: 128, bn: 64, warps: 4, stages: 2, mtOuter: true, oneBlock: true };
  else c = { bm: 64, bn: 32, warps: 4, stages: 2, mtOuter: false, oneBlock: false };
  const dp = ceil16(E);
  const dvp = ceil16(Ev);
  const smemBytes = smemTileBytes(c.bm, dp) + c.stages * (smemTileBytes(c.bn, dp) + smemTileBytes(c.bn, dvp));
  // the kernel's own condition (FwdCfg::WG) decides per head dim; 64-column panels are what it reads
  const wgmma = E % 64 === 0 && Ev % 8 === 0 && c.warps === 4 && (c.bn === 64 || c.bn === 128);
  return { ...c, wgmma, fa3: false, smemCols: false, bacc: false, threads: c.warps * 32, smemBytes };
}

// The FA3-class Hopper backward (kernels/flex_bwd_fa3.cuh, BwdFa3Cfg): 128 keys per CTA (64 per
// consumer warpgroup), q tiles of 128 rows at D64 and 64 at D128 (each warpgroup's dQ block is
// 64 x 64), two Q/dO stages (a third does not fit beside the double-buffered dSᵀ / dQ tiles).
// Measured on the H100 (harness `timebwd3`, 2026-12-06, bwd alone, ms): B4 H16 L4096 D64 noop
// 1.789 / causal 1.163 (the session-3 body 2.983 / 1.987); B2 H16 L8192 D128 noop 6.058 / causal
// 3.333 (9.365 / 5.601). The default on Hopper: `hopperBody ?? 'fa3'` below.
const BWD_FA3_TILES = { 64: { bmq: 128, stages: 2 }, 128: { bmq: 64, stages: 2 } } as const;
const BWD_FA3_BN = 128;
/**
 * Shared memory of the FA3-class backward (BwdFa3Cfg::SMEM_BYTES): K, V, the Q/dO ring, dSᵀ ×2,
 * fp32 dQ ×2, lse/delta, mbarriers; the deterministic variant adds two mbarrier pairs and two
 * 16-byte writer tasks.
 */
export function bwdFa3SmemBytes(E: number, bmq: number, stages: number, deterministic = false): number {
  const bars = 1 + 2 * stages + (deterministic ? 4 : 0);
  return 2 * BWD_FA3_BN * E * 2 + stages * 2 * bmq * E * 2 + 2 * BWD_FA3_BN * bmq * 2 + 2 * bmq * E * 4 + 2 * stages * bmq * 4 + bars * 8 + (deterministic ? 32 : 0);
}

export function bwdConfig(dtype: DType, E: number, Ev: number, options: BwdConfigOptions = {}): BwdConfig {
  if (dtype === 'f32') return { bmq: F32_TILE, bn: F32_TILE, warps: 8, wgmma: false, fa3: false, stages: 1, deterministic: false, threads: 256, smemBytes: 0 };
  // the FA3-class body covers D = Dv = 64 / 128; every other shape keeps the session-3 body
  if (options.hopper && (options.hopperBody ?? 'fa3') === 'fa3' && !options.kvBroadcast && E === Ev && (E === 64 || E === 128)) {
    const t = BWD_FA3_TILES[E];
    const deterministic = options.deterministic ?? false;
    return { bmq: t.bmq, bn: BWD_FA3_BN, warps: 8, wgmma: true, fa3: true, stages: t.stages, deterministic, threads: 8 * 32 + 128, smemBytes: bwdFa3SmemBytes(E, t.bmq, t.stages, deterministic) };
  }
  let c: { bmq: number; warps: number };
  if (E <= 64 && Ev <= 64) c = { bmq: 64, warps: 8 };
  else if (E <= 128 && Ev <= 128) c = { bmq: 64, warps: 8 };
  else c = { bmq: 32, warps: 4 };
  const bn = 16 * c.warps;
  const dp = ceil16(E);
  const dvp = ceil16(Ev);
  const smemBytes =
    smemTileBytes(bn, dp) + smemTileBytes(bn, dvp) + 2 * (smemTileBytes(c.bmq, dp) + smemTileBytes(c.bmq, dvp)) +
    smemTileBytes(bn, c.bmq) + 2 * 2 * c.bmq * 4;
  // Sᵀ = K Qᵀ and dPᵀ = V dOᵀ on wgmma where NVRTC targets sm_90a (BwdCfg::WG decides per shape)
  const wgmma = E % 64 === 0 && Ev % 64 === 0 && c.warps % 4 === 0;
  return { bmq: c.bmq, bn, warps: c.warps, wgmma, fa3: false, stages: 2, deterministic: false, threads: c.warps * 32, smemBytes };
}

/**
 * The decoder's switch (session 14, harness/decbench.cu times each against the other): its variant
 * bits, kernels/flex_decode.cuh DEC_FAST_MERGE 1 (the merging split's loads issued up front),
 * DEC_EARLY_KV 2 (the first K/V tiles before the queries); 0 is the body session 11 measured. 3 (fast merge + early K/V): H100 2026-12-07, decbench
 * interleaved, per launch: B8 Hq32/Hkv8 L8192 D128 0.1043 ms = 2574 GB/s against 0.1101 (2437; ×1.056),
 * B1 L32768 (32 splits) ×1.31; four partial sums a score on top gave less (2522 GB/s), as
 * did __launch_bounds__(256, 2) (v0: ×1.008 at B8, ×0.94 at B1 L32768); both were deleted.
 */
export const DECODE_VARIANT: number = 3;

/** rows: the smallest of 4, 8, 16 that holds G·Lq (16 with several row groups beyond that). */
export function decodeConfig(dtype: DType, E: number, Ev: number, groupRows: number): DecodeConfig {
  const rows = groupRows <= 4 ? 4 : groupRows <= 8 ? 8 : 16;
  const esize = dtype === 'f32' ? 4 : 2;
  const bn = 64;
  const maxTiles = 512;
  const dp = ceil8(E);
  const dvp = ceil8(Ev);
  // the layout of kernels/flex_decode.cuh DecCfg
  const smem = (stages: number) => {
    const offV = stages * bn * (dp + 8) * esize;
    const offQ = offV + stages * bn * (dvp + 8) * esize;
    const offP = offQ + rows * dp * 4;
    const offStat = offP + rows * bn * 4;
    const offTiles = offStat + 5 * rows * 4;
    return offTiles + maxTiles * 2 + 16;
  };
  // three stages (two 32 KB tiles in flight per CTA at D128 bf16: DRAM latency hidden with two CTAs
  // per SM) where they fit a block on every arch served, else two
  const stages = smem(3) <= THREE_STAGE_SMEM_LIMIT ? 3 : 2;
  return { rows, bn, maxTiles, stages, variant: DECODE_VARIANT, threads: 256, smemBytes: smem(stages) };
}

/** The A100's dynamic shared memory per block (163 KB; the H100's is 227 KB): the decoder's third stage stays within both. */
const THREE_STAGE_SMEM_LIMIT = 163 * 1024;

/**
 * Shared memory per SM that CTAs can use, by NVRTC arch (the CUDA occupancy tables): what bounds how
 * many decoder CTAs are resident at once.
 */
export function smemPerSm(arch: string): number {
  const cc = Number(/^sm_(\d+)/.exec(arch)?.[1] ?? 0);
  if (cc >= 90) return 228 * 1024;   // Hopper (and later: at least as much)
  if (cc === 80 || cc === 87) return 164 * 1024;
  if (cc >= 86) return 100 * 1024;   // sm_86 / sm_89
  return 64 * 1024;
}

/** Resident decoder CTAs per SM: bounded by shared memory (1 KiB of it reserved per CTA) and 2048 threads. */
export function decodeCtasPerSm(cfg: DecodeConfig, arch: string): number {
  const bySmem = Math.floor(smemPerSm(arch) / (cfg.smemBytes + 1024));
  return Math.max(1, Math.min(bySmem, Math.floor(2048 / cfg.threads)));
}

/** Whether a call is a decoding shape (few queries, long kv): the split-KV kernel serves it. */
export function useDecode(Lq: number, Lkv: number, groupSize: number): boolean {
  return Lq <= 16 && Lq * groupSize <= 64 && Lkv >= 512;
}

/** Compile-time variants of the bodies that only some calls need. */
export interface KernelVariant {
  /** returnAux.maxScores: the forward and decode bodies track and write the row max (FLEX_MAX_SCORES). */
  maxScores?: boolean;
}

/** The prelude macros that select a config. */
export function configDefines(
  fwd: FwdConfig, bwd: BwdConfig, decode: Pick<DecodeConfig, 'rows' | 'stages'> & Partial<Pick<DecodeConfig, 'variant'>>,
  variant: KernelVariant = {},
): Record<string, number> {
  return {
    // only where asked: every other call keeps the source (and the cached modules) it always had
    ...(variant.maxScores ? { FLEX_MAX_SCORES: 1 } : {}),
    ...(bwd.deterministic ? { FLEX_BWD_DETERMINISTIC: 1 } : {}),
    FLEX_FWD_BM: fwd.bm,
    FLEX_FWD_BN: fwd.bn,
    FLEX_FWD_WARPS: fwd.warps,
    FLEX_FWD_STAGES: Math.max(2, fwd.stages),
    FLEX_FWD_MT_OUTER: fwd.mtOuter ? 1 : 0,
    FLEX_FWD_ONE_BLOCK: fwd.oneBlock ? 1 : 0,
    FLEX_FWD_WGMMA: fwd.wgmma ? 1 : 0,
    FLEX_FWD_FA3: fwd.fa3 ? 1 : 0,
    ...(fwd.smemCols ? { FLEX_FA3_SMEM_COLS: 1 } : {}),
    ...(fwd.bacc ? { FLEX_FA3_BACC: 1 } : {}),
    FLEX_BWD_BMQ: bwd.bmq,
    FLEX_BWD_WARPS: bwd.warps,
    FLEX_BWD_WGMMA: bwd.wgmma ? 1 : 0,
    FLEX_BWD_FA3: bwd.fa3 ? 1 : 0,
    FLEX_BWD_STAGES: bwd.stages,
    FLEX_DEC_ROWS: decode.rows,
    FLEX_DEC_STAGES: decode.stages,
    // off by default: the sources (and cached modules) stay those of session 11's decoder
    ...(decode.variant ? { FLEX_DEC_VARIANT: decode.variant } : {}),
  };
}
