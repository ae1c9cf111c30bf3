// The CUDA FlexAttentionBackend: validates, renders the mods into a prelude, compiles
// prelude + kernels/*.cuh with NVRTC (cached in memory and on disk), reblocks the user's BlockMask
// into each kernel's tile units, packs the by-value argument structs and launches.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BackendUnavailableError,
  CapturedTensor,
  FULL,
  PARTIAL,
  ceilDiv,
  checkBackwardInputs,
  resolveAttention,
  tablesFromDense,
  type AttentionProblem,
  type BlockMask,
  type FlexAttentionBackend,
  type FlexAttentionGrads,
  type FlexAttentionOptions,
  type FlexAttentionResult,
  type MeasureResult,
  type MeasureSpec,
  type ModParam,
  type Tensor,
  type TracedMod,
} from '@flexattn/ir';
import { CompileCache, nvrtcCompiler } from './compile-cache.js';
import { bwdConfig, configDefines, decodeConfig, fwdConfig, lightMods, useDecode, type BwdConfig, type FwdConfig } from './config.js';
import { CU, loadCudaNative, smArch, type CudaDeviceInfo, type CudaNative, type CuFunction, type CuModule, type DevicePtr } from './native.js';
import { packBwdArgs, packDecodeArgs, packFwdArgs, packModParams, type DeviceBlockTable, type Dims } from './kernel-args.js';
import { fa3TensorMaps } from './tensor-maps.js';
import { isIdentityScoreMod, renderPrelude, type RenderedPrelude } from './renderer.js';

export interface CudaBackendOptions {
  /** CUDA device ordinal (default 0). */
  device?: number;
  /** Compiled-kernel cache folder (default: FLEXATTN_CUDA_CACHE or ~/.cache/flexattn/cuda); false: memory only. */
  cacheDir?: string | false;
  /** Folder with cuda_bf16.h for NVRTC (default: FLEXATTN_CUDA_INCLUDE, CUDA_HOME/include, /usr/local/cuda/include, …). */
  cudaInclude?: string;
  /**
   * The Hopper (sm_90a) forward body for head dims 64 and 128: 'persistent' (the default:
   * kernels/flex_fwd_fa3.cuh, a TMA producer warpgroup and ping-ponging consumer warpgroups) or
   * 'per-cta' (kernels/flex_fwd_wg.cuh, the earlier body), for comparisons and the conformance
   * suite of both.
   */
  hopperForward?: 'persistent' | 'per-cta';
}

/**
 * NVRTC flags besides the arch and include path. Division is the approximate div.full.f32 (≤ 2 ulp),
 * as in Triton's (and so PyTorch FlexAttention's) generated code; IEEE division costs a slow path
 * per element.
 */
// -default-device: NVRTC (unlike nvcc) treats unannotated functions, generic lambdas included, as host code.
/** See RenderOptions.indexLimit: shapes below it share one source; longer ones get the plain casts. */
const INDEX_LIMIT = 2 ** 22;

export const COMPILE_OPTIONS = ['-std=c++17', '--prec-div=false', '-default-device', '-diag-suppress=177'];

/**
 * Folders that may hold the CUDA headers the kernels include (cuda_bf16.h, cuda_fp16.h). NVRTC 13
 * has no built-in copy of them (seen on the H100 machine: "could not open source file
 * cuda_bf16.h (no directories in search list)"), so the toolkit's include folder is passed with -I.
 */
export function cudaIncludeCandidates(env: Record<string, string | undefined> = process.env): string[] {
  const list = [
    env.FLEXATTN_CUDA_INCLUDE,
    env.CUDA_HOME && join(env.CUDA_HOME, 'include'),
    env.CUDA_PATH && join(env.CUDA_PATH, 'include'),
    '/usr/local/cuda/include',
    '/usr/local/cuda/targets/x86_64-linux/include',
    '/usr/local/cuda/targets/sbsa-linux/include',
    '/usr/include',
  ];
  for (const root of ['/usr/local/lib', '/usr/lib', '/opt/torch/.venv/lib']) {
    try {
      for (const py of readdirSync(root).filter((n) => n.startsWith('python3'))) {
        for (const site of ['dist-packages', 'site-packages']) {
          list.push(join(root, py, site, 'nvidia/cuda_runtime/include'), join(root, py, site, 'nvidia/cu13/include'));
        }
      }
    } catch {
      /* no such folder */
    }
  }
  return [...new Set(list.filter((p): p is string => !!p))];
}

