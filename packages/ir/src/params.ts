/**
 * Runtime parameters of mods: captured tensors (read with `.at(...)`, optionally learnable) and
 * scalars (values that change without changing the kernel). Neither's data enters the graph or the
 * hash: a mod refers to them by parameter slot, and backends bind the data at call time.
 */
import type { NodeSource, Operand } from './build';
import { lift } from './build';
import { OptionError, ShapeError, TraceError } from './errors';
import { Expr } from './expr';
import { Node } from './node';
import { currentTrace, type TraceParam } from './trace-context';

/** Fields that generated code reads (dtype, shape and strides are baked into kernels): fixed once checked. */
function lockFields(obj: object, fields: readonly string[]): void {
  for (const f of fields) Object.defineProperty(obj, f, { writable: false, configurable: false });
}

export class CapturedTensor implements TraceParam {
  /** Only tensors built by this constructor carry it; a look-alike object is refused by TracedMod. */
  readonly #genuine = true;
  readonly kind = 'tensor' as const;
  readonly dtype: 'f32' | 'i32';
  readonly shape: readonly number[];
  /** Row-major strides of `shape`. */
  readonly strides: readonly number[];
  #cachedRange: [number, number] | undefined;

  constructor(
    readonly data: Float32Array | Int32Array,
    shape: readonly number[] | undefined,
    readonly name: string,
    readonly requiresGrad: boolean,
  ) {
    const like = shapedLike;
    shapedLike = undefined;
    if (like && like.data.constructor === data.constructor && like.data.length === data.length && like.name === name && like.requiresGrad === requiresGrad) {
      // sameShape(): the shape was checked when `like` was built; share its frozen shape and strides
      this.dtype = like.dtype;
      this.shape = like.shape;
      this.strides = like.strides;
      Object.freeze(this);
      return;
    }
    if (data instanceof Float32Array) this.dtype = 'f32';
    else if (data instanceof Int32Array) this.dtype = 'i32';
    else throw new OptionError(`capture(${name}): data must be a Float32Array or an Int32Array`);
    const dims = shape ? [...shape] : [data.length];
    if (dims.length < 1 || dims.length > 4) throw new ShapeError(`capture(${name}): rank ${dims.length} is not supported; use 1 to 4 dimensions`);
    if (dims.some((d) => !Number.isInteger(d) || d < 1)) throw new ShapeError(`capture(${name}): shape [${dims.join(', ')}] must hold positive integers`);
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new ShapeError(`capture(${name}): shape [${dims.join(', ')}] holds ${size} elements but the data has ${data.length}`);
    if (requiresGrad && this.dtype !== 'f32') throw new OptionError(`capture(${name}): requiresGrad needs float data (a Float32Array); integer tensors have no gradient`);
    this.shape = Object.freeze(dims);
    const strides = dims.map(() => 1);
    for (let i = dims.length - 2; i >= 0; i--) strides[i] = strides[i + 1]! * dims[i + 1]!;
    this.strides = Object.freeze(strides);
    // Frozen: what generated code reads is fixed once checked. (One freeze, not a defineProperty per
    // field: a decode step captures its offsets every token, and those cost ~9 µs a tensor.)
    Object.freeze(this);
  }

  static isCapturedTensor(x: unknown): x is CapturedTensor {
    return typeof x === 'object' && x !== null && #genuine in x;
  }

  /**
   * Reads an element. Indices must be integers (use `.toInt()` on floats); each index is clamped
   * into [0, dim − 1], so an out-of-range index reads the nearest edge element and never faults.
   */
  at(...indices: Operand[]): Expr {
    if (indices.length !== this.shape.length) {
      throw new TraceError(`${this.name}.at() got ${indices.length} indices but the tensor has rank ${this.shape.length} (shape [${this.shape.join(', ')}])`);
    }
    const slot = currentTrace(`${this.name}.at()`).slotOf(this);
    const src = indices.map((x, i) => {
      if (typeof x === 'number' && !Number.isInteger(x)) throw new TraceError(`${this.name}.at(): index ${i} is ${x}; indices must be integers`);
      const n = lift(x, 'i32');
      if (n.dtype !== 'i32') throw new TraceError(`${this.name}.at(): index ${i} has dtype ${n.dtype}; indices must be i32 (use .toInt() on a float)`);
      return n;
    });
    return new Expr(Node.make('load', this.dtype, src, { slot, dtype: this.dtype, rank: this.shape.length }));
  }

