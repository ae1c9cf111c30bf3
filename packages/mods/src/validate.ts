/** Checks for array parameters (ids, lengths, tables); scalars are checked in params.ts. */
import { ModOptionError } from './errors';
import { notAnExpr, show } from './params';

export type IntList = Int32Array | readonly number[];
export type FloatList = Float32Array | readonly number[];

/** A copy as an Int32Array; every entry an integer ≥ min. */
export function intArray(mod: string, param: string, x: unknown, min = -2147483648): Int32Array {
  notAnExpr(mod, x, param);
  if (!(x instanceof Int32Array) && !Array.isArray(x)) throw new ModOptionError(mod, param, `must be an Int32Array or an array of integers, got ${typeof x}`);
  const list = x as ArrayLike<unknown>;
  if (list.length === 0) throw new ModOptionError(mod, param, 'must not be empty');
  const out = new Int32Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 2147483647) {
      throw new ModOptionError(mod, param, `must hold integers ≥ ${min}; entry ${i} is ${show(v)}`);
    }
    out[i] = v;
  }
  return out;
}

/** A copy as a Float32Array; every entry finite. */
export function floatArray(mod: string, param: string, x: unknown): Float32Array {
  notAnExpr(mod, x, param);
  if (!(x instanceof Float32Array) && !(x instanceof Float64Array) && !Array.isArray(x)) {
    throw new ModOptionError(mod, param, `must be a Float32Array or an array of numbers, got ${typeof x}`);
  }
  const list = x as ArrayLike<unknown>;
  if (list.length === 0) throw new ModOptionError(mod, param, 'must not be empty');
  const out = new Float32Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModOptionError(mod, param, `must hold finite numbers; entry ${i} is ${show(v)}`);
    out[i] = v;
  }
  return out;
}

/** [batch, length] for ids given per token, optionally for `batch` sequences back to back. */
export function batchShape(mod: string, param: string, n: number, batch: number | undefined, seqLen: number | undefined): number[] {
  const B = batch ?? 1;
  if (!Number.isInteger(B) || B < 1) throw new ModOptionError(mod, 'batch', `must be a positive integer, got ${show(batch)}`);
  if (n % B !== 0) throw new ModOptionError(mod, param, `has ${n} entries, which is not a multiple of batch = ${B}`);
  const L = n / B;
  if (seqLen !== undefined && L !== seqLen) throw new ModOptionError(mod, param, `has ${L} entries per sequence but seqLen is ${seqLen}`);
  return batch === undefined ? [L] : [B, L];
}