/** The first candidate holding cuda_bf16.h, or a BackendUnavailableError that lists them. */
export function findCudaInclude(env: Record<string, string | undefined> = process.env): string {
  const candidates = cudaIncludeCandidates(env);
  const found = candidates.find((dir) => existsSync(join(dir, 'cuda_bf16.h')));
  if (!found) {
    throw new BackendUnavailableError(
      'The CUDA headers cuda_bf16.h / cuda_fp16.h that the kernels include were not found (NVRTC needs them on its ' +
        'include path). Set FLEXATTN_CUDA_INCLUDE or CUDA_HOME to a CUDA toolkit (its include/ folder), or ' +
        '`pip install nvidia-cuda-runtime` (its nvidia/cuda_runtime/include).',
      candidates.map((c) => `${c}: no cuda_bf16.h`),
    );
  }
  return found;
}

/** The largest head dim (E and Ev) the kernels support. */
export const MAX_HEAD_DIM = 256;

// ---------------------------------------------------------------------------------------------
// kernel sources
// ---------------------------------------------------------------------------------------------
const KERNEL_FILES = {
  // the Hopper wgmma / TMA helpers (forward and backward) travel with the shared definitions
  common: ['common.cuh', 'wgmma.cuh', 'tma.cuh'],
  fwd: ['flex_fwd.cuh', 'flex_fwd_wg.cuh', 'flex_fwd_fa3.cuh', 'flex_fwd_entry.cuh'],
  bwd: ['flex_bwd.cuh'],
  dec: ['flex_decode.cuh'],
} as const;
export type KernelKind = 'fwd' | 'bwd' | 'dec';
const ENTRY_POINTS: Record<KernelKind, readonly string[]> = {
  fwd: ['flex_fwd'],
  bwd: ['flex_bwd_preprocess', 'flex_bwd_dkdv', 'flex_bwd_dq_convert'],
  dec: ['flex_decode', 'flex_decode_merge'],
};

/** kernels/ beside src/ and dist/. */
export function kernelDir(): string {
  return fileURLToPath(new URL('../kernels/', import.meta.url));
}
type KernelTexts = Record<'common' | 'fwd' | 'bwd' | 'dec', string>;
let kernelText: KernelTexts | null = null;
function kernels(): KernelTexts {
  if (!kernelText) {
    const dir = kernelDir();
    const read = (files: readonly string[]) => files.map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
    kernelText = { common: read(KERNEL_FILES.common), fwd: read(KERNEL_FILES.fwd), bwd: read(KERNEL_FILES.bwd), dec: read(KERNEL_FILES.dec) };
  }
  return kernelText;
}
/** A hash of the kernel templates: part of every compile-cache key. */
export function templateVersion(): string {
  const k = kernels();
  return createHash('sha256').update(k.common).update(k.fwd).update(k.bwd).update(k.dec).digest('hex').slice(0, 16);
}
/** The full source NVRTC compiles: prelude + common.cuh + the kernel file(s) of `kinds`. */
export function kernelSource(prelude: string, kinds: KernelKind | readonly KernelKind[]): string {
  const k = kernels();
  const files = (typeof kinds === 'string' ? [kinds] : kinds).map((kind) => k[kind]);
  return [prelude, k.common, ...files, ''].join('\n');
}

// ---------------------------------------------------------------------------------------------
// block tables in kernel tile units
// ---------------------------------------------------------------------------------------------

/**
 * Classes of the kernel's TM x TN tiles from the user's blocks: a tile is empty when every user
 * block it overlaps is empty, full when every one is full, else partial. Exact when kernel tiles
 * nest inside user blocks (the default 128-blocks and every kernel tile here).
 */
