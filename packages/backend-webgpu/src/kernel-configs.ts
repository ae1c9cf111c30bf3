/**
 * Which kernel and tile config serves a problem on this device: the forward tiles (from workgroup
 * memory, invocations and subgroup sizes), the split-KV decoders and their split counts, the
 * backward tile — automatic, or pinned field by field through `Tuning`.
 */
import type { AttentionShape } from '@flexattn/ir';
import type { GpuCaps } from './device.js';
import { UnsupportedError } from './errors.js';
import { backwardSmem, type BackwardConfig } from './programs/backward.js';
import { checkDecodeConfig, decodeRegs, decodeSmem, type DecodeConfig } from './programs/decode.js';
import { forwardSmem, type ForwardConfig } from './programs/forward.js';

/**
 * Knobs for benchmarks and tests (`createWebGPUBackend({ tuning })`); every field is optional
 * and an absent one keeps the automatic choice. Plain data, so a sweep can take it as JSON.
 */
export interface Tuning {
  decode?: DecodeTuning;
  forward?: ForwardTuning;
}

export interface DecodeTuning {
  /** 'lanes' = the decode kernel (programs/decode.ts), 'tiles' = the forward template in split mode */
  kernel?: 'lanes' | 'tiles';
  /** lanes per key (power of two; default: the smallest ≥ 4 that keeps registers within `maxRegs`) */
  lanes?: number;
  /** invocations per workgroup (default 128) */
  workgroupSize?: number;
  /** keys per lane group per step (default 2; 1 beyond 8 rows) */
  keysPerStep?: number;
  /** keys per block-table tile (default 64) */
  tile?: number;
  /** number of KV splits; default: enough for `targetWorkgroups` */
  splits?: number;
  /** workgroups to aim for over (splits × B × Hkv) (default 2048) */
  targetWorkgroups?: number;
  /** fewest keys a split should cover (default 256) */
  minKeysPerSplit?: number;
  /** decoding applies when group·Lq ≤ this (default 16) */
  maxRows?: number;
  /** vec4 registers per lane the lanes kernel may hold when picking `lanes` (default 32) */
  maxRegs?: number;
  /** lanes kernel: load the next step's K/V rows while computing this one (default true: 9% faster on the H100, session 4) */
  prefetch?: boolean;
}

export interface ForwardTuning {
  BR?: number;
  BC?: number;
  TX?: number;
  TY?: number;
  /** row-max reduction with subgroup shuffles (default: when the adapter allows it) */
  subgroups?: boolean;
  /** K and V tiles share one workgroup buffer (larger tiles fit at large head dims) */
  kvShared?: boolean;
  /** with kvShared: V's loads issued with K's, kept in registers across S */
  prefetchV?: boolean;
  /** per-row / per-column parts of the mods computed once, not per element (default true) */
  hoist?: boolean;
}

export class KernelConfigs {
  /** tests flip this to run both reduction variants */
  useSubgroups = true;
  /** split-KV decoding: undefined = automatic, false = never, true = whenever it applies */
  splitKv?: boolean;
  /** knobs (see `Tuning`) */
  tuning: Tuning = {};

  constructor(private readonly caps: GpuCaps) {}

  private fits(c: ForwardConfig): boolean {
    return c.TX * c.TY <= this.caps.maxInvocations && forwardSmem(c) <= this.caps.maxWorkgroupStorage;
  }

  private sub(TX: number): boolean {
    const caps = this.caps;
    return this.useSubgroups && caps.subgroups && caps.subgroupMinSize >= TX;
  }

