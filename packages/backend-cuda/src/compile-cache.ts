// Compiled kernels, cached in memory and then on disk, so that a process compiles each kernel
// once and a second process with the same mods compiles nothing. Generic over the compiler
// (any `(source, request) => Promise<Uint8Array>`), so it is tested without a GPU.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LruCache } from '@flexattn/ir';
import type { CompileExtras, CudaNative } from './native.js';

/** Bumped when the on-disk entry format changes; part of every key. */
export const CACHE_FORMAT_VERSION = 1;

/** Everything besides the source text that changes the compiled bytes. */
export interface CompileRequest {
  /** Real arch for NVRTC (`sm_90a`, `sm_80`): part of the key, and what the compiler targets. */
  arch: string;
  /** Version of the kernel templates the source was rendered from. */
  templateVersion: string;
  /** Compiler flags besides the arch, in order. */
  options?: readonly string[];
  /** Kernel name (NVRTC's program name); part of the key. */
  name?: string;
  /** Anything else the caller keys on: dtype, head dims, tile config… (JSON values). */
  key?: Record<string, unknown>;
}

export type CompileFn = (source: string, request: CompileRequest) => Promise<Uint8Array>;

export interface CompileCacheOptions {
  compile: CompileFn;
  /** Disk folder; false keeps the cache in memory only. Default: defaultCacheDir(). */
  cacheDir?: string | false;
  /** Entries kept in memory, a positive integer (least recently used leave first). Default 256. */
  maxMemoryEntries?: number;
  /** Called when the disk cannot be read or written; the cache then carries on in memory. */
  onDiskError?: (error: Error, path: string) => void;
  env?: Record<string, string | undefined>;
}

export interface CompileCacheStats {
  memoryHits: number;
  diskHits: number;
  compiles: number;
  diskErrors: number;
}

/** FLEXATTN_CUDA_CACHE, else $XDG_CACHE_HOME/flexattn/cuda, else ~/.cache/flexattn/cuda. */
export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.FLEXATTN_CUDA_CACHE) return env.FLEXATTN_CUDA_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'flexattn', 'cuda');
}

/** sha256 over the source and every field of the request, hex. */
export function cacheKey(source: string, request: CompileRequest): string {
  const material = stableJson({
    format: CACHE_FORMAT_VERSION,
    source,
    arch: request.arch,
    templateVersion: request.templateVersion,
    options: request.options ?? [],
    name: request.name ?? null,
    key: request.key ?? null,
  });
  return createHash('sha256').update(material).digest('hex');
}

export class CompileCache {
  readonly dir: string | null;
  /** Disk and compiler counts; memory hits are the LRU's. */
  private readonly counts = { diskHits: 0, compiles: 0, diskErrors: 0 };
  /** Concurrent requests for one key share its promise (one compile, not N); a failed compile is forgotten and retried. */
  private readonly memory: LruCache<Promise<Uint8Array>>;
  private readonly compileFn: CompileFn;
  private readonly onDiskError: (error: Error, path: string) => void;

  constructor(options: CompileCacheOptions) {
    this.compileFn = options.compile;
    this.dir = options.cacheDir === false ? null : (options.cacheDir ?? defaultCacheDir(options.env));
    this.memory = new LruCache({ capacity: options.maxMemoryEntries ?? 256, optionName: 'maxMemoryEntries', pending: (p) => p });
    this.onDiskError = options.onDiskError ?? warnOnce;
  }

  get stats(): CompileCacheStats {
    return { memoryHits: this.memory.stats().hits, ...this.counts };
  }

  /** The compiled bytes, from memory, disk, or the compiler (in that order). Do not mutate them. */
  get(source: string, request: CompileRequest): Promise<Uint8Array> {
    const key = cacheKey(source, request);
    return this.memory.getOrCreate(key, () => this.load(key, source, request));
  }

  /** Path of the disk entry for this source and request (whether or not it exists). */
  pathFor(source: string, request: CompileRequest): string | null {
    return this.dir && join(this.dir, `${cacheKey(source, request)}.bin`);
  }

  clearMemory(): void {
    this.memory.clear();
  }

  private async load(key: string, source: string, request: CompileRequest): Promise<Uint8Array> {
    const path = this.dir && join(this.dir, `${key}.bin`);
    if (path) {
      const cached = await this.readEntry(path);
      if (cached) {
        this.counts.diskHits++;
        return cached;
      }
    }
    this.counts.compiles++;
    const bytes = await this.compileFn(source, request);
    if (path) await this.writeEntry(path, bytes);
    return bytes;
  }

  // An entry is sha256(payload) followed by the payload: a damaged file reads as a miss.
  private async readEntry(path: string): Promise<Uint8Array | null> {
    let file: Buffer;
    try {
      file = await readFile(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.diskError(e as Error, path);
      return null;
    }
    const payload = file.subarray(32);
    if (file.length < 32 || !createHash('sha256').update(payload).digest().equals(file.subarray(0, 32))) {
      this.diskError(new Error('corrupt cache entry (checksum mismatch); recompiling'), path);
      return null;
    }
    return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  }

  // Write a temp file in the same folder, then rename: readers never see a partial entry, and
  // two processes racing on one key both leave a complete (identical) file.
  private async writeEntry(path: string, bytes: Uint8Array): Promise<void> {
    const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await mkdir(this.dir!, { recursive: true });
      const digest = createHash('sha256').update(bytes).digest();
      await writeFile(tmp, Buffer.concat([digest, bytes]));
      await rename(tmp, path);
    } catch (e) {
      this.diskError(e as Error, path);
      await rm(tmp, { force: true }).catch(() => {});
    }
  }

  private diskError(error: Error, path: string): void {
    this.counts.diskErrors++;
    this.onDiskError(error, path);
  }
}

/** A CompileFn over NVRTC: compiles for `request.arch` and returns the cubin. */
export function nvrtcCompiler(native: Pick<CudaNative, 'compile'>, extras?: CompileExtras): CompileFn {
  return async (source, request) => {
    const options = [`--gpu-architecture=${request.arch}`, ...(request.options ?? [])];
    const out = await native.compile(source, request.name ?? 'flexattn.cu', options, extras);
    return out.cubin;
  };
}

let warned = false;
function warnOnce(error: Error, path: string): void {
  if (warned) return;
  warned = true;
  process.emitWarning(`flexattn CUDA compile cache: ${error.message} (${path}); continuing without it`);
}

/** JSON with object keys sorted, so equal requests hash equally whatever their key order. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
