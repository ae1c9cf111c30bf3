/**
 * Host tensors and the f16/bf16 conversions. f16/bf16 data are bit patterns in a Uint16Array;
 * f32 data is a Float32Array. Shapes are row-major and contiguous.
 */
import { OptionError, ShapeError } from './errors';

export type DType = 'f32' | 'f16' | 'bf16';
export interface Tensor {
  data: Float32Array | Uint16Array;
  shape: readonly number[];
  dtype: DType;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f32 → bf16 bits, round to nearest even (NaN stays NaN). */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}
export function bf16BitsToF32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

/** f32 → IEEE half bits, round to nearest even, with subnormals, ±inf and NaN. */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Values of a tensor as float64 (for the reference and for comparisons). */
export function toFloat64(t: Tensor): Float64Array {
  const out = new Float64Array(t.data.length);
  if (t.dtype === 'f32') out.set(t.data);
  else {
    const conv = t.dtype === 'bf16' ? bf16BitsToF32 : f16BitsToF32;
    for (let i = 0; i < out.length; i++) out[i] = conv(t.data[i]!);
  }
  return out;
}

/** A tensor of the given dtype from float values (rounded to the dtype). */
export function fromFloats(values: ArrayLike<number>, shape: readonly number[], dtype: DType): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== values.length) throw new ShapeError(`tensor of shape [${shape.join(', ')}] needs ${size} values, got ${values.length}`);
  if (dtype === 'f32') return { data: Float32Array.from(values), shape: [...shape], dtype };
  if (dtype !== 'f16' && dtype !== 'bf16') throw new OptionError(`unknown dtype '${String(dtype)}'; use 'f32', 'f16' or 'bf16'`);
  const conv = dtype === 'bf16' ? f32ToBf16Bits : f32ToF16Bits;
  const data = new Uint16Array(size);
  for (let i = 0; i < size; i++) data[i] = conv(values[i]!);
  return { data, shape: [...shape], dtype };
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
