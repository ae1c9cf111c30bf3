/**
 * The GPU side without the IR: pipelines (cached by kernel kind + config + hook key), buffers,
 * bind groups and dispatches. The backend (backend.ts) turns IR mods into `WgslHooks` and host
 * tensors into buffers and calls these; the phase-1 tests call them with hand-written hooks.
 */
import type { GpuContext } from './device.js';
import { CompileError, UnsupportedError } from './errors.js';
import { packParams, type ParamsValues } from './programs/common.js';
import { dkdvKernel, dqKernel, preprocessKernel, backwardSmem, type BackwardConfig } from './programs/backward.js';
import { checkDecodeConfig, decodeDims, decodeKernel, decodeRegs, decodeSmem, type DecodeConfig } from './programs/decode.js';
import { forwardDims, forwardKernel, forwardSmem, mergeKernel, usesBands, type ForwardConfig } from './programs/forward.js';
import { hasCaptureGroup, type WgslHooks } from './programs/hooks.js';
import { packTables, transposeTiles, type PackedTables } from './tables.js';
import type { PassTimer } from './timing.js';

// numeric usage flags, so nothing depends on the GPUBufferUsage global being installed
export const U = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;

export interface AttnShape {
  B: number; Hq: number; Hkv: number; Lq: number; Lkv: number; E: number; Ev: number;
}

/** A tile-class map in some kernel's tile units (0 empty, 1 partial, 2 full), or none (all full). */
export interface TileMap {
  dense: Uint8Array;
  mB: number;
  mH: number;
  /** tile sizes it was built for */
  tq: number;
  tk: number;
  /** per tile: the 2-bit classes of its row bands (tables.ts tileBands), when asked for and known */
  bands?: Uint32Array;
}

/** A problem's tile maps at the kernel's tile sizes; `bandRows`: also the band words of partial tiles. */
export type TilesFn = (tq: number, tk: number, bandRows?: number) => TileMap;

/** Where the mod's runtime values live: one buffer per captured tensor, plus the scalars' bytes. */
export interface CaptureState {
  buffers: GPUBuffer[];
  scalars?: ArrayBuffer;
  /** group-2 gradient buffers (backward), one per capture with grad */
  gradBuffers?: GPUBuffer[];
}

type BindingKind = 'uniform' | 'read' | 'rw';

/**
 * Knobs for benchmarks and sweeps (`createWebGPUBackend({ tuning })`); every field is optional
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
  /** lanes kernel: each workgroup starts its walk at a different step of its range (default false) */
  stagger?: boolean;
}

export interface ForwardTuning {
  BR?: number;
  BC?: number;
  TX?: number;
  TY?: number;
  /** row-max reduction with subgroup shuffles (default: when the adapter allows it) */
  subgroups?: boolean;
  /**
   * workgroup order: 'heads' = head by head, longest query tiles of each head first (default),
   * 'rows' = the longest query tiles of every head first. On the H100 (2026-11-25 sweep, B4 H16
   * L4096 D64) 'heads' was faster for both noop (14.4 vs 15.6 ms) and causal (8.02 vs 8.28 ms).
   */
  order?: 'rows' | 'heads';
  /** K and V tiles share one workgroup buffer (larger tiles fit at large head dims) */
  kvShared?: boolean;
  /** with kvShared: V's loads issued with K's, kept in registers across S */
  prefetchV?: boolean;
  /** per-row / per-column parts of the mods computed once, not per element (default true) */
  hoist?: boolean;
  /** partial tiles: skip the S and P·V work of row bands proven empty (default false: slower on the H100) */
  bands?: boolean;
}

interface Built {
  pipeline: GPUComputePipeline;
  layouts: GPUBindGroupLayout[];
}

export class Engine {
  readonly device: GPUDevice;
  private readonly pipelines = new Map<string, Promise<Built>>();
  private readonly owned = new Set<GPUBuffer>();
  private dummy?: GPUBuffer;

  constructor(readonly ctx: GpuContext) {
    this.device = ctx.device;
  }

