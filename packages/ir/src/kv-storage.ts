/**
 * KvStorage: the optional backend capability a paged KV cache (@flexattn/kv-cache) needs — the only
 * parts of paging that touch device memory: a zero-filled K or V tensor in the backend's memory and
 * a scatter of new tokens' rows into it. Everything else (page tables, block masks, mod wrappers)
 * is host logic in the cache. The reference implements it on host tensors (writeHostKvRows); a GPU
 * backend implements the same three methods on its own tensors and paging works there unchanged.
 */
import { OptionError, ShapeError } from './errors';
import type { FlexAttentionBackend } from './kernel';
import type { DType, Tensor } from './tensor';
import { numel } from './tensor';

export interface KvStorage<T = Tensor> {
  /** A zero-filled tensor of `shape` ([1, heads, rows, D]) and `dtype` in this backend's memory. */
  allocateKv(shape: readonly number[], dtype: DType): T;
  /**
   * dst[0, h, rows[i], :] = src[0, h, i, :] for every head h and every i < rows.length. `src` is
   * [1, heads, rows.length, D] of dst's dtype, a host tensor or one of this backend's own. The
   * rows are checked before anything is written: a bad call writes nothing.
   */
  writeKvRows(dst: T, rows: Int32Array, src: T | Tensor): Promise<void>;
  /** Frees a tensor from allocateKv (absent where memory is garbage collected). */
  releaseKv?(t: T): void;
}

/** Whether a backend can hold a paged KV cache. */
export function hasKvStorage<T>(backend: FlexAttentionBackend<T>): backend is FlexAttentionBackend<T> & KvStorage<T> {
  const b = backend as Partial<KvStorage<T>>;
  return typeof b.allocateKv === 'function' && typeof b.writeKvRows === 'function';
}

/** The layout of every KV tensor (allocateKv's shape; writeKvRows' destination), as errors name it. */
export const KV_LAYOUT = '[1, heads, rows, D]';

/** The dtypes a KV tensor may have: those the kernels read K and V in. */
const KV_DTYPES: readonly string[] = ['f32', 'f16', 'bf16'];

/**
 * allocateKv's arguments, shared by every implementation so that each backend refuses the same
 * calls with the same typed errors, before it allocates anything: a known dtype, and a shape
 * [1, heads, rows, D] of positive integers whose element count a JS number still counts exactly.
 */
export function checkKvAllocation(shape: readonly number[], dtype: DType): void {
  if (!KV_DTYPES.includes(dtype)) throw new OptionError(`allocateKv: unknown dtype '${String(dtype)}'; use 'f32', 'f16' or 'bf16'`);
  const dims: readonly unknown[] | undefined = Array.isArray(shape) ? shape : undefined;
  if (!dims || dims.length !== 4 || dims[0] !== 1 || !dims.every((d) => Number.isSafeInteger(d) && (d as number) >= 1)) {
    throw new ShapeError(`allocateKv: the shape must be ${KV_LAYOUT} of positive integers, got ${dims ? `[${dims.map(String).join(', ')}]` : String(shape)}`);
  }
  if (!Number.isSafeInteger(numel(shape))) throw new ShapeError(`allocateKv: the shape [${shape.join(', ')}] holds more elements than can be counted exactly; allocate smaller pages`);
}

/** Shape and dtype agreement of a row write, shared by every implementation (typed errors). */
export function checkKvRowWrite(dst: { shape: readonly number[]; dtype: string }, rows: Int32Array, src: { shape: readonly number[]; dtype: string }): void {
  if (!(rows instanceof Int32Array)) throw new OptionError('writeKvRows: rows must be an Int32Array of destination row indices');
  const [db, dh, dRows, dd] = dst.shape;
  const [sb, sh, sRows, sd] = src.shape;
  if (dst.shape.length !== 4 || db !== 1) throw new ShapeError(`writeKvRows: the destination must be ${KV_LAYOUT}, got [${dst.shape.join(', ')}]`);
  if (src.shape.length !== 4 || sb !== 1) throw new ShapeError(`writeKvRows: the source must be [1, heads, n, D], got [${src.shape.join(', ')}]`);
  if (sh !== dh || sd !== dd) throw new ShapeError(`writeKvRows: the source [${src.shape.join(', ')}] must have the destination's heads (${dh}) and head dim (${dd})`);
  if (sRows !== rows.length) throw new ShapeError(`writeKvRows: the source holds ${sRows} rows but ${rows.length} destination rows were given`);
  if (src.dtype !== dst.dtype) throw new OptionError(`writeKvRows: the source has dtype ${src.dtype} but the destination ${dst.dtype}; convert it first (fromFloats)`);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (r < 0 || r >= dRows!) throw new ShapeError(`writeKvRows: destination row ${r} (index ${i}) is outside [0, ${dRows! - 1}]`);
  }
}

/** A zero-filled host tensor. */
export function allocateHostKv(shape: readonly number[], dtype: DType): Tensor {
  checkKvAllocation(shape, dtype);
  const n = numel(shape);
  return { data: dtype === 'f32' ? new Float32Array(n) : new Uint16Array(n), shape: [...shape], dtype };
}

/** writeKvRows on host tensors (the reference backend's implementation). */
export function writeHostKvRows(dst: Tensor, rows: Int32Array, src: Tensor): void {
  checkKvRowWrite(dst, rows, src);
  if (src.data.length !== numel(src.shape)) throw new ShapeError(`writeKvRows: the source has ${src.data.length} elements but shape [${src.shape.join(', ')}] needs ${numel(src.shape)}`);
  const [, heads, dstRows, D] = dst.shape as [number, number, number, number];
  const n = rows.length;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < n; i++) {
      const from = (h * n + i) * D;
      dst.data.set(src.data.subarray(from, from + D), (h * dstRows + rows[i]!) * D);
    }
  }
}
