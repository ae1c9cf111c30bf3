/**
 * The one validator of tensors at the API boundary, shared by every backend: shapes are finite
 * positive integers of the right rank, a host tensor's `data` is the array its dtype needs (f32: a
 * Float32Array; f16/bf16: a Uint16Array of bit patterns) holding exactly shape's element count, and
 * a device tensor belongs to this backend's device, is not released and its storage holds the shape.
 * Errors name the argument and the fix. Backends describe their device tensors through
 * `DeviceTensors`, so WebGPU and CUDA plug into the same checks.
 */
import { OptionError, ShapeError } from './errors';
import type { DType } from './tensor';

/** Just what validation reads of a tensor, so host and device tensors validate the same way. */
export interface TensorLike {
  shape: readonly number[];
  dtype: string;
}

/** What a backend knows about one of its device-resident tensors. */
export interface DeviceTensorInfo {
  /** Bytes its storage holds (a GPUBuffer's size, a CUDA allocation's length). */
  byteLength: number;
  /** Its storage was freed (released, destroyed, or its backend disposed). */
  released: boolean;
  /** The device (or context) that owns it; compared with `DeviceTensors.device` by identity. */
  device: unknown;
}

/** A backend's device tensors as the validator sees them; a backend that accepts them supplies this. */
export interface DeviceTensors {
  /** The backend's name, for messages. */
  readonly backend: string;
  /** The device this backend runs on. */
  readonly device: unknown;
  /** True for this backend's kind of device tensor (host tensors give false). */
  isDeviceTensor(t: object): boolean;
  describe(t: object): DeviceTensorInfo;
  /** Bytes per element of a device tensor of this dtype. */
  elementBytes(dtype: DType): number;
}

/**
 * Which tensors a call may take (`AttentionSupport.tensors` of resolveAttention): 'host' (only host
 * tensors with `data`), or a backend's `DeviceTensors` (its device tensors too). Left out, tensors
 * without `data` pass unchecked beyond shape and dtype — only for backends that have not plugged in
 * their `DeviceTensors` yet.
 */
export type TensorPolicy = 'host' | DeviceTensors;

export const DTYPES: readonly DType[] = Object.freeze(['f32', 'f16', 'bf16']);

const ARRAY_FOR: Record<DType, string> = { f32: 'a Float32Array', f16: 'a Uint16Array of bit patterns', bf16: 'a Uint16Array of bit patterns' };
const arrayName = (x: unknown): string =>
  x === null ? 'null' : Array.isArray(x) ? 'a plain array' : ArrayBuffer.isView(x) ? `a ${x.constructor.name}` : typeof x === 'object' ? 'an object' : typeof x;

/** The element count of a shape (checked shapes only). */
const count = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Checks `t` is a tensor of rank `layout.length` with finite positive integer dims and a known dtype. */
function checkShapeAndDtype(name: string, t: unknown, layout: string): { shape: readonly number[]; dtype: DType } {
  if (typeof t !== 'object' || t === null) throw new ShapeError(`${name} must be a tensor { data, shape, dtype } of shape ${layout}, got ${t === null ? 'null' : typeof t}`);
  const { shape, dtype } = t as Partial<TensorLike>;
  const rank = layout.split(',').length;
  if (!Array.isArray(shape)) throw new ShapeError(`${name} needs a shape array ${layout}, got ${arrayName(shape)}`);
  if (shape.length !== rank) throw new ShapeError(`${name} must have ${rank} dimensions ${layout}, got shape [${shape.join(', ')}]`);
  if (shape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 1)) {
    throw new ShapeError(`${name} has shape [${shape.map(String).join(', ')}]; every dimension must be a positive integer ${layout}`);
  }
  if (!Number.isSafeInteger(count(shape))) throw new ShapeError(`${name} has shape [${shape.join(', ')}]: too many elements to address`);
  if (typeof dtype !== 'string' || !DTYPES.includes(dtype as DType)) throw new OptionError(`${name} has dtype '${String(dtype)}'; use 'f32', 'f16' or 'bf16'`);
  return { shape, dtype: dtype as DType };
}

function checkHostData(name: string, t: object, shape: readonly number[], dtype: DType, required: boolean): void {
  const data = (t as { data?: unknown }).data;
  if (data === undefined) {
    if (required) throw new ShapeError(`${name} has no data: a host tensor is { data: ${ARRAY_FOR[dtype]}, shape, dtype } (build one with fromFloats(values, shape, '${dtype}')); device tensors go only to the backend that made them`);
    return;
  }
  const ok = dtype === 'f32' ? data instanceof Float32Array : data instanceof Uint16Array;
  if (!ok) throw new OptionError(`${name}: dtype '${dtype}' needs ${ARRAY_FOR[dtype]}, got ${arrayName(data)}; convert with fromFloats(values, shape, '${dtype}')`);
  const n = count(shape);
  if ((data as ArrayLike<number>).length !== n) {
    throw new ShapeError(`${name} has ${(data as ArrayLike<number>).length} elements but shape [${shape.join(', ')}] needs ${n}`);
  }
}

function checkDevice(name: string, t: object, shape: readonly number[], dtype: DType, dev: DeviceTensors): void {
  const info = dev.describe(t);
  if (info.released) throw new OptionError(`${name} was released (or its backend disposed); upload it again, e.g. with the backend's toGpu/upload`);
  if (info.device !== dev.device) throw new OptionError(`${name} lives on another device than this ${dev.backend} backend's; copy it to the host (or upload it to this backend) first`);
  const need = count(shape) * dev.elementBytes(dtype);
  if (!(info.byteLength >= need)) {
    throw new ShapeError(`${name} has shape [${shape.join(', ')}] (${need} bytes of ${dtype}) but its device storage holds ${info.byteLength} bytes; fix the shape or the buffer`);
  }
}

function checkStorage(name: string, t: object, shape: readonly number[], dtype: DType, policy: TensorPolicy | undefined): void {
  if (policy !== undefined && policy !== 'host' && policy.isDeviceTensor(t)) checkDevice(name, t, shape, dtype, policy);
  else checkHostData(name, t, shape, dtype, policy !== undefined);
}

/**
 * Validates one tensor argument against a layout such as '[B, Hq, Lq, E]' and returns its shape
 * and dtype. `policy` says whether device tensors are accepted (see TensorPolicy).
 */
export function checkTensor(name: string, t: unknown, layout: string, policy?: TensorPolicy): { shape: readonly number[]; dtype: DType } {
  const r = checkShapeAndDtype(name, t, layout);
  checkStorage(name, t as object, r.shape, r.dtype, policy);
  return r;
}

/** Validates `t` and requires exactly `want` as its shape (and `dtype` when given); `hint` follows the expected shape in messages. */
export function checkTensorShape(name: string, t: unknown, want: readonly number[], dtype: DType | undefined, hint: string, policy?: TensorPolicy): void {
  const layout = `[${want.join(', ')}]`;
  const r = checkShapeAndDtype(name, t, layout);
  if (r.shape.some((d, i) => d !== want[i])) throw new ShapeError(`${name} must be ${layout}${hint}, got [${r.shape.join(', ')}]`);
  if (dtype && r.dtype !== dtype) throw new OptionError(`${name} must be ${dtype}${hint}, got ${r.dtype}`);
  checkStorage(name, t as object, r.shape, r.dtype, policy);
}