export function reblock(mask: BlockMask, tm: number, tn: number): { dense: Uint8Array; qTiles: number; kvTiles: number } {
  const [Lq, Lkv] = mask.seqLengths;
  const [bq, bk] = mask.blockSize;
  const src = mask.toDense();
  const uq = ceilDiv(Lq, bq);
  const uk = ceilDiv(Lkv, bk);
  const qTiles = ceilDiv(Lq, tm);
  const kvTiles = ceilDiv(Lkv, tn);
  const planes = mask.B * mask.H;
  const dense = new Uint8Array(planes * qTiles * kvTiles);
  for (let pl = 0; pl < planes; pl++)
    for (let i = 0; i < qTiles; i++) {
      const q0 = Math.floor((i * tm) / bq);
      const q1 = Math.floor((Math.min(Lq, (i + 1) * tm) - 1) / bq);
      for (let j = 0; j < kvTiles; j++) {
        const k0 = Math.floor((j * tn) / bk);
        const k1 = Math.floor((Math.min(Lkv, (j + 1) * tn) - 1) / bk);
        let any = false;
        let all = true;
        for (let a = q0; a <= q1; a++)
          for (let c = k0; c <= k1; c++) {
            const cls = src[(pl * uq + a) * uk + c]!;
            if (cls !== 0) any = true;
            if (cls !== FULL) all = false;
          }
        dense[(pl * qTiles + i) * kvTiles + j] = !any ? 0 : all ? FULL : PARTIAL;
      }
    }
  return { dense, qTiles, kvTiles };
}

// ---------------------------------------------------------------------------------------------
// device memory for one call
// ---------------------------------------------------------------------------------------------
class Scope {
  private readonly ptrs: DevicePtr[] = [];
  constructor(private readonly n: CudaNative) {}
  alloc(bytes: number): DevicePtr {
    const p = this.n.alloc(Math.max(256, bytes));
    this.ptrs.push(p);
    return p;
  }
  upload(data: ArrayBufferView): DevicePtr {
    const p = this.alloc(data.byteLength);
    if (data.byteLength) this.n.copyHtoD(p, data);
    return p;
  }
  zeros(bytes: number): DevicePtr {
    const p = this.alloc(bytes);
    this.n.memsetD8(p, 0, Math.max(256, bytes));
    return p;
  }
  free(): void {
    for (const p of this.ptrs.splice(0)) this.n.free(p);
  }
}

function hostTensor(dtype: Tensor['dtype'], shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: dtype === 'f32' ? new Float32Array(n) : new Uint16Array(n), shape, dtype };
}

interface LoadedModule {
  module: CuModule;
  fns: Record<string, CuFunction>;
}

interface Plan {
  p: AttentionProblem;
  scoreMod: TracedMod | undefined;
  maskMod: TracedMod | undefined;
  fwd: FwdConfig;
  bwd: BwdConfig;
  rendered: RenderedPrelude;
  decRows: number;
}

// ---------------------------------------------------------------------------------------------
export class CudaBackend implements FlexAttentionBackend {
  readonly name = 'cuda';
  readonly arch: string;
  private readonly cache: CompileCache;
  private readonly modules = new Map<string, Promise<LoadedModule>>();
  private disposed = false;
  /** The CUDA include folder passed to NVRTC (found lazily, at the first compile). */
  private include: string | undefined;
  private readonly hopperBody: 'fa3' | 'wg';

  constructor(
    private readonly native: CudaNative,
    readonly device: CudaDeviceInfo,
    options: CudaBackendOptions = {},
  ) {
    this.include = options.cudaInclude;
    this.hopperBody = options.hopperForward === 'per-cta' ? 'wg' : 'fa3';
    this.arch = smArch(device.computeCapability);
    this.cache = new CompileCache({
      compile: nvrtcCompiler(native),
      cacheDir: options.cacheDir === undefined ? undefined : options.cacheDir,
    });
  }

  /** The device for reports (the bench's header): `CUDA NVIDIA H100 80GB HBM3 (sm_90a, 132 SMs, 79.2 GiB)`. */
  get deviceDescription(): string {
    const { name, smCount, totalMem } = this.device;
    return `CUDA ${name} (${this.arch}, ${smCount} SMs, ${(totalMem / 2 ** 30).toFixed(1)} GiB)`;
  }