  // ---------- buffers ----------
  createBuffer(bytes: number, usage = U.STORAGE | U.COPY_SRC | U.COPY_DST, label?: string): GPUBuffer {
    const size = Math.max(16, Math.ceil(bytes / 4) * 4);
    if (size > this.ctx.caps.maxBufferSize || size > this.ctx.caps.maxStorageBindingSize) {
      throw new UnsupportedError(
        `a ${size}-byte buffer exceeds this device's limits (binding ≤ ${this.ctx.caps.maxStorageBindingSize} bytes)`,
      );
    }
    const buf = this.device.createBuffer({ size, usage, label });
    this.owned.add(buf);
    return buf;
  }

  upload(data: ArrayBufferView | ArrayBuffer, usage = U.STORAGE | U.COPY_SRC | U.COPY_DST, label?: string): GPUBuffer {
    const bytes = data instanceof ArrayBuffer ? data.byteLength : data.byteLength;
    const buf = this.createBuffer(bytes, usage, label);
    const view = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    // writeBuffer wants whole words, and dawn.node rejects views of a SharedArrayBuffer: copy those
    const shared = typeof SharedArrayBuffer !== 'undefined' && view.buffer instanceof SharedArrayBuffer; // undefined in non-isolated pages
    if (view.byteLength % 4 === 0 && !shared) {
      this.device.queue.writeBuffer(buf, 0, view as Uint8Array<ArrayBuffer>);
    } else {
      const padded = new Uint8Array(Math.ceil(view.byteLength / 4) * 4);
      padded.set(view);
      this.device.queue.writeBuffer(buf, 0, padded);
    }
    return buf;
  }