  forwardConfig(E: number, Ev: number, mode: 'forward' | 'split' = 'forward'): ForwardConfig {
    if (E > 256 || Ev > 256) throw new UnsupportedError(`head dims up to 256 (got E=${E}, Ev=${Ev})`);
    const ft = mode === 'forward' ? this.tuning.forward : undefined;
    if (ft && (ft.BR ?? ft.BC ?? ft.TX ?? ft.TY) !== undefined) {
      const auto = this.autoForwardConfig(E, Ev, mode);
      const c: ForwardConfig = {
        ...auto, BR: ft.BR ?? auto.BR, BC: ft.BC ?? auto.BC, TX: ft.TX ?? auto.TX, TY: ft.TY ?? auto.TY,
        kvShared: ft.kvShared, prefetchV: ft.prefetchV, hoist: ft.hoist,
      };
      c.subgroups = ft.subgroups ?? this.sub(c.TX);
      if (c.subgroups && !this.sub(c.TX)) throw new UnsupportedError(`subgroup reduction needs subgroups of at least TX=${c.TX} lanes`);
      if (c.BR % c.TY || c.BC % c.TX) throw new UnsupportedError(`tile ${c.BR}x${c.BC} is not divisible by TY=${c.TY} / TX=${c.TX}`);
      if (!this.fits(c)) throw new UnsupportedError(`forward tile ${c.BR}x${c.BC}/${c.TX}x${c.TY} needs ${forwardSmem(c)} bytes of workgroup memory or too many invocations`);
      return c;
    }
    const c = this.autoForwardConfig(E, Ev, mode);
    if (ft?.subgroups === false) c.subgroups = false;
    if (ft?.kvShared) Object.assign(c, { kvShared: true, prefetchV: ft.prefetchV });
    if (ft) c.hoist = ft.hoist;
    return c;
  }

  private autoForwardConfig(E: number, Ev: number, mode: 'forward' | 'split'): ForwardConfig {
    const candidates: [number, number, number, number][] =
      mode === 'split'
        ? [[16, 32, 32, 4], [16, 16, 16, 4], [16, 8, 8, 4], [16, 4, 4, 4], [16, 2, 2, 4]]
        : // measured on the H100 (Dawn/Vulkan, D64): 64x32/16x8 with subgroups 7.8 TFLOP/s, 64x32/8x16 7.0, 64x16/4x16 4.6, 32x32/8x8 3.7
          [[64, 32, 16, 8], [64, 32, 8, 16], [32, 32, 8, 8], [32, 16, 8, 8], [16, 16, 8, 4], [16, 8, 4, 4], [8, 8, 4, 2], [4, 4, 2, 2]];
    for (const [BR, BC, TX, TY] of candidates) {
      for (const sub of this.sub(TX) ? [true, false] : [false]) {
        const c: ForwardConfig = { BR, BC, TX, TY, E, Ev, subgroups: sub, mode };
        if (this.fits(c)) return c;
      }
    }
    throw new UnsupportedError(`no ${mode} tile fits ${this.caps.maxWorkgroupStorage} bytes of workgroup memory at E=${E}, Ev=${Ev}`);
  }

  /**
   * The decode kernel's config for a shape, or undefined when it does not apply (too many rows
   * per kv head, or no lane count keeps the registers within reach).
   */
  decodeConfig(s: AttentionShape): DecodeConfig | undefined {
    const t = this.tuning.decode ?? {};
    const caps = this.caps;
    const R = (s.Hq / s.Hkv) * s.Lq;
    if (!Number.isInteger(R) || R > (t.maxRows ?? 16)) return undefined;
    const canSub = this.useSubgroups && caps.subgroups && caps.subgroupMinSize >= 4;
    const maxLG = canSub ? Math.min(32, caps.subgroupMinSize) : 32;
    const budget = t.maxRegs ?? 32;
    const NT = t.workgroupSize ?? 128;
    const U = t.keysPerStep ?? (R > 8 ? 1 : 2);
    const base = { R, E: s.E, Ev: s.Ev, NT, U, BC: t.tile ?? 64, prefetch: t.prefetch ?? true };
    let LG = t.lanes;
    if (LG === undefined) {
      // widen the lane groups while that lowers the registers a lane holds: within a subgroup
      // first (shuffles), beyond it (workgroup-memory sums) only where registers would spill
      const D4 = Math.ceil(Math.max(s.E, s.Ev) / 4);
      const regs = (lg: number) => decodeRegs({ ...base, LG: lg, subgroups: false });
      let lg = 4;
      const widen = (limit: number, target: number) => {
        while (lg < limit && lg < NT && lg < D4 && regs(lg) > target) lg *= 2;
      };
      widen(maxLG, budget);
      if (regs(lg) > 2 * budget) widen(32, 2 * budget);
      // beyond twice the budget registers spill: leave it to the split-mode forward template
      if (regs(lg) > 2 * budget) return undefined;
      LG = lg;
    }
    const c: DecodeConfig = { ...base, LG, subgroups: canSub && LG <= caps.subgroupMinSize };
    const err = checkDecodeConfig(c);
    if (err) throw new UnsupportedError(`decode tuning: ${err}`);
    if (c.NT > caps.maxInvocations || decodeSmem(c) > caps.maxWorkgroupStorage) {
      if (t.lanes !== undefined || t.workgroupSize !== undefined) throw new UnsupportedError(`decode config ${JSON.stringify(c)} exceeds the device's workgroup limits`);
      return undefined;
    }
    return c;
  }

