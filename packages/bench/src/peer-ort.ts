/**
 * `--peer ort`: onnxruntime-web's WebGPU execution provider in this Node process, on the same Dawn
 * GPUDevice as our WebGPU backend. It runs the `com.microsoft` MultiHeadAttention contrib op (ORT's
 * fused flash-attention WGSL kernel) from a one-node model written in JS (onnx-model.ts).
 *
 * What it can compare: mods noop and causal (`unidirectional`), forward only, f32 only (the WebGPU EP
 * has no bf16; a bf16 case runs in f32 and says so). It has no score functions (a bias would be a
 * materialized Lq×Lkv tensor), no block sparsity and no backward pass: other mods get a per-case
 * error saying so. GQA cases run with K/V heads repeated on the host (MultiHeadAttention has no GQA).
 *
 * Like every backend here, ORT is checked against the float64 reference first (reduced shape) and
 * not timed when out of tolerance. Time: `session.run` on GPU-resident inputs and outputs, batches of
 * runs closed by one `queue.onSubmittedWorkDone()` (run() returns before the GPU is done), divided by
 * the batch size, with GPU timestamps around ORT's compute passes where the device has
 * `timestamp-query` — the same scheme as our WebGPU backend's measure().
 *
 * Two fixes make ORT work on dawn.node, both applied only to the device *view* handed to ORT (a
 * Proxy; our backend keeps using the device itself):
 * - ORT's wasm memory is a SharedArrayBuffer and dawn.node's `queue.writeBuffer` rejects views on one
 *   ("Invalid argument"): those uploads are copied into a plain buffer first.
 * - This Dawn's Tint emits a function-scope `var x : T;` declared inside a loop as a SPIR-V variable
 *   zero-initialized once at function entry, not on every iteration as WGSL requires. ORT's flash
 *   attention relies on the per-iteration zero (`var qk_1 : vec4<f32>;` then `qk_1[0] += …` in the
 *   key loop) and is wrong without it (max abs error ~1e-2 on lavapipe for L ≥ 32). `zeroInitLocals`
 *   gives every such declaration an explicit `= T()`, which is what WGSL means anyway.
 *   `FLEXATTN_ORT_RAW_WGSL=1` turns this off (to see the failure).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { PassTimer, timestampTotalMs } from '@flexattn/backend-webgpu';
import { DEFAULT_TOLERANCE } from '@flexattn/ir/testing';
import { type BenchCase, type Shape, shapeText } from './cases';
import { compareClose, createReferenceBackend, randomTensor, type Tensor, toFloat64 } from './deps';
import { multiHeadAttentionModel } from './onnx-model';
import type { PeerCaseResult, PeerRun } from './peer';
import { buildProblem, reducedShape } from './problem';
import { stats } from './stats';

type Ort = typeof import('onnxruntime-web/webgpu');
type OrtSession = Awaited<ReturnType<Ort['InferenceSession']['create']>>;

/** The parts of WebGPU used here (the bench does not depend on @webgpu/types). */
interface GpuBufferLike {
  destroy(): void;
}
interface GpuQueueLike {
  writeBuffer(buffer: GpuBufferLike, offset: number, data: ArrayBufferLike | ArrayBufferView, dataOffset?: number, size?: number): void;
  onSubmittedWorkDone(): Promise<void>;
}
interface GpuComputePassDesc {
  timestampWrites?: unknown;
  [k: string]: unknown;
}
interface GpuEncoderLike {
  beginComputePass(desc?: GpuComputePassDesc): unknown;
  resolveQuerySet(querySet: unknown, first: number, count: number, destination: GpuBufferLike, offset: number): void;
  copyBufferToBuffer(src: GpuBufferLike, srcOffset: number, dst: GpuBufferLike, dstOffset: number, size: number): void;
  finish(): unknown;
}
export interface GpuDeviceLike {
  readonly queue: GpuQueueLike & { submit(buffers: unknown[]): void };
  readonly features?: { has(name: string): boolean };
  createBuffer(desc: { size: number; usage: number }): GpuBufferLike;
  createShaderModule(desc: { code: string }): unknown;
  createCommandEncoder(desc?: object): GpuEncoderLike;
  createQuerySet?(desc: { type: 'timestamp'; count: number }): { destroy(): void };
  destroy?(): void;
}

