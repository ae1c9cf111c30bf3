// The typed binding over flexattn_cuda.node (native/): finds and loads the addon, decides where
// to look for libcuda and NVRTC (the addon only dlopens the list it is given), and turns every
// way of "cannot run here" into one BackendUnavailableError that says what was tried and what to
// do. The CUDA backend talks to the GPU through `CudaNative` alone.
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, homedir, platform } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackendUnavailableError, CompileError } from './native-errors.js';

/** Handles are the driver's own 64-bit values; 0n is the legacy default stream. */
export type DevicePtr = bigint;
export type CuStream = bigint;
export type CuEvent = bigint;
export type CuModule = bigint;
export type CuFunction = bigint;
/** Host memory the driver reads or writes: any TypedArray, Buffer, DataView or ArrayBuffer. */
export type HostData = ArrayBufferView | ArrayBuffer;

export interface CudaDeviceInfo {
  ordinal: number;
  name: string;
  computeCapability: [number, number];
  totalMem: number;
  smCount: number;
}

/** What the addon found; never throws for a missing library. */
export interface CudaProbe {
  driverLoaded: boolean;
  driverPath: string | null;
  driverTried: string[];
  nvrtcLoaded: boolean;
  nvrtcPath: string | null;
  nvrtcTried: string[];
  /** driverTried and nvrtcTried together, each prefixed with its library. */
  tried: string[];
  /** As cuDriverGetVersion reports it: 13000 is CUDA 13.0; 0 when the driver is absent. */
  driverVersion: number;
  nvrtcVersion: [number, number] | null;
  /** cuInit or device enumeration failure text, e.g. CUDA_ERROR_NO_DEVICE. */
  initError: string | null;
  devices: CudaDeviceInfo[];
}

export interface CompileOutput {
  /** A cubin when options name a real arch (sm_90, sm_90a), else NUL-terminated PTX text. */
  cubin: Uint8Array;
  format: 'cubin' | 'ptx';
  log: string;
  /** nameExpression -> mangled symbol, for template kernels. */
  loweredNames: Record<string, string>;
}

export interface CompileExtras {
  /** Virtual headers: include name -> source text (the kernels/*.cuh templates). */
  headers?: Record<string, string>;
  /** C++ names (e.g. `flex_fwd<128, true>`) whose mangled symbols to return in loweredNames. */
  nameExpressions?: string[];
}

export interface KernelParamInfo {
  offset: number;
  size: number;
}

export type Dim3 = readonly [number, number, number];

/** Streams and events: the same calls on the raw addon and on the typed binding. */
export interface CudaStreamsAndEvents {
  /** Flags default to a blocking stream, so it stays ordered with synchronous copies. */
  streamCreate(flags?: number): CuStream;
  streamDestroy(stream: CuStream): void;
  streamSynchronize(stream: CuStream): void;
  eventCreate(flags?: number): CuEvent;
  eventRecord(event: CuEvent, stream?: CuStream): void;
  eventSynchronize(event: CuEvent): void;
  /** Milliseconds between two recorded, completed events. */
  eventElapsedTime(start: CuEvent, end: CuEvent): number;
  eventDestroy(event: CuEvent): void;
}

/** Modules, functions and launches: the same calls on the raw addon and on the typed binding. */
export interface CudaModulesAndLaunches {
  moduleLoad(image: HostData): CuModule;
  moduleUnload(module: CuModule): void;
  moduleGetFunction(module: CuModule, name: string): CuFunction;
  funcSetAttribute(fn: CuFunction, attribute: number, value: number): void;
  funcGetAttribute(fn: CuFunction, attribute: number): number;
  /** Per-parameter offsets and sizes (driver >= CUDA 12.4), else null. */
  funcGetParamInfo(fn: CuFunction): KernelParamInfo[] | null;
  /**
   * Launches `fn`; args[i] holds parameter i's raw bytes (pointers 8, ints/floats 4, structs as
   * laid out in C). Where the driver can tell, the sizes are checked against the kernel's own.
   */
  launch(fn: CuFunction, grid: Dim3, block: Dim3, sharedBytes: number, stream: CuStream, args: HostData[]): void;
  /**
   * A TMA tensor map (CUtensorMap, 128 bytes) to pass as a kernel parameter: `dims` and `box`
   * innermost first, `strides` the byte strides of dims 1..rank-1; zero fill outside the tensor.
   */
  tensorMapEncodeTiled(dataType: number, address: DevicePtr, dims: number[], strides: number[], box: number[], swizzle: number): ArrayBuffer;
}