  private get includeDir(): string {
    this.include ??= findCudaInclude();
    return this.include;
  }

  private plan(p: AttentionProblem, decodeRowsTotal: number): Plan {
    const scoreMod = p.scoreMod;
    const maskMod = p.blockMask?.maskMod;
    const fwd = fwdConfig(p.dtype, p.E, p.Ev, {
      identityScore: isIdentityScoreMod(scoreMod),
      lightMods: lightMods(scoreMod, maskMod),
      hopper: this.arch === 'sm_90a',
      hopperBody: this.hopperBody,
    });
    const bwd = bwdConfig(p.dtype, p.E, p.Ev);
    const decRows = decodeConfig(p.dtype, p.E, p.Ev, decodeRowsTotal).rows;
    // indices (plus a tile of overhang past the end) below 2^22: fast int→float casts of index arithmetic
    const indexLimit = Math.max(p.B, p.Hq, p.Lq, p.Lkv) + 256 <= INDEX_LIMIT ? INDEX_LIMIT : undefined;
    const rendered = renderPrelude({ dtype: p.dtype, E: p.E, Ev: p.Ev, scoreMod, maskMod, defines: configDefines(fwd, bwd, decRows), indexLimit });
    return { p, scoreMod, maskMod, fwd, bwd, rendered, decRows };
  }

