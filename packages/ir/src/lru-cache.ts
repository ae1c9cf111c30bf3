/**
 * A bounded cache, least recently used out: what every backend keeps its compiled kernels in
 * (WebGPU's pipelines, CUDA's loaded modules and in-memory compile results), so that a program
 * tracing a new mod per step holds a bounded number of them (issue 19) and every backend reports
 * the same `cacheStats()` fields.
 *
 * A Map keeps insertion order, so it is the recency list: a hit moves its key to the end and the
 * first key is the least recently used. Hand-written rather than `lru-cache` or `quick-lru`: the
 * backends need exact hit/miss/eviction counts, an eviction hook that may defer the free (a CUDA
 * module still pinned by a running call), and an entry forgotten when its build fails — `lru-cache`
 * counts none of these and has its own fetch semantics for failures, `quick-lru` evicts in
 * generations (not strictly least recently used); both would be a runtime dependency of the core
 * package for what a Map does in a few lines.
 */
import { OptionError } from './errors';

/** What a cache holds and has done (`backend.cacheStats()`'s pipelines / modules). */
export interface LruCacheStats {
  /** entries held (built or being built), now */
  size: number;
  /** the most it keeps */
  capacity: number;
  hits: number;
  /** lookups that created the entry (each a build: a compile, a module load) */
  misses: number;
  /** least recently used entries dropped to stay within capacity */
  evictions: number;
}

export interface LruCacheOptions<V> {
  /** The most entries kept: a positive integer. */
  capacity: number;
  /** The user-facing option that sets the capacity, named in the error for a bad one. */
  optionName: string;
  /** Called for each entry dropped to stay within capacity; not on `clear` nor for a failed entry forgotten. */
  onEvict?: (value: V) => void;
  /**
   * The work a value stands for, where it is built asynchronously: when it rejects, the entry is
   * forgotten (unless the key was created again since), so a later lookup retries the build.
   */
  pending?: (value: V) => PromiseLike<unknown>;
}

export class LruCache<V> {
  /** Map order is the recency order: least recently used first. */
  private readonly entries = new Map<string, V>();
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  readonly capacity: number;

  constructor(private readonly options: LruCacheOptions<V>) {
    const { capacity, optionName } = options;
    if (!Number.isInteger(capacity) || capacity < 1) throw new OptionError(`${optionName} must be a positive integer, got ${String(capacity)}`);
    this.capacity = capacity;
  }

  /** The value for `key`, made by `create` on a miss; either way it becomes the most recently used. */
  getOrCreate(key: string, create: () => V): V {
    if (this.entries.has(key)) {
      const hit = this.entries.get(key) as V;
      this.hits++;
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    this.misses++;
    const value = create();
    this.entries.set(key, value);
    this.options.pending?.(value).then(undefined, () => {
      if (this.entries.get(key) === value) this.entries.delete(key);
    });
    for (const [oldest, old] of this.entries) {
      if (this.entries.size <= this.capacity) break;
      this.entries.delete(oldest);
      this.evictions++;
      this.options.onEvict?.(old);
    }
    return value;
  }

  get size(): number {
    return this.entries.size;
  }

  stats(): LruCacheStats {
    return { size: this.entries.size, capacity: this.capacity, hits: this.hits, misses: this.misses, evictions: this.evictions };
  }

  /** The entries held, least recently used first. */
  values(): IterableIterator<V> {
    return this.entries.values();
  }

  /** Drops every entry without calling `onEvict` (the owner frees them itself, see `values`). */
  clear(): void {
    this.entries.clear();
  }
}