/** Where ORT runs: a device (ideally our WebGPU backend's) and the GPU object it came from. */
export interface OrtTarget {
  device: GpuDeviceLike;
  /** Dawn's `GPU`; ORT asks `navigator.gpu` for an adapter even when handed a device. */
  gpu?: unknown;
  description?: string;
  /** Destroy the device when the peer is done (it was created for the peer). */
  owned?: boolean;
}

const STORAGE = 0x80, COPY_SRC = 0x04, COPY_DST = 0x08;
export const ORT_WASM = 'ort-wasm-simd-threaded.asyncify.wasm';
export const ORT_MODS = ['noop', 'causal'] as const;

/**
 * ORT's WebAssembly binary (the asyncify build, which holds the C++ WebGPU EP): `$FLEXATTN_ORT_DIR`,
 * else `ort/` next to this module (the bundle's layout), else the installed onnxruntime-web. A `.gz`
 * next to or instead of it is read too.
 */
export function findOrtWasm(): string | undefined {
  const dirs: (string | undefined)[] = [process.env.FLEXATTN_ORT_DIR];
  try {
    dirs.push(join(dirname(fileURLToPath(import.meta.url)), 'ort'));
  } catch {
    // no file URL (never in Node)
  }
  try {
    dirs.push(dirname(createRequire(import.meta.url).resolve('onnxruntime-web/webgpu')));
  } catch {
    // not installed (the bundle: ort/ next to it instead)
  }
  for (const d of dirs) {
    if (!d) continue;
    for (const f of [ORT_WASM, `${ORT_WASM}.gz`]) if (existsSync(join(d, f))) return join(d, f);
  }
  return undefined;
}

/** `var x : T;` → `var x : T = T();` (see the header: Tint does not re-zero loop-scoped vars). */
export function zeroInitLocals(code: string): string {
  return code.replace(/\bvar\s+([A-Za-z_]\w*)\s*:\s*([^;=]+?)\s*;/g, 'var $1 : $2 = $2();');
}

/**
 * GPU timestamps around ORT's compute passes: our WebGPU backend's own PassTimer and trust rule
 * (timestampTotalMs). While installed on the device view, every compute pass ORT begins gets
 * `timestampWrites`; a batch's device time is the sum of its passes' durations.
 */
function passTimer(device: GpuDeviceLike): PassTimer | undefined {
  if (!device.createQuerySet || !device.features?.has('timestamp-query')) return undefined;
  return new PassTimer(device as never, 4096);
}

/**
 * A view of `device` for ORT: SharedArrayBuffer uploads copied, WGSL locals zero-initialized, and
 * compute passes timed while `hooks.timer` is set.
 */
