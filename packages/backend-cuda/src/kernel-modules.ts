// Compiled kernels loaded into the CUDA context: a module per distinct source (the rendered prelude
// + the templates of one kernel kind), compiled through the compile cache (memory, then disk, then
// NVRTC), loaded once, its entry points looked up and given the shared memory they ask for.
import { createHash } from 'node:crypto';
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

export interface LoadedModule {
  module: CuModule;
  fns: Record<string, CuFunction>;
}

export class KernelModules {
  private readonly cache: CompileCache;
  private readonly modules = new Map<string, Promise<LoadedModule>>();
  /** The CUDA include folder passed to NVRTC (found lazily, at the first compile). */
  private include: string | undefined;

  constructor(
    private readonly native: CudaNative,
    private readonly arch: string,
    options: { cacheDir?: string | false; cudaInclude?: string },
  ) {
    this.include = options.cudaInclude;
    this.cache = new CompileCache({ compile: nvrtcCompiler(native), cacheDir: options.cacheDir });
  }

  private get includeDir(): string {
    this.include ??= findCudaInclude();
    return this.include;
  }

  /** The module of `kind` for this prelude; `smem`: dynamic shared memory per entry point, in bytes. */
  load(prelude: string, kind: KernelKind, smem: Record<string, number>): Promise<LoadedModule> {
    const source = kernelSource(prelude, kind);
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
          if (bytes > DEFAULT_SHARED_MEMORY_LIMIT) this.native.funcSetAttribute(fn, CU.FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
          fns[name] = fn;
        }
        return { module, fns };
      })();
      m.catch(() => this.modules.delete(key));
      this.modules.set(key, m);
    }
    return m;
  }

  /** Unloads every module (those still compiling once they finish). */
  unloadAll(): void {
    for (const m of this.modules.values()) m.then((x) => this.native.moduleUnload(x.module), () => {});
    this.modules.clear();
  }
}