/** The raw addon surface (native/*.cc). Prefer CudaNative. */
export interface NativeAddon extends CudaStreamsAndEvents, CudaModulesAndLaunches {
  abiVersion: number;
  probe(driverCandidates?: string[], nvrtcCandidates?: string[]): CudaProbe;
  init(device: number): void;
  deviceGetAttribute(device: number, attribute: number): number;
  memGetInfo(): { free: number; total: number };
  synchronize(): void;
  alloc(bytes: number | bigint): DevicePtr;
  free(ptr: DevicePtr): void;
  memsetD8(ptr: DevicePtr, value: number, bytes: number | bigint, stream?: CuStream): void;
  copyHtoD(dst: DevicePtr, src: HostData, stream?: CuStream): void;
  copyDtoH(src: DevicePtr, dst: HostData, stream?: CuStream): void;
  copyDtoD(dst: DevicePtr, src: DevicePtr, bytes: number | bigint, stream?: CuStream): void;
  compile(
    source: string,
    name: string,
    options: string[],
    headers?: Record<string, string>,
    nameExpressions?: string[],
  ): Promise<CompileOutput>;
}

const ADDON_ABI_VERSION = 2;
const ADDON_FILE = 'flexattn_cuda.node';

/** Raw CUDA enum values the backend needs (cuda.h names). */
export const CU = {
  STREAM_DEFAULT: 0,
  STREAM_NON_BLOCKING: 1,
  EVENT_DEFAULT: 0,
  EVENT_BLOCKING_SYNC: 1,
  EVENT_DISABLE_TIMING: 2,
  FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: 0,
  FUNC_ATTRIBUTE_SHARED_SIZE_BYTES: 1,
  FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES: 3,
  FUNC_ATTRIBUTE_NUM_REGS: 4,
  FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: 8,
  DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: 1,
  DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: 8,
  DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: 16,
  DEVICE_ATTRIBUTE_L2_CACHE_SIZE: 38,
  DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: 75,
  DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: 76,
  DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR: 81,
  DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: 97,
  TENSOR_MAP_DATA_TYPE_FLOAT16: 6,
  TENSOR_MAP_DATA_TYPE_BFLOAT16: 9,
  TENSOR_MAP_SWIZZLE_128B: 3,
} as const;

// ---------------------------------------------------------------- where to look

type Env = Record<string, string | undefined>;

/**
 * The addon files to try, in order: FLEXATTN_CUDA_ADDON, one beside this module (a bundle carries
 * it there), then the package's own as node-gyp-build picks it — a from-source build (build/Release,
 * e.g. after `npm rebuild`) before the prebuilt one for this platform (prebuilds/<platform>-<arch>/,
 * shipped in the package). `here` is this module's folder (src/, dist/ or a bundle's).
 */
export function addonCandidates(env: Env = process.env, here = moduleDir()): string[] {
  const list = [env.FLEXATTN_CUDA_ADDON, join(here, ADDON_FILE), ...packagedAddon(join(here, '..'))];
  return [...new Set(list.filter((p): p is string => !!p))];
}

/** The package's addon as node-gyp-build resolves it, or where it looked when it found none. */
function packagedAddon(root: string): string[] {
  try {
    return [createRequire(import.meta.url)('node-gyp-build').resolve(root) as string];
  } catch {
    return [join(root, 'build', 'Release', ADDON_FILE), join(root, 'prebuilds', `${platform()}-${arch()}`)];
  }
}

/** libcuda comes with the driver, normally on the loader path; the others are common mounts. */
export function driverCandidates(): string[] {
  const extra = [
    '/usr/local/nvidia/lib64/libcuda.so.1', // containers with the driver mounted (nvidia-docker)
    '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
    '/usr/lib/aarch64-linux-gnu/libcuda.so.1',
    '/usr/lib64/libcuda.so.1',
    '/usr/lib/wsl/lib/libcuda.so.1',
  ].filter((p) => existsSync(p));
  return ['libcuda.so.1', ...extra];
}

export interface NvrtcSearch {
  /** Files (or bare sonames for the loader path) for the addon to dlopen, best first. */
  candidates: string[];
  /** Folders and patterns looked in that held no libnvrtc.so*. */
  searched: string[];
}