export function deviceForOrt(device: GpuDeviceLike, opts: { zeroInit?: boolean; hooks?: { timer?: PassTimer } } = {}): GpuDeviceLike {
  const queue = device.queue;
  const writeBuffer = (buffer: GpuBufferLike, offset: number, data: ArrayBufferLike | ArrayBufferView, dataOffset?: number, size?: number) => {
    if (typeof SharedArrayBuffer !== 'undefined') {
      if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
        // typed arrays count dataOffset/size in elements; the copy is bytes
        const el = (data as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
        const copy = new Uint8Array(data.byteLength);
        copy.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        return queue.writeBuffer(buffer, offset, copy, (dataOffset ?? 0) * el, size === undefined ? undefined : size * el);
      }
      if (data instanceof SharedArrayBuffer) return queue.writeBuffer(buffer, offset, new Uint8Array(data).slice(), dataOffset, size);
    }
    return queue.writeBuffer(buffer, offset, data, dataOffset, size);
  };
  const forward = (target: object, overrides: Record<string | symbol, unknown>) =>
    new Proxy(target, {
      get(t, p) {
        if (p in overrides) return overrides[p];
        const v = Reflect.get(t, p, t) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
      set(t, p, v) {
        return Reflect.set(t, p, v, t);
      },
    });
  const queueView = forward(queue, { writeBuffer });
  const createCommandEncoder = (desc?: object) => {
    const enc = device.createCommandEncoder(desc);
    const hooks = opts.hooks;
    if (!hooks) return enc;
    return forward(enc, {
      beginComputePass: (d: GpuComputePassDesc = {}) => {
        const w = !d.timestampWrites && hooks.timer ? hooks.timer.writes() : undefined;
        return enc.beginComputePass(w ? { ...d, timestampWrites: w } : d);
      },
    });
  };
  const overrides: Record<string, unknown> = { queue: queueView, createCommandEncoder };
  if (opts.zeroInit !== false) overrides.createShaderModule = (desc: { code: string }) => device.createShaderModule({ ...desc, code: zeroInitLocals(desc.code) });
  return forward(device, overrides) as GpuDeviceLike;
}

function provideNavigatorGpu(gpu: unknown): void {
  if (!gpu) return;
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu) return;
  try {
    if (g.navigator) {
      Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
      return;
    }
  } catch {
    // a navigator that takes no new properties: replace it below
  }
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

let ortLoad: Promise<{ ort: Ort; wasm: string }> | undefined;
/** Imports ORT once per process (after `navigator.gpu` exists) with its wasm binary in memory. */
function loadOrt(gpu: unknown): Promise<{ ort: Ort; wasm: string }> {
  provideNavigatorGpu(gpu);
  ortLoad ??= (async () => {
    const wasm = findOrtWasm();
    if (!wasm) throw new Error(`${ORT_WASM} not found: set FLEXATTN_ORT_DIR to a folder holding it (or ${ORT_WASM}.gz), or install onnxruntime-web`);
    let ort: Ort;
    try {
      ort = await import('onnxruntime-web/webgpu');
    } catch (err) {
      throw new Error(`onnxruntime-web could not be imported (an optional dependency of @flexattn/bench): ${err instanceof Error ? err.message : String(err)}`);
    }
    const bytes = readFileSync(wasm);
    const binary = wasm.endsWith('.gz') ? gunzipSync(bytes) : bytes;
    ort.env.wasm.numThreads = 1; // no worker threads
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmBinary = binary.buffer.slice(binary.byteOffset, binary.byteOffset + binary.byteLength) as ArrayBuffer;
    ort.env.logLevel = 'error';
    return { ort, wasm };
  })();
  ortLoad.catch(() => (ortLoad = undefined));
  return ortLoad;
}

const f32 = (t: Tensor): Float32Array => (t.dtype === 'f32' ? (t.data as Float32Array) : Float32Array.from(toFloat64(t)));

/** ORT's MultiHeadAttention on one device: host tensors [B, H, L, D] in, [B, Hq, Lq, Dv] out. */
export class OrtAttention {
  private readonly sessions = new Map<string, Promise<OrtSession>>();
  private readonly hooks: { timer?: PassTimer } = {};
  private readonly ortDevice: GpuDeviceLike;
  readonly version: string;

  private constructor(
    private readonly ort: Ort,
    private readonly device: GpuDeviceLike,
    readonly wasm: string,
    readonly zeroInit: boolean,
  ) {
    this.version = ort.env.versions?.web ?? 'unknown';
    this.ortDevice = deviceForOrt(device, { zeroInit, hooks: this.hooks });
  }

  static async create(target: OrtTarget, opts: { zeroInit?: boolean } = {}): Promise<OrtAttention> {
    const zeroInit = opts.zeroInit ?? process.env.FLEXATTN_ORT_RAW_WGSL !== '1';
    const { ort, wasm } = await loadOrt(target.gpu);
    return new OrtAttention(ort, target.device, wasm, zeroInit);
  }

  /** One session per head layout and mask; batch and lengths stay symbolic. */
  private session(heads: number, E: number, Ev: number, causal: boolean): Promise<OrtSession> {
    const key = `${heads}|${E}|${Ev}|${causal}`;
    let s = this.sessions.get(key);
    if (!s) {
      const model = multiHeadAttentionModel({ B: 'B', heads, Lq: 'Lq', Lkv: 'Lkv', headDim: E, vHeadDim: Ev, scale: 1 / Math.sqrt(E), causal });
      s = this.ort.InferenceSession.create(model, {
        executionProviders: [{ name: 'webgpu', device: this.ortDevice as never }],
        preferredOutputLocation: 'gpu-buffer',
      });
      s.catch(() => this.sessions.delete(key));
      this.sessions.set(key, s);
    }
    return s;
  }

  /** [B, H, L, D] → a GPU buffer [B, L, heads·D], each of the H heads repeated heads/H times. */
  private upload(t: Tensor, heads: number): { buffer: GpuBufferLike; dims: number[] } {
    const [B, H, L, D] = t.shape as [number, number, number, number];
    const src = f32(t);
    const rep = heads / H;
    const dst = new Float32Array(B * L * heads * D);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < heads; h++) {
        const hs = Math.floor(h / rep);
        for (let l = 0; l < L; l++) {
          const from = ((b * H + hs) * L + l) * D;
          dst.set(src.subarray(from, from + D), ((b * L + l) * heads + h) * D);
        }
      }
    const buffer = this.device.createBuffer({ size: dst.byteLength, usage: STORAGE | COPY_SRC | COPY_DST });
    this.device.queue.writeBuffer(buffer, 0, dst);
    return { buffer, dims: [B, L, heads * D] };
  }

  private async prepare(q: Tensor, k: Tensor, v: Tensor, causal: boolean) {
    const [, Hq, , E] = q.shape as [number, number, number, number];
    const Ev = v.shape[3]!;
    if (Hq % k.shape[1]! !== 0) throw new Error(`query heads ${Hq} are not a multiple of kv heads ${k.shape[1]}`);
    const session = await this.session(Hq, E, Ev, causal);
    const ins = { q: this.upload(q, Hq), k: this.upload(k, Hq), v: this.upload(v, Hq) };
    const feeds = Object.fromEntries(Object.entries(ins).map(([name, x]) => [name, this.ort.Tensor.fromGpuBuffer(x.buffer as never, { dataType: 'float32', dims: x.dims })]));
    const release = () => Object.values(ins).forEach((x) => x.buffer.destroy());
    return { session, feeds, release };
  }

  /** One forward pass, read back as [B, Hq, Lq, Ev]. */
  async forward(q: Tensor, k: Tensor, v: Tensor, causal: boolean): Promise<Float32Array> {
    const [B, Hq, Lq] = q.shape as [number, number, number, number];
    const Ev = v.shape[3]!;
    const { session, feeds, release } = await this.prepare(q, k, v, causal);
    try {
      const res = await session.run(feeds);
      const blh = (await res.out!.getData(true)) as Float32Array; // [B, Lq, Hq·Ev]; getData(true) releases it
      for (const [name, t] of Object.entries(res)) if (name !== 'out') t.dispose();
      const out = new Float32Array(B * Hq * Lq * Ev);
      for (let b = 0; b < B; b++)
        for (let l = 0; l < Lq; l++)
          for (let h = 0; h < Hq; h++) {
            const from = ((b * Lq + l) * Hq + h) * Ev;
            out.set(blh.subarray(from, from + Ev), ((b * Hq + h) * Lq + l) * Ev);
          }
      return out;
    } finally {
      release();
    }
  }

  /**
   * Milliseconds per `session.run` on GPU-resident inputs and outputs, like our WebGPU backend's
   * measure(): after warm-up, each sample is a batch of runs (sized to ~200 ms, at most 16) closed
   * by one onSubmittedWorkDone. With `timestamp-query`, a sample is the summed duration of ORT's
   * compute passes per run (timer 'gpu-timestamps'); without it, or when any sample's timestamps
   * look wrong, the wall time of the batches per run (timer 'wall').
   */
  async time(q: Tensor, k: Tensor, v: Tensor, causal: boolean, warmup: number, iterations: number): Promise<{ ms: number[]; batch: number; timer: 'gpu-timestamps' | 'wall' }> {
    const { session, feeds, release } = await this.prepare(q, k, v, causal);
    let timer: PassTimer | undefined;
    try {
      const once = async () => {
        const res = await session.run(feeds);
        for (const t of Object.values(res)) t.dispose();
      };
      let single = Infinity;
      for (let i = 0; i < Math.max(1, warmup); i++) {
        const t0 = performance.now();
        await once();
        await this.device.queue.onSubmittedWorkDone();
        single = Math.min(single, performance.now() - t0);
      }
      const batch = Math.max(1, Math.min(16, Math.ceil(200 / Math.max(single, 1e-3))));
      timer = passTimer(this.device);
      const wall: number[] = [];
      const gpu: number[] = [];
      let timestampsOk = !!timer;
      for (let i = 0; i < iterations; i++) {
        timer?.reset();
        this.hooks.timer = timer;
        const t0 = performance.now();
        try {
          for (let j = 0; j < batch; j++) await once();
        } finally {
          this.hooks.timer = undefined;
        }
        await this.device.queue.onSubmittedWorkDone();
        const w = performance.now() - t0;
        wall.push(w / batch);
        if (timer && timestampsOk) {
          const ms = timer.overflow ? undefined : timestampTotalMs(await timer.read(), timer.pairs, w)?.ms;
          if (ms === undefined) timestampsOk = false;
          else gpu.push(ms / batch);
        }
      }
      return timestampsOk && gpu.length === wall.length ? { ms: gpu, batch, timer: 'gpu-timestamps' } : { ms: wall, batch, timer: 'wall' };
    } finally {
      timer?.destroy();
      release();
    }
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await s.then((x) => x.release()).catch(() => undefined);
  }
}

