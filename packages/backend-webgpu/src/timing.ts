/**
 * GPU timestamps for `measure()`: while a `PassTimer` is installed on the engine, every compute
 * pass it encodes writes a timestamp at its beginning and end (`timestampWrites`); the device
 * time of a batch is the time covered by its passes' [begin, end] intervals (gaps between
 * submits, host work and Dawn's completion polling are not counted, and overlapping intervals
 * count once). `timestampTotalMs` decides whether the raw values can be trusted; when not,
 * measure() falls back to wall-clock batches.
 */

// numeric flags, so nothing depends on the GPUBufferUsage global being installed
const QUERY_RESOLVE = 0x200;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const MAP_READ = 0x1;

export class PassTimer {
  readonly querySet: GPUQuerySet;
  /** [begin, end] query pairs handed out since the last reset */
  pairs = 0;
  /** a pass went untimed because the query set was full */
  overflow = false;

  constructor(readonly device: GPUDevice, readonly capacity = 256) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: capacity });
  }

  reset(): void {
    this.pairs = 0;
    this.overflow = false;
  }

  /** The timestampWrites of the next pass (undefined when the query set is full). */
  writes(): GPUComputePassTimestampWrites | undefined {
    if (2 * (this.pairs + 1) > this.capacity) {
      this.overflow = true;
      return undefined;
    }
    const i = 2 * this.pairs++;
    return { querySet: this.querySet, beginningOfPassWriteIndex: i, endOfPassWriteIndex: i + 1 };
  }

  /** Resolves the used queries and reads them back (nanoseconds). */
  async read(): Promise<BigUint64Array> {
    const n = 2 * this.pairs;
    if (n === 0) return new BigUint64Array(0);
    const bytes = n * 8;
    const resolve = this.device.createBuffer({ size: bytes, usage: QUERY_RESOLVE | COPY_SRC });
    const staging = this.device.createBuffer({ size: bytes, usage: MAP_READ | COPY_DST });
    try {
      const enc = this.device.createCommandEncoder();
      enc.resolveQuerySet(this.querySet, 0, n, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, staging, 0, bytes);
      this.device.queue.submit([enc.finish()]);
      await staging.mapAsync(1 /* GPUMapMode.READ */);
      const out = new BigUint64Array(staging.getMappedRange(0, bytes).slice(0));
      staging.unmap();
      return out;
    } finally {
      resolve.destroy();
      staging.destroy();
    }
  }

  destroy(): void {
    this.querySet.destroy();
  }
}

const gcd = (a: bigint, b: bigint): bigint => {
  while (b) [a, b] = [b, a % b];
  return a;
};

export interface TimestampTotal {
  /** time covered by the passes' intervals (their union) in milliseconds */
  ms: number;
  /** summed pass durations in milliseconds: more than `ms` when intervals overlap */
  sumMs: number;
  /** the coarsest tick all values share (gcd, ns): 65536 under Dawn's timestamp quantization */
  quantumNs: number;
}

/**
 * The time covered by `pairs` [begin, end] timestamp pairs (ns): the length of their union, or
 * undefined when the values cannot be trusted: a value of 0 (never written), a pass that ends
 * before it begins, a zero total, ticks so coarse that rounding could move the total by more than
 * `maxQuantError` of it (Dawn quantizes to 65.5 µs unless its `timestamp_quantization` toggle is
 * disabled), or a total beyond what the wall clock allows (`wallMs`, which covers the same work).
 * Why the union and not the sum: Dawn's Vulkan backend writes a compute pass's beginning timestamp
 * at VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, ahead of the barriers of its first dispatch, so it can latch
 * when the pass reaches the GPU's front end while the previous pass still runs; summing such
 * intervals would count the wait twice. (On the H100 the union and the sum agreed in every decode
 * diagnostic of session 3: the decode's slowdown later in a process is not this.)
 */
export function timestampTotalMs(raw: ArrayLike<bigint>, pairs: number, wallMs?: number, maxQuantError = 0.05): TimestampTotal | undefined {
  if (pairs < 1 || raw.length < 2 * pairs) return undefined;
  let total = 0n;
  let g = 0n;
  const spans: [bigint, bigint][] = [];
  for (let p = 0; p < pairs; p++) {
    const b = raw[2 * p]!;
    const e = raw[2 * p + 1]!;
    if (b <= 0n || e <= 0n || e < b) return undefined;
    total += e - b;
    g = gcd(gcd(g, b), e);
    spans.push([b, e]);
  }
  if (total <= 0n) return undefined;
  // the union of the intervals, by begin time
  spans.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  let covered = 0n;
  let [lo, hi] = spans[0]!;
  for (const [b, e] of spans.slice(1)) {
    if (b > hi) {
      covered += hi - lo;
      [lo, hi] = [b, e];
    } else if (e > hi) hi = e;
  }
  covered += hi - lo;
  const coveredNs = Number(covered);
  const quantumNs = Number(g);
  // each pass's two readings may each be off by up to one tick
  if (2 * pairs * quantumNs > maxQuantError * coveredNs) return undefined;
  const ms = coveredNs / 1e6;
  if (wallMs !== undefined && ms > wallMs * 1.5 + 1) return undefined;
  return { ms, sumMs: Number(total) / 1e6, quantumNs };
}