  async read(buf: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({ size: Math.max(16, size), usage: U.MAP_READ | U.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(buf, 0, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(1 /* GPUMapMode.READ */);
    const out = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    staging.destroy();
    return out;
  }

  release(buf: GPUBuffer): void {
    if (this.owned.delete(buf)) buf.destroy();
  }

  dispose(): void {
    for (const b of this.owned) b.destroy();
    this.owned.clear();
    this.pipelines.clear();
    this.scratchBuffers.clear();
    this.dummy = undefined;
  }

  private readonly scratchBuffers = new Map<string, GPUBuffer>();

  /**
   * A device-only work buffer of at least `bytes`, kept for later calls instead of allocated and
   * freed per call (split-KV partials: MBs per decode step). Sharing one across calls is safe:
   * calls run in queue order and Dawn puts barriers between passes that write the same buffer.
   * Contents are garbage between calls; kernels write what they read. A larger request replaces
   * the buffer (the old one is freed once the work already queued on it is done).
   */
  private scratch(name: string, bytes: number): GPUBuffer {
    let b = this.scratchBuffers.get(name);
    if (!b || b.size < bytes) {
      if (b) this.transient.push(b);
      b = this.createBuffer(bytes, U.STORAGE, name);
      this.scratchBuffers.set(name, b);
    }
    return b;
  }

  private dummyBuffer(): GPUBuffer {
    this.dummy ??= this.createBuffer(16, U.STORAGE | U.COPY_DST, 'dummy');
    return this.dummy;
  }

  // ---------- pipelines ----------
  private layout(kinds: BindingKind[]): GPUBindGroupLayout {
    return this.device.createBindGroupLayout({
      entries: kinds.map((k, binding) => ({
        binding,
        visibility: 4 /* GPUShaderStage.COMPUTE */,
        buffer: { type: k === 'uniform' ? 'uniform' : k === 'read' ? 'read-only-storage' : 'storage' },
      })),
    });
  }

  /** Builds (once) a pipeline; `groups[i]` lists the binding kinds of bind group i. */
  pipeline(key: string, code: () => string, groups: BindingKind[][]): Promise<Built> {
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.build(key, code(), groups);
      this.pipelines.set(key, p);
      p.catch(() => this.pipelines.delete(key));
    }
    return p;
  }

  private async build(key: string, code: string, groups: BindingKind[][]): Promise<Built> {
    const device = this.device;
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code, label: key });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length) {
      await device.popErrorScope();
      const lines = code.split('\n');
      const log = errors
        .map((m) => `${m.lineNum}:${m.linePos} ${m.message}\n    ${lines[m.lineNum - 1] ?? ''}`)
        .join('\n');
      throw new CompileError(`WGSL for ${key} did not compile`, log);
    }
    const layouts = groups.map((g) => this.layout(g));
    const pipeline = await device.createComputePipelineAsync({
      layout: device.createPipelineLayout({ bindGroupLayouts: layouts }),
      compute: { module, entryPoint: 'main' },
      label: key,
    });
    const err = await device.popErrorScope();
    if (err) throw new CompileError(`pipeline ${key} failed`, err.message);
    return { pipeline, layouts };
  }

  private captureGroupKinds(hooks: WgslHooks): BindingKind[] {
    if (!hasCaptureGroup(hooks)) return [];
    return [hooks.scalars.length ? 'uniform' : 'read', ...hooks.captures.map(() => 'read' as const)];
  }

  private captureBindGroup(layout: GPUBindGroupLayout, hooks: WgslHooks, st: CaptureState): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = [];
    if (hooks.scalars.length) {
      const bytes = Math.max(16, Math.ceil((st.scalars?.byteLength ?? 0) / 16) * 16);
      const buf = this.createBuffer(bytes, U.UNIFORM | U.COPY_DST, 'scalars');
      if (st.scalars) this.device.queue.writeBuffer(buf, 0, st.scalars);
      this.transient.push(buf);
      entries.push({ binding: 0, resource: { buffer: buf } });
    } else {
      entries.push({ binding: 0, resource: { buffer: this.dummyBuffer() } });
    }
    hooks.captures.forEach((_, i) => entries.push({ binding: i + 1, resource: { buffer: st.buffers[i]! } }));
    return this.device.createBindGroup({ layout, entries });
  }

  /** Per-call buffers (params, tables, scalars) freed after the next submit completes. */
  private transient: GPUBuffer[] = [];

  private uniform(p: ParamsValues): GPUBuffer {
    const buf = this.createBuffer(80, U.UNIFORM | U.COPY_DST, 'params');
    this.device.queue.writeBuffer(buf, 0, packParams(p));
    this.transient.push(buf);
    return buf;
  }

  private tablesBuffer(t: PackedTables | undefined): GPUBuffer {
    if (!t) return this.dummyBuffer();
    const buf = this.upload(t.data, U.STORAGE | U.COPY_DST, 'tables');
    this.transient.push(buf);
    return buf;
  }

  /** While set (measure()), every compute pass the engine encodes is timed with GPU timestamps. */
  timer?: PassTimer;

  private beginPass(enc: GPUCommandEncoder): GPUComputePassEncoder {
    const timestampWrites = this.timer?.writes();
    return timestampWrites ? enc.beginComputePass({ timestampWrites }) : enc.beginComputePass();
  }

  /** Submits and, once the GPU is done with them, frees the per-call buffers. */
  submit(enc: GPUCommandEncoder): Promise<void> {
    const bufs = this.transient;
    this.transient = [];
    this.device.queue.submit([enc.finish()]);
    return this.device.queue.onSubmittedWorkDone().then(() => bufs.forEach((b) => this.release(b)));
  }

  // ---------- kernel configs ----------
  /** tests flip this to run both reduction variants */
  useSubgroups = true;
  /** benchmarks may pin a config */
  forwardOverride?: (E: number, Ev: number) => Omit<ForwardConfig, 'E' | 'Ev' | 'mode'> | undefined;
  /** split-KV decoding: undefined = automatic, false = never, true = whenever it applies */
  splitKv?: boolean;
  /** sweep knobs (see `Tuning`) */
  tuning: Tuning = {};

  private fits(c: ForwardConfig): boolean {
    return c.TX * c.TY <= this.ctx.caps.maxInvocations && forwardSmem(c) <= this.ctx.caps.maxWorkgroupStorage;
  }

  private sub(TX: number): boolean {
    const caps = this.ctx.caps;
    return this.useSubgroups && caps.subgroups && caps.subgroupMinSize >= TX;
  }

  forwardConfig(E: number, Ev: number, mode: 'forward' | 'split' = 'forward'): ForwardConfig {
    if (E > 256 || Ev > 256) throw new UnsupportedError(`head dims up to 256 (got E=${E}, Ev=${Ev})`);
    const pinned = mode === 'forward' ? this.forwardOverride?.(E, Ev) : undefined;
    if (pinned) return { order: this.tuning.forward?.order, ...pinned, E, Ev, mode };
    const ft = mode === 'forward' ? this.tuning.forward : undefined;
    if (ft && (ft.BR ?? ft.BC ?? ft.TX ?? ft.TY) !== undefined) {
      const auto = this.autoForwardConfig(E, Ev, mode);
      const c: ForwardConfig = {
        ...auto, BR: ft.BR ?? auto.BR, BC: ft.BC ?? auto.BC, TX: ft.TX ?? auto.TX, TY: ft.TY ?? auto.TY,
        order: ft.order, kvShared: ft.kvShared, prefetchV: ft.prefetchV, hoist: ft.hoist, bands: ft.bands,
      };
      c.subgroups = ft.subgroups ?? this.sub(c.TX);
      if (c.subgroups && !this.sub(c.TX)) throw new UnsupportedError(`subgroup reduction needs subgroups of at least TX=${c.TX} lanes`);
      if (c.BR % c.TY || c.BC % c.TX) throw new UnsupportedError(`tile ${c.BR}x${c.BC} is not divisible by TY=${c.TY} / TX=${c.TX}`);
      if (!this.fits(c)) throw new UnsupportedError(`forward tile ${c.BR}x${c.BC}/${c.TX}x${c.TY} needs ${forwardSmem(c)} bytes of workgroup memory or too many invocations`);
      return c;
    }
    const c = this.autoForwardConfig(E, Ev, mode);
    if (ft?.subgroups === false) c.subgroups = false;
    if (ft?.order) c.order = ft.order;
    if (ft?.kvShared) Object.assign(c, { kvShared: true, prefetchV: ft.prefetchV });
    if (ft) Object.assign(c, { hoist: ft.hoist, bands: ft.bands });
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
    throw new UnsupportedError(`no ${mode} tile fits ${this.ctx.caps.maxWorkgroupStorage} bytes of workgroup memory at E=${E}, Ev=${Ev}`);
  }

  /**
   * The decode kernel's config for a shape, or undefined when it does not apply (too many rows
   * per kv head, or no lane count keeps the registers within reach).
   */
  decodeConfig(s: AttnShape): DecodeConfig | undefined {
    const t = this.tuning.decode ?? {};
    const caps = this.ctx.caps;
    const R = (s.Hq / s.Hkv) * s.Lq;
    if (!Number.isInteger(R) || R > (t.maxRows ?? 16)) return undefined;
    const canSub = this.useSubgroups && caps.subgroups && caps.subgroupMinSize >= 4;
    const maxLG = canSub ? Math.min(32, caps.subgroupMinSize) : 32;
    const budget = t.maxRegs ?? 32;
    const NT = t.workgroupSize ?? 128;
    const U = t.keysPerStep ?? (R > 8 ? 1 : 2);
    const base = { R, E: s.E, Ev: s.Ev, NT, U, BC: t.tile ?? 64, prefetch: t.prefetch ?? true, stagger: t.stagger ?? false };
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
      if (T <= this.ctx.caps.maxInvocations && backwardSmem(c) <= this.ctx.caps.maxWorkgroupStorage) return c;
    }
    throw new UnsupportedError(`no backward tile fits at E=${E}, Ev=${Ev}`);
  }

  private fwdGroups(hooks: WgslHooks, outs: number): BindingKind[][] {
    return [
      ['uniform', 'read', 'read', 'read', 'read', ...Array<BindingKind>(outs).fill('rw')],
      ...(hasCaptureGroup(hooks) ? [this.captureGroupKinds(hooks)] : []),
    ];
  }

  private bind(layout: GPUBindGroupLayout, buffers: GPUBuffer[]): GPUBindGroup {
    return this.device.createBindGroup({ layout, entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) });
  }

  private packed(map: TileMap | undefined, rows: number, cols: number): PackedTables | undefined {
    return map ? packTables(map.dense, map.mB, map.mH, rows, cols, map.bands) : undefined;
  }

  private tableParams(packed: PackedTables | undefined) {
    return {
      hasMask: !!packed, mB: packed?.mB ?? 1, mH: packed?.mH ?? 1,
      offNum: packed?.offNum ?? 0, offIdx: packed?.offIdx ?? 0,
      offFullNum: packed?.offFullNum ?? 0, offFullIdx: packed?.offFullIdx ?? 0, offBands: packed?.offBands ?? 0,
    };
  }

  /**
   * Which decode kernel a problem goes to: 'lanes' (decode.ts), 'tiles' (the forward template's
   * split mode) or none (the forward kernel). Decoding applies to few query rows per kv head
   * (group·Lq ≤ maxRows) when the mask's table is shared by all heads (H = 1); automatically when
   * Lkv ≥ 128 and the forward kernel would leave most of its BR-row tiles empty.
   */
  decodeKind(s: AttnShape, maskH: number | undefined): 'lanes' | 'tiles' | undefined {
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
  useSplit(s: AttnShape, maskH: number | undefined): boolean {
    return this.decodeKind(s, maskH) !== undefined;
  }

  // ---------- forward ----------
  async forward(a: {
    shape: AttnShape;
    scale: number;
    q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; out: GPUBuffer; lse: GPUBuffer;
    hooks: WgslHooks;
    captures: CaptureState;
    /** tile map for the chosen tile sizes; undefined = no block mask */
    tiles?: TilesFn;
    /** the mask's H (split-KV needs 1) */
    maskH?: number;
    encoder?: GPUCommandEncoder;
  }): Promise<void> {
    const s = a.shape;
    const enc = a.encoder ?? this.device.createCommandEncoder();
    const kind = this.decodeKind(s, a.tiles ? (a.maskH ?? 1) : undefined);
    if (kind === 'lanes') await this.encodeDecode(a, enc, this.decodeConfig(s)!);
    else if (kind === 'tiles') await this.encodeSplit(a, enc);
    else {
      const cfg = this.forwardConfig(s.E, s.Ev);
      // 'rows': workgroup (b·Hq + h, longest-first q tile), so every head's longest rows start first
      const rowsFirst = cfg.order === 'rows' && s.B * s.Hq <= this.ctx.caps.maxWorkgroupsPerDim;
      cfg.order = rowsFirst ? 'rows' : 'heads';
      const kv = cfg.kvShared ? (cfg.prefetchV ? 'kvp' : 'kv') : '';
      const banded = usesBands(cfg);
      const partials = `${cfg.hoist === false ? '' : 'h'}${banded ? 'b' : ''}`;
      const key = `fwd:${cfg.BR}x${cfg.BC}/${cfg.TX}x${cfg.TY}:${s.E}:${s.Ev}:${cfg.subgroups ? 's' : ''}:${cfg.order}:${kv}:${partials}:${a.hooks.key}`;
      const built = await this.pipeline(key, () => forwardKernel(cfg, a.hooks), this.fwdGroups(a.hooks, 2));
      const qTiles = Math.ceil(s.Lq / cfg.BR);
      const kvTiles = Math.ceil(s.Lkv / cfg.BC);
      const packed = this.packed(a.tiles?.(cfg.BR, cfg.BC, banded ? cfg.TY : undefined), qTiles, kvTiles);
      const params = this.uniform({
        B: s.B, Hq: s.Hq, Hkv: s.Hkv, Lq: s.Lq, Lkv: s.Lkv, group: s.Hq / s.Hkv, scale: a.scale,
        qTiles, kvTiles, ...this.tableParams(packed),
      });
      const pass = this.beginPass(enc);
      pass.setPipeline(built.pipeline);
      pass.setBindGroup(0, this.bind(built.layouts[0]!, [params, this.tablesBuffer(packed), a.q, a.k, a.v, a.out, a.lse]));
      if (hasCaptureGroup(a.hooks)) pass.setBindGroup(1, this.captureBindGroup(built.layouts[1]!, a.hooks, a.captures));
      const grid: [number, number, number] = rowsFirst ? [s.B * s.Hq, qTiles, 1] : [qTiles, s.Hq, s.B];
      this.checkDispatch(...grid);
      pass.dispatchWorkgroups(...grid);
      pass.end();
    }
    if (!a.encoder) await this.submit(enc);
  }

  /** How many KV splits for a row of `maxTiles` tiles of `tile` keys over B·Hkv (kv head, batch) pairs. */
  decodeSplits(s: AttnShape, maxTiles: number, tile: number): { splits: number; tilesPerSplit: number } {
    const t = this.tuning.decode ?? {};
    const minTiles = Math.max(1, Math.ceil((t.minKeysPerSplit ?? 256) / tile));
    let splits = t.splits ?? Math.ceil((t.targetWorkgroups ?? 2048) / (s.B * s.Hkv));
    if (t.splits === undefined) splits = Math.min(splits, Math.floor(maxTiles / minTiles));
    splits = Math.max(1, Math.min(splits, maxTiles, this.ctx.caps.maxWorkgroupsPerDim));
    const tilesPerSplit = Math.ceil(maxTiles / splits);
    return { splits: Math.ceil(maxTiles / tilesPerSplit), tilesPerSplit };
  }

  private async encodeDecode(a: Parameters<Engine['forward']>[0], enc: GPUCommandEncoder, cfg: DecodeConfig): Promise<void> {
    const s = a.shape;
    const { EV4 } = decodeDims(cfg);
    const key = `decode:${cfg.R}:${cfg.LG}:${cfg.NT}:${cfg.U}:${cfg.BC}:${s.E}:${s.Ev}:${cfg.subgroups ? 's' : ''}${cfg.prefetch ? 'p' : ''}${cfg.stagger ? 'r' : ''}:${a.hooks.key}`;
    const built = await this.pipeline(key, () => decodeKernel(cfg, a.hooks), this.fwdGroups(a.hooks, 2));
    const kvTiles = Math.ceil(s.Lkv / cfg.BC);
    const packed = this.packed(a.tiles?.(s.Lq, cfg.BC), 1, kvTiles);
    const maxTiles = packed ? Math.max(1, packed.maxTiles) : kvTiles;
    const { splits, tilesPerSplit } = this.decodeSplits(s, maxTiles, cfg.BC);
    await this.encodeSplitKv(a, enc, { built, rowSlots: cfg.R, width4: EV4, rows: cfg.R, kvTiles, packed, splits, tilesPerSplit, label: 'decode' });
  }

  private checkDispatch(...dims: number[]): void {
    if (dims.some((d) => d > this.ctx.caps.maxWorkgroupsPerDim)) {
      throw new UnsupportedError(`dispatch [${dims.join(', ')}] exceeds ${this.ctx.caps.maxWorkgroupsPerDim} workgroups per dimension`);
    }
  }

  private async encodeSplit(a: Parameters<Engine['forward']>[0], enc: GPUCommandEncoder): Promise<void> {
    const s = a.shape;
    const cfg = this.forwardConfig(s.E, s.Ev, 'split');
    const { V4 } = forwardDims(cfg);
    const key = `split:${cfg.BR}x${cfg.BC}/${cfg.TX}x${cfg.TY}:${s.E}:${s.Ev}:${cfg.subgroups ? 's' : ''}:${a.hooks.key}`;
    const built = await this.pipeline(key, () => forwardKernel(cfg, a.hooks), this.fwdGroups(a.hooks, 2));
    const kvTiles = Math.ceil(s.Lkv / cfg.BC);
    const packed = this.packed(a.tiles?.(s.Lq, cfg.BC), 1, kvTiles);
    const maxTiles = packed ? Math.max(1, packed.maxTiles) : kvTiles;
    // aim for ~1024 workgroups in all, at least 2 tiles each
    const want = Math.max(1, Math.ceil(1024 / (s.B * s.Hkv)));
    const splits0 = Math.min(want, Math.max(1, Math.floor(maxTiles / 2)));
    const tilesPerSplit = Math.ceil(maxTiles / splits0);
    const splits = Math.ceil(maxTiles / tilesPerSplit);
    const rows = (s.Hq / s.Hkv) * s.Lq;
    await this.encodeSplitKv(a, enc, { built, rowSlots: cfg.BR, width4: V4, rows, kvTiles, packed, splits, tilesPerSplit, label: 'split' });
  }

  /**
   * The split-KV pass both decoding kernels share: workgroup (split, kv head, b) writes an
   * unnormalized partial (o, m, l) per row slot, then mergeKernel combines the splits by lse.
   */
  private async encodeSplitKv(
    a: Parameters<Engine['forward']>[0],
    enc: GPUCommandEncoder,
    k: {
      built: Built;
      /** row slots per workgroup (the partials' row stride) and vec4 columns per partial row */
      rowSlots: number;
      width4: number;
      /** rows actually used: (query head of the group, query index) pairs */
      rows: number;
      kvTiles: number;
      packed: PackedTables | undefined;
      splits: number;
      tilesPerSplit: number;
      label: string;
    },
  ): Promise<void> {
    const s = a.shape;
    const merge = await this.pipeline(`merge:${s.Ev}:${k.rowSlots}:${k.width4}`, () => mergeKernel(s.Ev, k.rowSlots, k.width4), [
      ['uniform', 'read', 'read', 'rw', 'rw'],
    ]);
    const partial = this.scratch('split-KV partials', s.B * s.Hkv * k.splits * k.rowSlots * k.width4 * 16);
    const ml = this.scratch('split-KV m,l', s.B * s.Hkv * k.splits * k.rowSlots * 8);
    const params = this.uniform({
      B: s.B, Hq: s.Hq, Hkv: s.Hkv, Lq: s.Lq, Lkv: s.Lkv, group: s.Hq / s.Hkv, scale: a.scale,
      qTiles: 1, kvTiles: k.kvTiles, ...this.tableParams(k.packed), splits: k.splits, tilesPerSplit: k.tilesPerSplit, rows: k.rows,
    });
    const pass = this.beginPass(enc);
    pass.setPipeline(k.built.pipeline);
    pass.setBindGroup(0, this.bind(k.built.layouts[0]!, [params, this.tablesBuffer(k.packed), a.q, a.k, a.v, partial, ml]));
    if (hasCaptureGroup(a.hooks)) pass.setBindGroup(1, this.captureBindGroup(k.built.layouts[1]!, a.hooks, a.captures));
    this.checkDispatch(k.splits, s.Hkv, s.B);
    pass.dispatchWorkgroups(k.splits, s.Hkv, s.B);
    pass.setPipeline(merge.pipeline);
    pass.setBindGroup(0, this.bind(merge.layouts[0]!, [params, partial, ml, a.out, a.lse]));
    const mergeGroups = Math.ceil((s.B * s.Hq * s.Lq * Math.ceil(s.Ev / 4)) / 64);
    this.checkDispatch(mergeGroups);
    pass.dispatchWorkgroups(mergeGroups);
    pass.end();
  }

  // ---------- backward ----------
  async backward(a: {
    shape: AttnShape;
    scale: number;
    q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; out: GPUBuffer; lse: GPUBuffer; dOut: GPUBuffer;
    dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer;
    hooks: WgslHooks;
    captures: CaptureState;
    tiles?: TilesFn;
    encoder?: GPUCommandEncoder;
  }): Promise<void> {
    const s = a.shape;
    const cfg = this.backwardConfig(s.E, s.Ev);
    const T = cfg.T;
    const rows = s.B * s.Hq * s.Lq;
    const qTiles = Math.ceil(s.Lq / T);
    const kvTiles = Math.ceil(s.Lkv / T);
    const capGroup = hasCaptureGroup(a.hooks) ? [this.captureGroupKinds(a.hooks)] : [];
    const gradCaps = a.hooks.captures.filter((c) => c.grad).length;
    const pre = await this.pipeline(`pre:${s.Ev}`, () => preprocessKernel(s.Ev), [['uniform', 'read', 'read', 'rw']]);
    const dqP = await this.pipeline(`dq:${T}:${s.E}:${s.Ev}:${a.hooks.key}`, () => dqKernel(cfg, a.hooks), [
      ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'read', 'rw'],
      ...capGroup,
    ]);
    const groups: BindingKind[][] = [['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'read', 'rw', 'rw'], ...capGroup];
    if (gradCaps) {
      if (!capGroup.length) groups.push(['read']);
      groups.push(Array<BindingKind>(gradCaps).fill('rw'));
    }
    const dkvP = await this.pipeline(`dkdv:${T}:${s.E}:${s.Ev}:${a.hooks.key}`, () => dkdvKernel(cfg, a.hooks), groups);
    const map = a.tiles?.(T, T);
    const fwdTables = this.packed(map, qTiles, kvTiles);
    const bwdTables = map ? packTables(transposeTiles(map.dense, map.mB, map.mH, qTiles, kvTiles), map.mB, map.mH, kvTiles, qTiles) : undefined;
    const base = { B: s.B, Hq: s.Hq, Hkv: s.Hkv, Lq: s.Lq, Lkv: s.Lkv, group: s.Hq / s.Hkv, scale: a.scale };
    const pq = this.uniform({ ...base, qTiles, kvTiles, ...this.tableParams(fwdTables) });
    const pk = this.uniform({ ...base, qTiles: kvTiles, kvTiles: qTiles, ...this.tableParams(bwdTables) });
    const delta = this.createBuffer(rows * 4, U.STORAGE, 'delta');
    this.transient.push(delta);
    const enc = a.encoder ?? this.device.createCommandEncoder();
    const pass = this.beginPass(enc);
    pass.setPipeline(pre.pipeline);
    pass.setBindGroup(0, this.bind(pre.layouts[0]!, [pq, a.out, a.dOut, delta]));
    pass.dispatchWorkgroups(Math.ceil(rows / 64));
    const capBg = capGroup.length ? this.captureBindGroup(dqP.layouts[1]!, a.hooks, a.captures) : undefined;
    pass.setPipeline(dqP.pipeline);
    pass.setBindGroup(0, this.bind(dqP.layouts[0]!, [pq, this.tablesBuffer(fwdTables), a.q, a.k, a.v, a.dOut, a.lse, delta, a.dq]));
    if (capBg) pass.setBindGroup(1, capBg);
    this.checkDispatch(qTiles, s.Hq, s.B);
    pass.dispatchWorkgroups(qTiles, s.Hq, s.B);
    pass.setPipeline(dkvP.pipeline);
    pass.setBindGroup(0, this.bind(dkvP.layouts[0]!, [pk, this.tablesBuffer(bwdTables), a.q, a.k, a.v, a.dOut, a.lse, delta, a.dk, a.dv]));
    if (capGroup.length) pass.setBindGroup(1, this.captureBindGroup(dkvP.layouts[1]!, a.hooks, a.captures));
    else if (gradCaps) pass.setBindGroup(1, this.bind(dkvP.layouts[1]!, [this.dummyBuffer()]));
    if (gradCaps) pass.setBindGroup(2, this.bind(dkvP.layouts[2]!, a.captures.gradBuffers ?? []));
    pass.dispatchWorkgroups(kvTiles, s.Hkv, s.B);
    pass.end();
    if (!a.encoder) await this.submit(enc);
  }
}