/** Why ORT cannot run a case as flexattn defines it, or undefined when it can. */
export function ortUnsupported(c: BenchCase): string | undefined {
  if (!(ORT_MODS as readonly string[]).includes(c.mod)) return `onnxruntime-web has no equivalent of ${c.mod}`;
  if (c.mod === 'causal' && c.shape.Lq !== c.shape.Lkv) return 'causal with Lq ≠ Lkv: ORT aligns the diagonal to the end of the keys, flexattn to the start';
  return undefined;
}

export interface OrtPeerOptions {
  pass: 'fwd' | 'bwd' | 'both';
  warmup: number;
  iterations: number;
  onProgress?: (done: number, total: number, label: string) => void;
  /** Apply the WGSL zero-init fix (default: unless FLEXATTN_ORT_RAW_WGSL=1). */
  zeroInit?: boolean;
}

const reference = createReferenceBackend();

/** Checks ORT against the reference on the case's reduced shape (B ≤ 2, so batching is covered too). */
async function verifyOrt(ort: OrtAttention, c: BenchCase): Promise<PeerCaseResult & { ok: boolean }> {
  const shape: Shape = { ...reducedShape(c.shape, c.kind), B: Math.min(c.shape.B, 2) };
  const p = buildProblem({ mod: c.mod, dtype: 'f32', blockSize: c.blockSize }, shape, 101);
  const want = await reference.flexAttention(p.q, p.k, p.v, { ...p.options, returnLse: false });
  const got = await ort.forward(p.q, p.k, p.v, c.mod === 'causal');
  const cmp = compareClose(got, want.out, DEFAULT_TOLERANCE.f32.forward);
  const res = { ok: cmp.ok, maxAbsError: cmp.maxAbsError, maxRelError: cmp.maxRelError };
  if (cmp.ok) return res;
  return { ...res, error: `out of tolerance on ${shapeText(shape)}: ${cmp.mismatches} element(s) off, max abs err ${cmp.maxAbsError.toExponential(1)}` };
}

