// Compiled kernels loaded into the CUDA context: a module per distinct source (the rendered prelude
// + the templates of one kernel kind), compiled through the compile cache (memory, then disk, then
// NVRTC), loaded once, its entry points looked up and given the shared memory they ask for.
//
// Loaded modules are bounded (issue 19: the map grew by a module per distinct mod for ever): ir's
// LruCache of at most `capacity`, the least recently used unloaded first. A call pins the modules
// it loads until it ends (`forCall`), so a module evicted by a concurrent call is unloaded only
// once no call that may still launch it is running.
import { createHash } from 'node:crypto';
import { LruCache, type LruCacheStats } from '@flexattn/ir';
import { CompileCache, nvrtcCompiler } from './compile-cache.js';
import { findCudaInclude } from './cuda-include.js';
import { ENTRY_POINTS, kernelSource, templateVersion, type KernelKind } from './kernel-sources.js';
import { CU, type CudaNative, type CuFunction, type CuModule } from './native.js';

/**
 * NVRTC flags besides the arch and include path. Division is the approximate div.full.f32 (≤ 2 ulp),
 * as in Triton's (and so PyTorch FlexAttention's) generated code; IEEE division costs a slow path
 * per element. -default-device: NVRTC (unlike nvcc) treats unannotated functions, generic lambdas
 * included, as host code.
 */
export const COMPILE_OPTIONS = ['-std=c++17', '--prec-div=false', '-default-device', '-diag-suppress=177'];

/** Above this, a kernel's dynamic shared memory must be allowed explicitly (the default cap). */
const DEFAULT_SHARED_MEMORY_LIMIT = 48 * 1024;

/**
 * Default `moduleCacheSize`: a distinct mod needs up to three modules (forward, backward, decode),
 * so about twenty mods stay loaded; the compile cache behind it keeps 256 images in memory and the
 * rest on disk, so reloading an evicted module costs a cuModuleLoadData, not a compile.
 */
export const DEFAULT_MODULE_CACHE_SIZE = 64;

export interface LoadedModule {
  module: CuModule;
  fns: Record<string, CuFunction>;
}

/** What the module cache holds and has done (`backend.cacheStats().modules`), as WebGPU's pipelines report it; `misses` are loads (each a compile-cache lookup and a cuModuleLoadData). */
export type ModuleCacheStats = LruCacheStats;

/** How a call's modules are loaded: the same `load`, pinned until the call's scope ends. */
export interface ModuleLoader {
  load(prelude: string, kind: KernelKind, smem: Record<string, number>): Promise<LoadedModule>;
}

/** A call's lifetime, as far as pinning goes: CallMemory runs `onFree` callbacks when the call ends. */
export interface CallScope {
  onFree(fn: () => void): void;
}

interface Entry {
  loaded: Promise<LoadedModule>;
  /** calls that loaded it and have not ended */
  users: number;
  /** dropped from the cache: unload once `users` is 0 */
  evicted: boolean;
  unloaded: boolean;
}

export class KernelModules implements ModuleLoader {
  private readonly cache: CompileCache;
  private readonly entries: LruCache<Entry>;
  /** The CUDA include folder passed to NVRTC (found lazily, at the first compile). */
  private include: string | undefined;

  constructor(
    private readonly native: CudaNative,
    private readonly arch: string,
    options: { cacheDir?: string | false; cudaInclude?: string; capacity?: number },
  ) {
    this.entries = new LruCache<Entry>({
      capacity: options.capacity ?? DEFAULT_MODULE_CACHE_SIZE,
      optionName: 'moduleCacheSize',
      onEvict: (e) => this.drop(e),
      pending: (e) => e.loaded,
    });
    this.include = options.cudaInclude;
    this.cache = new CompileCache({ compile: nvrtcCompiler(native), cacheDir: options.cacheDir });
  }

  private get includeDir(): string {
    this.include ??= findCudaInclude();
    return this.include;
  }

  /** The module of `kind` for this prelude, unpinned; `smem`: dynamic shared memory per entry point, in bytes. */
  load(prelude: string, kind: KernelKind, smem: Record<string, number>): Promise<LoadedModule> {
    return this.entry(prelude, kind, smem).loaded;
  }

  /** A loader whose modules stay loaded until `scope` ends (a call's CallMemory). */
  forCall(scope: CallScope): ModuleLoader {
    return {
      load: (prelude, kind, smem) => {
        const e = this.entry(prelude, kind, smem);
        e.users++;
        scope.onFree(() => {
          e.users--;
          this.unloadIfUnused(e);
        });
        return e.loaded;
      },
    };
  }

  stats(): ModuleCacheStats {
    return this.entries.stats();
  }

  /** Unloads every module (those still loading once they finish, those pinned once their calls end). */
  unloadAll(): void {
    for (const e of this.entries.values()) this.drop(e);
    this.entries.clear();
  }

  private entry(prelude: string, kind: KernelKind, smem: Record<string, number>): Entry {
    const source = kernelSource(prelude, kind);
    const key = createHash('sha256').update(source).digest('hex');
    // a failed load is forgotten by the cache (`pending`): a later call retries it
    return this.entries.getOrCreate(key, () => ({ loaded: this.loadModule(source, kind, smem), users: 0, evicted: false, unloaded: false }));
  }

  /** A module out of the cache: unloaded now, or when the last call that pinned it ends. */
  private drop(e: Entry): void {
    e.evicted = true;
    this.unloadIfUnused(e);
  }

  private unloadIfUnused(e: Entry): void {
    if (!e.evicted || e.users > 0 || e.unloaded) return;
    e.unloaded = true;
    e.loaded.then((m) => this.native.moduleUnload(m.module), () => {});
  }

  private async loadModule(source: string, kind: KernelKind, smem: Record<string, number>): Promise<LoadedModule> {
    const image = await this.cache.get(source, {
      arch: this.arch,
      templateVersion: templateVersion(),
      options: [...COMPILE_OPTIONS, `--include-path=${this.includeDir}`],
      name: `flexattn_${kind}.cu`,
      key: { kind },
    });
    const module = this.native.moduleLoad(image);
    try {
      const fns: Record<string, CuFunction> = {};
      for (const name of ENTRY_POINTS[kind]) {
        const fn = this.native.moduleGetFunction(module, name);
        const bytes = smem[name] ?? 0;
        if (bytes > DEFAULT_SHARED_MEMORY_LIMIT) this.native.funcSetAttribute(fn, CU.FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
        fns[name] = fn;
      }
      return { module, fns };
    } catch (e) {
      // a module whose entry points cannot be set up is unloaded, not leaked
      this.native.moduleUnload(module);
      throw e;
    }
  }
}