  backwardConfig(E: number, Ev: number): BackwardConfig {
    for (const T of [64, 32, 16, 8, 4]) {
      const c = { T, E, Ev };
      if (T <= this.caps.maxInvocations && backwardSmem(c) <= this.caps.maxWorkgroupStorage) return c;
    }
    throw new UnsupportedError(`no backward tile fits at E=${E}, Ev=${Ev}`);
  }

  /**
   * Which decode kernel a problem goes to: 'lanes' (decode.ts), 'tiles' (the forward template's
   * split mode) or none (the forward kernel). Decoding applies to few query rows per kv head
   * (group·Lq ≤ maxRows) when the mask's table is shared by all heads (H = 1); automatically when
   * Lkv ≥ 128 and the forward kernel would leave most of its BR-row tiles empty.
   */
  decodeKind(s: AttentionShape, maskH: number | undefined): 'lanes' | 'tiles' | undefined {
    if (this.splitKv === false) return undefined;
    if (maskH !== undefined && maskH !== 1) return undefined;
    const t = this.tuning.decode ?? {};
    const rows = (s.Hq / s.Hkv) * s.Lq;
    if (rows > (t.maxRows ?? 16)) return undefined;
    if (this.splitKv !== true && s.Lkv < 128) return undefined;
    if (t.kernel !== 'tiles' && this.decodeConfig(s)) return 'lanes';
    if (rows > this.forwardConfig(s.E, s.Ev, 'split').BR) return undefined;
    if (this.splitKv === true || t.kernel === 'tiles') return 'tiles';
    // the split-mode template pays only where the forward grid is small
    const fwd = this.forwardConfig(s.E, s.Ev);
    return s.Lkv >= 256 && s.B * s.Hq * Math.ceil(s.Lq / fwd.BR) < 512 ? 'tiles' : undefined;
  }

  /** Whether a problem goes to a split-KV decode kernel. */
  useSplit(s: AttentionShape, maskH: number | undefined): boolean {
    return this.decodeKind(s, maskH) !== undefined;
  }

  /** How many KV splits for a row of `maxTiles` tiles of `tile` keys over B·Hkv (kv head, batch) pairs. */
  decodeSplits(s: AttentionShape, maxTiles: number, tile: number): { splits: number; tilesPerSplit: number } {
    const t = this.tuning.decode ?? {};
    const minTiles = Math.max(1, Math.ceil((t.minKeysPerSplit ?? 256) / tile));
    let splits = t.splits ?? Math.ceil((t.targetWorkgroups ?? 2048) / (s.B * s.Hkv));
    if (t.splits === undefined) splits = Math.min(splits, Math.floor(maxTiles / minTiles));
    splits = Math.max(1, Math.min(splits, maxTiles, this.caps.maxWorkgroupsPerDim));
    const tilesPerSplit = Math.ceil(maxTiles / splits);
    return { splits: Math.ceil(maxTiles / tilesPerSplit), tilesPerSplit };
  }
}