/** Runs the cases ORT can express; the others get an error saying why. */
export async function runOrtPeer(cases: readonly BenchCase[], target: OrtTarget | (() => Promise<OrtTarget>), opts: OrtPeerOptions): Promise<PeerRun> {
  const run: PeerRun = { name: 'ort', byId: new Map() };
  if (opts.pass === 'bwd') return { ...run, error: 'onnxruntime-web has no backward pass (--pass bwd)' };
  let t: OrtTarget | undefined;
  let ort: OrtAttention;
  try {
    t = typeof target === 'function' ? await target() : target;
    ort = await OrtAttention.create(t, { zeroInit: opts.zeroInit });
  } catch (err) {
    if (t?.owned) t.device.destroy?.();
    return { ...run, error: `onnxruntime-web could not start: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
  }
  run.info =
    `onnxruntime-web ${ort.version} WebGPU EP (com.microsoft MultiHeadAttention, f32, inputs/outputs in GPU buffers) on ${t.description ?? 'a Dawn device'}; ` +
    `wasm ${ort.wasm}${ort.zeroInit ? '; ORT WGSL given explicit zero-inits for loop-scoped vars (Dawn/Tint workaround)' : '; raw ORT WGSL'}`;
  try {
    let done = 0;
    for (const c of cases) {
      opts.onProgress?.(done++, cases.length, `ort: ${c.id}`);
      const why = ortUnsupported(c);
      if (why) {
        run.byId.set(c.id, { error: why });
        continue;
      }
      const notes: string[] = [];
      if (c.dtype !== 'f32') notes.push(`f32 (case ${c.dtype})`);
      if (c.shape.Hq !== c.shape.Hkv) notes.push(`K/V heads repeated ×${c.shape.Hq / c.shape.Hkv} (MultiHeadAttention has no GQA)`);
      if (opts.pass === 'both') notes.push('forward only');
      try {
        const check = await verifyOrt(ort, c);
        const { ok: _ok, ...checked } = check;
        if (!check.ok) {
          run.byId.set(c.id, { ...checked, note: notes.join('; ') || undefined });
          continue;
        }
        const s = c.shape;
        const q = randomTensor([s.B, s.Hq, s.Lq, s.E], 'f32', 7);
        const k = randomTensor([s.B, s.Hkv, s.Lkv, s.E], 'f32', 8);
        const v = randomTensor([s.B, s.Hkv, s.Lkv, s.Ev], 'f32', 9);
        const timed = await ort.time(q, k, v, c.mod === 'causal', opts.warmup, opts.iterations);
        notes.push(`${timed.timer}, batches of ${timed.batch} runs`);
        run.byId.set(c.id, { ...checked, fwdMs: stats(timed.ms).median, note: notes.join('; ') });
      } catch (err) {
        run.byId.set(c.id, { error: err instanceof Error ? err.message.split('\n')[0] : String(err), note: notes.join('; ') || undefined });
      }
    }
    opts.onProgress?.(cases.length, cases.length, 'ort: done');
  } finally {
    await ort.dispose();
    if (t.owned) t.device.destroy?.();
  }
  return run;
}

/**
 * The device for `--peer ort`: our WebGPU backend's when it is loaded (both then run on one device),
 * else one of its own from Dawn (`$DAWN_NODE` or the `webgpu` package).
 */
export async function ortTarget(webgpuBackend: unknown, dawnGpu: () => unknown): Promise<OrtTarget> {
  const b = webgpuBackend as { device?: GpuDeviceLike; ctx?: { gpu?: unknown }; deviceDescription?: string } | undefined;
  const navigatorGpu = (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu;
  if (b?.device) return { device: b.device, gpu: b.ctx?.gpu ?? navigatorGpu ?? dawnGpu(), description: "the webgpu backend's device" };
  const mod = (await import('@flexattn/backend-webgpu')) as unknown as {
    acquireDevice(opts?: object): Promise<{ device: GpuDeviceLike; gpu?: unknown; adapterName: string }>;
  };
  const gpu = dawnGpu();
  const ctx = await mod.acquireDevice(gpu ? { gpu } : {});
  return { device: ctx.device, gpu: ctx.gpu ?? gpu, description: `its own Dawn device (${ctx.adapterName})`, owned: true };
}