/**
 * Where NVRTC may live: FLEXATTN_NVRTC_PATH (files or folders, `:`-separated), a CUDA toolkit
 * (CUDA_HOME, CUDA_PATH, /usr/local/cuda), Python wheels (nvidia-cuda-nvrtc puts it under
 * site-packages/nvidia/<pkg>/lib), then the plain loader path.
 */
export function nvrtcCandidates(env: Env = process.env): NvrtcSearch {
  const candidates: string[] = [];
  const searched: string[] = [];
  const addDir = (dir: string, label = dir) => {
    const libs = nvrtcLibsIn(dir);
    if (libs.length) candidates.push(...libs);
    else searched.push(label);
  };
  for (const entry of (env.FLEXATTN_NVRTC_PATH ?? '').split(delimiter).filter(Boolean)) {
    if (isDir(entry)) addDir(entry, `${entry} (FLEXATTN_NVRTC_PATH)`);
    else candidates.push(entry); // a file, or a wrong path: dlopen's answer will say which
  }
  for (const root of [env.CUDA_HOME, env.CUDA_PATH, env.CONDA_PREFIX].filter((r): r is string => !!r)) {
    const dirs = ['lib64', 'lib'].map((sub) => join(root, sub)).filter(isDir);
    if (dirs.length === 0) searched.push(`${root}/lib64 (no such folder)`);
    dirs.forEach((dir) => addDir(dir));
  }
  const patterns = [
    '/usr/local/cuda/lib64',
    '/usr/local/cuda/targets/*/lib',
    '/usr/local/cuda-*/lib64',
    '/usr/local/lib/python3*/dist-packages/nvidia/*/lib',
    '/usr/local/lib/python3*/site-packages/nvidia/*/lib',
    '/usr/lib/python3/dist-packages/nvidia/*/lib',
    '/opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib',
    env.VIRTUAL_ENV && `${env.VIRTUAL_ENV}/lib/python3*/site-packages/nvidia/*/lib`,
    `${homedir()}/.local/lib/python3*/site-packages/nvidia/*/lib`,
  ].filter((p): p is string => !!p);
  for (const pattern of patterns) {
    const dirs = expandGlob(pattern).filter(isDir);
    const found = dirs.flatMap(nvrtcLibsIn);
    if (found.length) candidates.push(...found);
    else searched.push(pattern);
  }
  candidates.push('libnvrtc.so', 'libnvrtc.so.13', 'libnvrtc.so.12', 'libnvrtc.so.11.2');
  return { candidates: dedupeByRealpath(candidates), searched: [...new Set(searched)] };
}

/** libnvrtc.so* in one folder: the unversioned link first, then the newest version. */
function nvrtcLibsIn(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^libnvrtc\.so(\.\d+)*$/.test(n));
  } catch {
    return [];
  }
  const version = (n: string) => n.slice('libnvrtc.so'.length).split('.').filter(Boolean).map(Number);
  names.sort((a, b) => {
    const va = version(a);
    const vb = version(b);
    if (!va.length || !vb.length) return va.length - vb.length;
    for (let i = 0; i < Math.max(va.length, vb.length); i++) {
      const d = (vb[i] ?? -1) - (va[i] ?? -1);
      if (d) return d;
    }
    return 0;
  });
  return names.map((n) => join(dir, n));
}