  /** [min, max] over all elements (NaN-free data assumed; NaN widens to ±Infinity). */
  valueRange(): [number, number] {
    if (!this.#cachedRange) {
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of this.data) {
        if (v !== v) return (this.#cachedRange = [-Infinity, Infinity]);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      this.#cachedRange = [lo, hi];
    }
    return this.#cachedRange;
  }

  /** Call after mutating `data` in place so cached value ranges are recomputed. */
  invalidate(): void {
    this.#cachedRange = undefined;
    rangeCacheInvalidators.forEach((fn) => fn(this));
  }

  /** Flat index of clamped indices (the documented out-of-range rule). */
  flatIndex(indices: readonly number[]): number {
    let flat = 0;
    for (let i = 0; i < indices.length; i++) {
      const d = this.shape[i]!;
      const x = indices[i]!;
      flat += (x < 0 ? 0 : x >= d ? d - 1 : x) * this.strides[i]!;
    }
    return flat;
  }
}

/** Caches keyed on a tensor (e.g. range tables in the interval analysis) register here. */
export const rangeCacheInvalidators = new Set<(t: CapturedTensor) => void>();

export class Scalar implements TraceParam, NodeSource {
  readonly #genuine = true;
  readonly kind = 'scalar' as const;
  private current: number;

  constructor(
    value: number,
    readonly dtype: 'f32' | 'i32',
    readonly name: string,
  ) {
    if (dtype !== 'f32' && dtype !== 'i32') throw new OptionError(`scalar ${String(name)}: dtype must be 'f32' or 'i32', got ${String(dtype)}`);
    this.current = this.check(value);
    lockFields(this, ['kind', 'dtype', 'name']);
  }

  static isScalar(x: unknown): x is Scalar {
    return typeof x === 'object' && x !== null && #genuine in x;
  }

  get value(): number {
    return this.current;
  }
  /** New values take effect on the next call, with the same compiled kernel. */
  set value(v: number) {
    this.current = this.check(v);
  }

  private check(v: number): number {
    if (typeof v !== 'number' || Number.isNaN(v)) throw new OptionError(`scalar ${this.name}: value must be a number, got ${String(v)}`);
    if (this.dtype === 'i32' && !(Number.isInteger(v) && v >= -2147483648 && v <= 2147483647)) {
      throw new OptionError(`scalar ${this.name}: an i32 scalar needs an integer in the i32 range, got ${v}`);
    }
    return v;
  }

  toNode(): Node {
    const slot = currentTrace(`scalar ${this.name}`).slotOf(this);
    return Node.make('scalar', this.dtype, [], { slot, dtype: this.dtype });
  }
  /** This scalar as an Expr, to call methods on it: `s.mul(2)`. */
  expr(): Expr {
    return new Expr(this.toNode());
  }
  [Symbol.toPrimitive](): never {
    throw new TraceError(`scalar ${this.name} was used as a plain JS value; pass it to Expr methods (score.mul(s)) or read s.value outside the mod`);
  }
}

let unnamed = 0;
/** Set by capturedLike() for the one constructor call it makes (the constructor clears it). */
let shapedLike: CapturedTensor | undefined;

/**
 * A new captured tensor over `data` with the dtype, shape, name and gradient need of `like`, which
 * the checks behind capture() passed already — a decode step captures its query offsets every token.
 * `data` must be of like's array type and length (else the ordinary checked construction runs).
 */
export function capturedLike(like: CapturedTensor, data: Float32Array | Int32Array): CapturedTensor {
  shapedLike = CapturedTensor.isCapturedTensor(like) ? like : undefined;
  try {
    return new CapturedTensor(data, like.shape, like.name, like.requiresGrad);
  } finally {
    shapedLike = undefined;
  }
}

export function capture(
  data: Float32Array | Int32Array,
  shape?: readonly number[],
  opts: { name?: string; requiresGrad?: boolean } = {},
): CapturedTensor {
  return new CapturedTensor(data, shape, opts.name ?? `captured${unnamed++}`, opts.requiresGrad ?? false);
}

export function scalar(value: number, opts: { name?: string; dtype?: 'f32' | 'i32' } = {}): Scalar {
  // f32 by default so any later value is accepted; sizes and offsets pass { dtype: 'i32' }.
  const dtype = opts.dtype ?? 'f32';
  return new Scalar(value, dtype, opts.name ?? `scalar${unnamed++}`);
}

export type ModParam = CapturedTensor | Scalar;