  private async module(plan: Plan, kind: KernelKind, smem: Record<string, number>): Promise<LoadedModule> {
    const source = kernelSource(plan.rendered.prelude, kind);
    const key = createHash('sha256').update(source).digest('hex');
    let m = this.modules.get(key);
    if (!m) {
      m = (async () => {
        const image = await this.cache.get(source, {
          arch: this.arch,
          templateVersion: templateVersion(),
          options: [...COMPILE_OPTIONS, `--include-path=${this.includeDir}`],
          name: `flexattn_${kind}.cu`,
          key: { kind },
        });
        const module = this.native.moduleLoad(image);
        const fns: Record<string, CuFunction> = {};
        for (const name of ENTRY_POINTS[kind]) {
          const fn = this.native.moduleGetFunction(module, name);
          const bytes = smem[name] ?? 0;
          if (bytes > 48 * 1024) this.native.funcSetAttribute(fn, CU.FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
          fns[name] = fn;
        }
        return { module, fns };
      })();
      m.catch(() => this.modules.delete(key));
      this.modules.set(key, m);
    }
    return m;
  }

  private uploadCaptures(scope: Scope, mod: TracedMod | undefined, withGrads: boolean) {
    const ptrs = new Map<number, DevicePtr>();
    const grads = new Map<number, { ptr: DevicePtr; bytes: number }>();
    mod?.captures.forEach((c: ModParam, slot) => {
      if (!(c instanceof CapturedTensor)) return;
      ptrs.set(slot, scope.upload(c.data));
      if (withGrads && c.requiresGrad) grads.set(slot, { ptr: scope.zeros(c.data.length * 4), bytes: c.data.length * 4 });
    });
    return { ptrs, grads };
  }

  private modParams(plan: Plan, scope: Scope, withGrads: boolean) {
    const s = this.uploadCaptures(scope, plan.scoreMod, withGrads);
    const m = this.uploadCaptures(scope, plan.maskMod, false);
    const sp = packModParams(plan.rendered.scoreLayout, plan.scoreMod?.captures ?? [], (i) => s.ptrs.get(i)!, (i) => s.grads.get(i)?.ptr ?? null);
    const mp = packModParams(plan.rendered.maskLayout, plan.maskMod?.captures ?? [], (i) => m.ptrs.get(i)!, () => null);
    return { sp, mp, grads: s.grads };
  }

  private table(scope: Scope, mask: BlockMask | undefined, tm: number, tn: number, kvMajor: boolean): DeviceBlockTable | null {
    if (!mask) return null;
    const { dense, qTiles, kvTiles } = reblock(mask, tm, tn);
    const t = tablesFromDense(dense, mask.B, mask.H, qTiles, kvTiles);
    return kvMajor
      ? { numBlocks: scope.upload(t.qNumBlocks), indices: scope.upload(t.qIndices), fullNumBlocks: scope.upload(t.fullQNumBlocks), fullIndices: scope.upload(t.fullQIndices), mB: mask.B, mH: mask.H, outer: kvTiles, inner: qTiles }
      : { numBlocks: scope.upload(t.kvNumBlocks), indices: scope.upload(t.kvIndices), fullNumBlocks: scope.upload(t.fullKvNumBlocks), fullIndices: scope.upload(t.fullKvIndices), mB: mask.B, mH: mask.H, outer: qTiles, inner: kvTiles };
  }

  private check(): void {
    if (this.disposed) throw new Error('this CUDA backend was disposed');
  }

  /** Uploads inputs, builds tables and args, loads the kernels; `launch` queues the forward. */
  private async prepareForward(q: Tensor, k: Tensor, v: Tensor, options: FlexAttentionOptions, scope: Scope) {
    const p = resolveAttention(q, k, v, options, MAX_HEAD_DIM);
    const plan = this.plan(p, p.groupSize * p.Lq);
    const n = this.native;
    const dims: Dims = { B: p.B, Hq: p.Hq, Hkv: p.Hkv, Lq: p.Lq, Lkv: p.Lkv, scale: p.scale };
    const dq = scope.upload(q.data);
    const dk = scope.upload(k.data);
    const dv = scope.upload(v.data);
    const out = hostTensor(p.dtype, [p.B, p.Hq, p.Lq, p.Ev]);
    const lse = hostTensor('f32', [p.B, p.Hq, p.Lq]);
    const dOut = scope.alloc(out.data.byteLength);
    const dLse = scope.alloc(lse.data.byteLength);
    const { sp, mp } = this.modParams(plan, scope, false);
    let launch: () => void;
    if (useDecode(p.Lq, p.Lkv, p.groupSize)) {
      const cfg = decodeConfig(p.dtype, p.E, p.Ev, p.groupSize * p.Lq);
      const rowGroups = ceilDiv(p.groupSize * p.Lq, cfg.rows);
      const ctasPerSplit = p.B * p.Hkv * rowGroups;
      let splits = Math.min(Math.max(1, ceilDiv(2 * this.device.smCount, ctasPerSplit)), ceilDiv(p.Lkv, cfg.bn));
      splits = Math.max(splits, ceilDiv(p.Lkv, cfg.bn * cfg.maxTiles));
      const keysPerSplit = ceilDiv(ceilDiv(p.Lkv, splits), cfg.bn) * cfg.bn;
      splits = ceilDiv(p.Lkv, keysPerSplit);
      const rows = p.B * p.Hq * p.Lq;
      const mask = p.blockMask;
      const classes = mask
        ? { cls: scope.upload(mask.toDense()), mB: mask.B, mH: mask.H, qBlocks: ceilDiv(p.Lq, mask.blockSize[0]), kvBlocks: ceilDiv(p.Lkv, mask.blockSize[1]), blockQ: mask.blockSize[0], blockKv: mask.blockSize[1] }
        : null;
      const args = packDecodeArgs({
        ...dims, q: dq, k: dk, v: dv, out: dOut, lse: dLse,
        partO: scope.alloc(splits * rows * p.Ev * 4), partLse: scope.alloc(splits * rows * 4),
        numSplits: splits, keysPerSplit, classes,
      });
      const m = await this.module(plan, 'dec', { flex_decode: cfg.smemBytes });
      launch = () => {
        n.launch(m.fns.flex_decode!, [splits, p.Hkv * rowGroups, p.B], [cfg.threads, 1, 1], cfg.smemBytes, 0n, [args, sp, mp]);
        n.launch(m.fns.flex_decode_merge!, [rows, 1, 1], [128, 1, 1], 0, 0n, [args]);
      };
    } else {
      const c = plan.fwd;
      const table = this.table(scope, p.blockMask, c.bm, c.bn, false);
      // K and V are contiguous [B, Hkv, Lkv, E]: one batch after the other
      const kvBatchStrides = [p.Hkv * p.Lkv * p.E, p.Hkv * p.Lkv * p.Ev] as const;
      const args = packFwdArgs({ ...dims, q: dq, k: dk, v: dv, out: dOut, lse: dLse, table, kvBatchStrides });
      const m = await this.module(plan, 'fwd', { flex_fwd: c.smemBytes });
      if (c.fa3 && p.dtype !== 'f32') {  // (fwdConfig gives f32 its SIMT body)
        // persistent: one CTA per SM at most, each walks its share of the (q tile, head, batch) tiles
        const maps = fa3TensorMaps(n, { ...dims, dtype: p.dtype, q: dq, k: dk, v: dv, E: p.E, Ev: p.Ev, kvBatchStrides, bm: c.bm, bn: c.bn });
        const ctas = Math.min(ceilDiv(p.Lq, c.bm) * p.Hq * p.B, this.device.smCount);
        launch = () => n.launch(m.fns.flex_fwd!, [ctas, 1, 1], [c.threads, 1, 1], c.smemBytes, 0n, [args, sp, mp, ...maps]);
      } else {
        launch = () => n.launch(m.fns.flex_fwd!, [ceilDiv(p.Lq, c.bm), p.Hq, p.B], [c.threads, 1, 1], c.smemBytes, 0n, [args, sp, mp]);
      }
    }
    return { p, plan, out, lse, dOut, dLse, launch };
  }

  async flexAttention(q: Tensor, k: Tensor, v: Tensor, options: FlexAttentionOptions = {}): Promise<FlexAttentionResult> {
    this.check();
    const scope = new Scope(this.native);
    try {
      const f = await this.prepareForward(q, k, v, options, scope);
      f.launch();
      this.native.synchronize();
      this.native.copyDtoH(f.dOut, f.out.data);
      const result: FlexAttentionResult = { out: f.out };
      if (options.returnLse) {
        this.native.copyDtoH(f.dLse, f.lse.data);
        result.lse = f.lse;
      }
      return result;
    } finally {
      scope.free();
    }
  }

  /** Uploads inputs, builds tables and args, loads the kernels; `launch` queues the backward. */
  private async prepareBackward(
    q: Tensor, k: Tensor, v: Tensor, out: Tensor | DevicePtr, lse: Tensor | DevicePtr, dOut: Tensor,
    options: FlexAttentionOptions, scope: Scope,
  ) {
    const p = resolveAttention(q, k, v, options, MAX_HEAD_DIM);
    if (typeof out !== 'bigint' && typeof lse !== 'bigint') checkBackwardInputs(p, out, lse, dOut);
    const plan = this.plan(p, p.groupSize * p.Lq);
    const n = this.native;
    const c = plan.bwd;
    const rows = p.B * p.Hq * p.Lq;
    const dq = hostTensor(p.dtype, [p.B, p.Hq, p.Lq, p.E]);
    const dk = hostTensor(p.dtype, [p.B, p.Hkv, p.Lkv, p.E]);
    const dv = hostTensor(p.dtype, [p.B, p.Hkv, p.Lkv, p.Ev]);
    const ddq = scope.alloc(dq.data.byteLength);
    const ddk = scope.alloc(dk.data.byteLength);
    const ddv = scope.alloc(dv.data.byteLength);
    const { sp, mp, grads } = this.modParams(plan, scope, true);
    const args = packBwdArgs({
      B: p.B, Hq: p.Hq, Hkv: p.Hkv, Lq: p.Lq, Lkv: p.Lkv, scale: p.scale,
      q: scope.upload(q.data), k: scope.upload(k.data), v: scope.upload(v.data),
      out: typeof out === 'bigint' ? out : scope.upload(out.data),
      dout: scope.upload(dOut.data), lse: typeof lse === 'bigint' ? lse : scope.upload(lse.data), delta: scope.alloc(rows * 4),
      dqAccum: scope.alloc(rows * p.E * 4), dq: ddq, dk: ddk, dv: ddv,
      table: this.table(scope, p.blockMask, c.bmq, c.bn, true),
    });
    const m = await this.module(plan, 'bwd', { flex_bwd_dkdv: c.smemBytes });
    const launch = () => {
      for (const g of grads.values()) n.memsetD8(g.ptr, 0, g.bytes);
      n.launch(m.fns.flex_bwd_preprocess!, [ceilDiv(rows, 8), 1, 1], [256, 1, 1], 0, 0n, [args]);
      n.launch(m.fns.flex_bwd_dkdv!, [ceilDiv(p.Lkv, c.bn), p.Hkv, p.B], [c.threads, 1, 1], c.smemBytes, 0n, [args, sp, mp]);
      n.launch(m.fns.flex_bwd_dq_convert!, [Math.min(4096, ceilDiv(rows * p.E, 256)), 1, 1], [256, 1, 1], 0, 0n, [args]);
    };
    return { p, plan, dq, dk, dv, ddq, ddk, ddv, grads, launch };
  }

  async flexAttentionBackward(
    q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, dOut: Tensor, options: FlexAttentionOptions = {},
  ): Promise<FlexAttentionGrads> {
    this.check();
    const n = this.native;
    const scope = new Scope(n);
    try {
      const b = await this.prepareBackward(q, k, v, out, lse, dOut, options, scope);
      b.launch();
      n.synchronize();
      n.copyDtoH(b.ddq, b.dq.data);
      n.copyDtoH(b.ddk, b.dk.data);
      n.copyDtoH(b.ddv, b.dv.data);
      const captureGrads = new Map<CapturedTensor, Float32Array>();
      for (const [slot, g] of b.grads) {
        const t = b.plan.scoreMod!.captures[slot] as CapturedTensor;
        const host = new Float32Array(t.data.length);
        n.copyDtoH(g.ptr, host);
        captureGrads.set(t, host);
      }
      return { dq: b.dq, dk: b.dk, dv: b.dv, captureGrads };
    } finally {
      scope.free();
    }
  }

  /**
   * For the benchmark: inputs uploaded once, then `warmup` untimed and `iterations` timed passes,
   * each between two CUDA events. 'bwd' times the backward alone (after one forward for out/lse).
   */
  async measure(q: Tensor, k: Tensor, v: Tensor, options: FlexAttentionOptions, spec: MeasureSpec): Promise<MeasureResult> {
    this.check();
    const n = this.native;
    const scope = new Scope(n);
    const e0 = n.eventCreate();
    const e1 = n.eventCreate();
    try {
      const f = await this.prepareForward(q, k, v, { ...options, returnLse: true }, scope);
      let pass: () => void = f.launch;
      if (spec.pass !== 'fwd') {
        const dOut = spec.dOut ?? hostTensor(f.p.dtype, [f.p.B, f.p.Hq, f.p.Lq, f.p.Ev]);
        const b = await this.prepareBackward(q, k, v, f.dOut, f.dLse, dOut, options, scope);
        f.launch();
        pass = spec.pass === 'bwd' ? b.launch : () => (f.launch(), b.launch());
      }
      for (let i = 0; i < spec.warmup; i++) pass();
      n.synchronize();
      const ms: number[] = [];
      for (let i = 0; i < spec.iterations; i++) {
        n.eventRecord(e0);
        pass();
        n.eventRecord(e1);
        n.eventSynchronize(e1);
        ms.push(n.eventElapsedTime(e0, e1));
      }
      return { ms, timer: 'cuda-events' };
    } finally {
      n.synchronize();
      n.eventDestroy(e0);
      n.eventDestroy(e1);
      scope.free();
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const m of this.modules.values()) m.then((x) => this.native.moduleUnload(x.module), () => {});
    this.modules.clear();
  }
}

/**
 * The CUDA backend on `device` (default 0). Rejects with BackendUnavailableError (listing what was
 * tried and what to do) when the addon, the NVIDIA driver, a GPU or NVRTC is missing.
 */
export async function createCudaBackend(options: CudaBackendOptions = {}): Promise<FlexAttentionBackend> {
  const native = loadCudaNative();
  const device = native.init(options.device ?? 0);
  return new CudaBackend(native, device, options);
}