/** Expands `*` within path segments (Node 20 has no fs.globSync). */
function expandGlob(pattern: string): string[] {
  let paths = [pattern.startsWith('/') ? '/' : '.'];
  for (const segment of pattern.split('/').filter(Boolean)) {
    if (!segment.includes('*')) {
      paths = paths.map((p) => join(p, segment));
      continue;
    }
    const re = new RegExp(`^${segment.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    paths = paths.flatMap((p) => {
      try {
        return readdirSync(p)
          .filter((n) => re.test(n))
          .sort()
          .map((n) => join(p, n));
      } catch {
        return [];
      }
    });
  }
  return paths.filter((p) => existsSync(p));
}

function dedupeByRealpath(paths: string[]): string[] {
  const seen = new Set<string>();
  return paths.filter((p) => {
    let key = p;
    try {
      if (p.includes('/')) key = realpathSync(p);
    } catch {
      /* a missing file stays a candidate: its dlopen error is the explanation */
    }
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function moduleDir(): string {
  return dirname(fileURLToPath(import.meta.url));
}

// ---------------------------------------------------------------- loading and explaining

/** Everything the loader learned; doctor prints it, loadCudaNative turns it into an error. */
export interface CudaReport {
  addonPath: string | null;
  /** "path: reason" for each addon file that did not load. */
  addonTried: string[];
  addon: NativeAddon | null;
  probe: CudaProbe | null;
  nvrtcSearched: string[];
  /** Why building the addon at install failed (scripts/install.mjs), or null when it did not. */
  installError: string | null;
}

let cachedAddon: { path: string; addon: NativeAddon } | null = null;

/** Loads the addon and probes for the driver and NVRTC. Never throws. */
export function inspectCuda(options: { addonPath?: string; env?: Env } = {}): CudaReport {
  const env = options.env ?? process.env;
  const addonTried: string[] = [];
  let found = cachedAddon;
  if (!found || (options.addonPath && options.addonPath !== found.path)) {
    found = null;
    const require = createRequire(import.meta.url);
    for (const path of options.addonPath ? [options.addonPath] : addonCandidates(env)) {
      if (!existsSync(path)) {
        addonTried.push(`${path}: not found`);
        continue;
      }
      if (isDir(path)) {
        addonTried.push(`${path}: no prebuilt addon in it matches this machine (${platform()}-${arch()}, Node-API ${process.versions.napi})`);
        continue;
      }
      try {
        const addon = require(path) as NativeAddon;
        if (addon.abiVersion !== ADDON_ABI_VERSION) {
          addonTried.push(`${path}: stale build (abiVersion ${addon.abiVersion}, expected ${ADDON_ABI_VERSION})`);
          continue;
        }
        found = { path, addon };
        break;
      } catch (e) {
        addonTried.push(`${path}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    if (found && !options.addonPath) cachedAddon = found;
  }
  const installError = installFailure();
  if (!found) return { addonPath: null, addonTried, addon: null, probe: null, nvrtcSearched: [], installError };
  const nvrtc = nvrtcCandidates(env);
  const probe = found.addon.probe(driverCandidates(), nvrtc.candidates);
  return { addonPath: found.path, addonTried, addon: found.addon, probe, nvrtcSearched: nvrtc.searched, installError };
}

const BUILD_HINT =
  'It ships prebuilt for linux-x64 (glibc 2.34+); elsewhere it is built when the package is installed, which ' +
  'needs python3, make and a C++17 compiler (no CUDA toolkit). With those installed, run ' +
  '`npm rebuild @flexattn/backend-cuda` (pnpm 10 runs install scripts only once allowed: `pnpm approve-builds`, ' +
  'then `pnpm rebuild @flexattn/backend-cuda`), or set FLEXATTN_CUDA_ADDON to a built flexattn_cuda.node. ' +
  '`npx flexattn-cuda-doctor` shows what was found.';

/** Why the install step's build failed, if it did: the first line of the log scripts/install.mjs keeps. */
export function installFailure(root = join(moduleDir(), '..')): string | null {
  try {
    return readFileSync(join(root, 'install-error.log'), 'utf8').split('\n')[0] || null;
  } catch {
    return null;
  }
}

/** Why this machine cannot run the CUDA backend, or null when it can. */
export function explainUnavailable(report: CudaReport, opts: { requireNvrtc?: boolean } = {}): BackendUnavailableError | null {
  return listProblems(report, opts)[0] ?? null;
}

/** Every blocking problem, most fundamental first (doctor prints them all). */
export function listProblems(report: CudaReport, opts: { requireNvrtc?: boolean } = {}): BackendUnavailableError[] {
  const { probe } = report;
  if (!report.addon || !probe) {
    const why = report.installError ? ` Building it at install failed: ${report.installError}.` : '';
    return [new BackendUnavailableError(`flexattn's CUDA addon (${ADDON_FILE}) is not built or did not load.${why} ${BUILD_HINT}`, report.addonTried)];
  }
  const problems: BackendUnavailableError[] = [];
  if (!probe.driverLoaded) {
    problems.push(new BackendUnavailableError(
      'The NVIDIA driver library libcuda.so.1 could not be loaded: this machine has no NVIDIA driver, or it is not ' +
        'visible here. Install the NVIDIA driver; in a container, expose the GPU (docker --gpus all with the NVIDIA ' +
        'container toolkit).',
      probe.driverTried,
    ));
  } else if (probe.initError || probe.devices.length === 0) {
    const why = probe.initError ?? 'cuDeviceGetCount found 0 devices';
    problems.push(new BackendUnavailableError(
      `The NVIDIA driver loaded (${probe.driverPath}, CUDA ${formatCudaVersion(probe.driverVersion)}) but no usable GPU ` +
        `was found: ${why}. Check nvidia-smi and CUDA_VISIBLE_DEVICES (now ${JSON.stringify(process.env.CUDA_VISIBLE_DEVICES ?? null)}).`,
    ));
  }
  if (!probe.nvrtcLoaded && opts.requireNvrtc !== false) {
    problems.push(new BackendUnavailableError(
      'NVRTC (libnvrtc.so, CUDA\'s runtime compiler) could not be loaded. Set FLEXATTN_NVRTC_PATH to libnvrtc.so.* or ' +
        'its folder, or CUDA_HOME to a CUDA toolkit; `pip install nvidia-cuda-nvrtc` also provides it.' +
        (report.nvrtcSearched.length ? ` Searched with no libnvrtc.so* found: ${report.nvrtcSearched.join(', ')}.` : ''),
      probe.nvrtcTried,
    ));
  }
  return problems;
}

/** 13000 -> "13.0" */
export function formatCudaVersion(version: number): string {
  return `${Math.floor(version / 1000)}.${Math.floor((version % 1000) / 10)}`;
}

/**
 * NVRTC's real arch for a device. Hopper (9.x) gets the arch-specific `sm_90a`: its wgmma is not
 * in plain sm_90 (the forward kernel's Hopper path, wgmma.cuh); such a cubin runs only on 9.0
 * devices, which is all it is compiled for.
 */
export function smArch(cc: readonly [number, number], archSpecific = cc[0] === 9): string {
  return `sm_${cc[0]}${cc[1]}${archSpecific ? 'a' : ''}`;
}

// ---------------------------------------------------------------- the typed surface

export interface CudaNative extends CudaStreamsAndEvents, CudaModulesAndLaunches {
  readonly addonPath: string;
  readonly probe: CudaProbe;
  readonly devices: readonly CudaDeviceInfo[];
  /** Retains the device's primary context and makes it current on this thread. */
  init(device?: number): CudaDeviceInfo;
  deviceAttribute(device: number, attribute: number): number;
  memGetInfo(): { free: number; total: number };
  /** Waits for all queued work; asynchronous kernel faults surface here. */
  synchronize(): void;

  alloc(bytes: number): DevicePtr;
  free(ptr: DevicePtr): void;
  memsetD8(ptr: DevicePtr, value: number, bytes: number, stream?: CuStream): void;
  /** Copies all of `src` to `dst + dstByteOffset`. */
  copyHtoD(dst: DevicePtr, src: HostData, dstByteOffset?: number): void;
  copyHtoDAsync(dst: DevicePtr, src: HostData, stream: CuStream, dstByteOffset?: number): void;
  /** Fills all of `dst` from `src + srcByteOffset`. */
  copyDtoH(src: DevicePtr, dst: HostData, srcByteOffset?: number): void;
  copyDtoHAsync(src: DevicePtr, dst: HostData, stream: CuStream, srcByteOffset?: number): void;
  copyDtoD(dst: DevicePtr, src: DevicePtr, bytes: number, stream?: CuStream): void;

  /** NVRTC on a worker thread; rejects with CompileError carrying the full log. */
  compile(source: string, name: string, options: string[], extras?: CompileExtras): Promise<CompileOutput>;
  /** The raw addon, for what this interface does not cover. */
  readonly raw: NativeAddon;
}

export interface LoadCudaOptions {
  /** A specific flexattn_cuda.node (else FLEXATTN_CUDA_ADDON, then the build folders). */
  addonPath?: string;
  /** false: load without NVRTC (kernels from a warm disk cache only); compile() then rejects. */
  requireNvrtc?: boolean;
  env?: Env;
}

/** Loads the addon, the driver and NVRTC, or throws BackendUnavailableError saying why and what to do. */
export function loadCudaNative(options: LoadCudaOptions = {}): CudaNative {
  const report = inspectCuda(options);
  const problem = explainUnavailable(report, options);
  if (problem) throw problem;
  return createCudaNative(report.addon!, report.probe!, report.addonPath!, report.nvrtcSearched);
}

/** The typed surface over an addon (a real one, or a fake in tests). loadCudaNative is the usual door. */
export function createCudaNative(a: NativeAddon, probe: CudaProbe, addonPath: string, nvrtcSearched: string[] = []): CudaNative {
  const paramInfo = new Map<CuFunction, KernelParamInfo[] | null>();
  const at = (ptr: DevicePtr, offset = 0) => ptr + BigInt(offset);
  return {
    addonPath,
    probe,
    devices: probe.devices,
    raw: a,
    init(device = 0) {
      const info = probe.devices[device];
      if (!Number.isInteger(device) || !info) {
        const list = probe.devices.map((d) => `${d.ordinal}: ${d.name}`).join(', ');
        throw new BackendUnavailableError(`CUDA device ${device} does not exist; this machine has ${probe.devices.length} (${list}).`);
      }
      a.init(device);
      return info;
    },
    deviceAttribute: (device, attribute) => a.deviceGetAttribute(device, attribute),
    memGetInfo: () => a.memGetInfo(),
    synchronize: () => a.synchronize(),
    alloc: (bytes) => a.alloc(bytes),
    free: (ptr) => a.free(ptr),
    memsetD8: (ptr, value, bytes, stream) => a.memsetD8(ptr, value, bytes, stream),
    copyHtoD: (dst, src, off) => a.copyHtoD(at(dst, off), src),
    copyHtoDAsync: (dst, src, stream, off) => a.copyHtoD(at(dst, off), src, stream),
    copyDtoH: (src, dst, off) => a.copyDtoH(at(src, off), dst),
    copyDtoHAsync: (src, dst, stream, off) => a.copyDtoH(at(src, off), dst, stream),
    copyDtoD: (dst, src, bytes, stream) => a.copyDtoD(dst, src, bytes, stream),
    streamCreate: (flags = CU.STREAM_DEFAULT) => a.streamCreate(flags),
    streamDestroy: (s) => a.streamDestroy(s),
    streamSynchronize: (s) => a.streamSynchronize(s),
    eventCreate: (flags = CU.EVENT_DEFAULT) => a.eventCreate(flags),
    eventRecord: (e, s) => a.eventRecord(e, s),
    eventSynchronize: (e) => a.eventSynchronize(e),
    eventElapsedTime: (s, e) => a.eventElapsedTime(s, e),
    eventDestroy: (e) => a.eventDestroy(e),
    async compile(source, name, options, extras = {}) {
      if (!probe.nvrtcLoaded) {
        throw new BackendUnavailableError(
          `NVRTC is not loaded, so ${name} cannot be compiled. Set FLEXATTN_NVRTC_PATH or CUDA_HOME.` +
            (nvrtcSearched.length ? ` Searched: ${nvrtcSearched.join(', ')}.` : ''),
          probe.nvrtcTried,
        );
      }
      try {
        return await a.compile(source, name, options, extras.headers, extras.nameExpressions);
      } catch (e) {
        const err = e as Error & { log?: string };
        if (typeof err.log === 'string') throw new CompileError(err.message.split('\n')[0] ?? err.message, err.log);
        throw err;
      }
    },
    moduleLoad: (image) => a.moduleLoad(image),
    moduleUnload(module) {
      a.moduleUnload(module);
      paramInfo.clear(); // a later module may reuse a function handle's value
    },
    moduleGetFunction: (module, name) => a.moduleGetFunction(module, name),
    funcSetAttribute: (fn, attr, value) => a.funcSetAttribute(fn, attr, value),
    funcGetAttribute: (fn, attr) => a.funcGetAttribute(fn, attr),
    funcGetParamInfo: (fn) => a.funcGetParamInfo(fn),
    launch(fn, grid, block, sharedBytes, stream, args) {
      let params = paramInfo.get(fn);
      if (params === undefined) paramInfo.set(fn, (params = a.funcGetParamInfo(fn)));
      if (params) checkArgs(params, args);
      a.launch(fn, grid, block, sharedBytes, stream, args);
    },
    tensorMapEncodeTiled: (dataType, address, dims, strides, box, swizzle) =>
      a.tensorMapEncodeTiled(dataType, address, dims, strides, box, swizzle),
  };
}

// A wrong argument pack makes the kernel read garbage (or fault); say so before launching.
function checkArgs(params: KernelParamInfo[], args: HostData[]): void {
  if (params.length !== args.length) {
    throw new TypeError(`launch: the kernel takes ${params.length} parameters, ${args.length} given`);
  }
  params.forEach((p, i) => {
    const size = args[i]!.byteLength;
    if (size !== p.size) throw new TypeError(`launch: argument ${i} holds ${size} bytes; the kernel's parameter ${i} is ${p.size}`);
  });
}
