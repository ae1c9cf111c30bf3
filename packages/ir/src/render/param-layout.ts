/**
 * Where a mod's runtime parameters live when a kernel runs: one list of fields per mod, laid out
 * in bytes, that every target derives its own form from — CUDA passes each mod's block by value as
 * a params struct (device pointers, dims, scalars); WGSL binds the tensors as storage buffers and
 * puts the scalars of both mods in one uniform. Field names are built from slot numbers only, never
 * from user-given names, so nothing a user writes reaches generated source.
 */
import { CapturedTensor, type ModParam, type Scalar } from '../params';
import { reciprocalScalarValue } from './reciprocal';

const NONE: ReadonlySet<number> = new Set();

/** Whose parameters: the score mod's or the mask mod's (each has its own slot numbers). */
export type ModOwner = 'score' | 'mask';

/** What a field holds: a tensor's device address, its gradient buffer's, one of its dims, a scalar's value, or nothing. */
export type ParamRole = 'tensor' | 'grad' | 'dim' | 'scalar' | 'pad';

export interface ParamField {
  /** `t<slot>`, `g<slot>`, `t<slot>_d<dim>`, `s<slot>`; `unused` / `pad` for padding. */
  name: string;
  role: ParamRole;
  /** The tensor's element type (tensor, grad), the value's type (scalar), i32 (dim, pad). */
  dtype: 'f32' | 'i32';
  /** The mod's parameter slot (-1 for padding). */
  slot: number;
  /** For role 'dim': which dimension. */
  dim: number;
  offset: number;
  /** A scalar the kernels use through its reciprocal (reciprocal.ts): its value is checked when packed. */
  reciprocal?: true;
  /** 8 for addresses, 4 for the rest. */
  bytes: 4 | 8;
}

/**
 * One mod's parameters for targets that pass device addresses: addresses first (8 bytes each), then
 * 4-byte words in pairs, so the block is 8-byte aligned and its size a multiple of 8. An empty mod
 * still has one (padded) word: a zero-sized struct has no portable layout.
 */
export interface ParamBlock {
  owner: ModOwner;
  fields: readonly ParamField[];
  size: number;
}

/** A captured tensor as its own buffer binding (targets that bind buffers rather than pass addresses). */
export interface TensorBinding {
  owner: ModOwner;
  slot: number;
  /** `s<slot>` / `m<slot>`: unique across both mods. */
  name: string;
  tensor: CapturedTensor;
  /** A gradient buffer is bound too (a learnable tensor of a score mod with capture-gradient terms). */
  grad: boolean;
}

/** A scalar as a 4-byte word of one block holding both mods' scalars (a uniform buffer). */
export interface ScalarWord {
  owner: ModOwner;
  slot: number;
  /** `s<slot>` / `m<slot>`: unique across both mods. */
  name: string;
  dtype: 'f32' | 'i32';
  offset: number;
  /** Used through its reciprocal (reciprocal.ts): its value is checked when packed. */
  reciprocal?: true;
}

export interface ScalarBlock {
  fields: readonly ScalarWord[];
  /** A multiple of 16 and at least 16 (uniform buffer binding rules). */
  size: number;
}

const ownerLetter = (owner: ModOwner) => (owner === 'score' ? 's' : 'm');

/**
 * The address layout of one mod's parameters; `withGrads`: learnable tensors get a gradient address;
 * `reciprocalSlots`: scalars the kernels divide by through their reciprocal.
 */
export function paramBlock(owner: ModOwner, captures: readonly ModParam[], withGrads: boolean, reciprocalSlots: ReadonlySet<number> = NONE): ParamBlock {
  type Unplaced = Omit<ParamField, 'offset' | 'bytes'>;
  const addresses: Unplaced[] = [];
  const words: Unplaced[] = [];
  captures.forEach((c, slot) => {
    if (c instanceof CapturedTensor) {
      addresses.push({ name: `t${slot}`, role: 'tensor', dtype: c.dtype, slot, dim: 0 });
      if (withGrads && c.requiresGrad) addresses.push({ name: `g${slot}`, role: 'grad', dtype: 'f32', slot, dim: 0 });
      c.shape.forEach((_, dim) => words.push({ name: `t${slot}_d${dim}`, role: 'dim', dtype: 'i32', slot, dim }));
    } else {
      words.push({ name: `s${slot}`, role: 'scalar', dtype: c.dtype, slot, dim: 0, ...(reciprocalSlots.has(slot) ? { reciprocal: true as const } : {}) });
    }
  });
  const pad = (name: string): Unplaced => ({ name, role: 'pad', dtype: 'i32', slot: -1, dim: 0 });
  if (addresses.length + words.length === 0) words.push(pad('unused'));
  if (words.length % 2 === 1) words.push(pad('pad'));
  const fields: ParamField[] = [];
  let offset = 0;
  for (const f of addresses) {
    fields.push({ ...f, offset, bytes: 8 });
    offset += 8;
  }
  for (const f of words) {
    fields.push({ ...f, offset, bytes: 4 });
    offset += 4;
  }
  return { owner, fields, size: offset };
}

/** The captured tensors of both mods as bindings: the score mod's first, each in slot order. */
export function tensorBindings(score: readonly ModParam[], mask: readonly ModParam[], scoreGrads: boolean): TensorBinding[] {
  const out: TensorBinding[] = [];
  const add = (owner: ModOwner, captures: readonly ModParam[], grads: boolean) =>
    captures.forEach((c, slot) => {
      if (c instanceof CapturedTensor) out.push({ owner, slot, name: `${ownerLetter(owner)}${slot}`, tensor: c, grad: grads && c.requiresGrad });
    });
  add('score', score, scoreGrads);
  add('mask', mask, false);
  return out;
}

/** The scalars of both mods as consecutive 4-byte words: the score mod's first, each in slot order. */
export function scalarBlock(score: readonly ModParam[], mask: readonly ModParam[], scoreReciprocalSlots: ReadonlySet<number> = NONE): ScalarBlock {
  const fields: ScalarWord[] = [];
  const add = (owner: ModOwner, captures: readonly ModParam[], reciprocal: ReadonlySet<number>) =>
    captures.forEach((c, slot) => {
      if (c instanceof CapturedTensor) return;
      fields.push({ owner, slot, name: `${ownerLetter(owner)}${slot}`, dtype: c.dtype, offset: fields.length * 4, ...(reciprocal.has(slot) ? { reciprocal: true as const } : {}) });
    });
  add('score', score, scoreReciprocalSlots);
  add('mask', mask, NONE);
  return { fields, size: Math.max(16, Math.ceil((fields.length * 4) / 16) * 16) };
}

/** Device addresses of a mod's tensors and gradient buffers (null: none, e.g. in a forward pass). */
export interface ParamAddresses {
  tensor(slot: number): bigint;
  grad(slot: number): bigint | null;
}

/** The bytes of one mod's parameter block (little-endian), with the current scalar values and shapes. */
export function packParamBlock(block: ParamBlock, captures: readonly ModParam[], addresses: ParamAddresses): ArrayBuffer {
  const buf = new ArrayBuffer(block.size);
  const view = new DataView(buf);
  for (const f of block.fields) {
    const c = captures[f.slot];
    switch (f.role) {
      case 'tensor':
        view.setBigUint64(f.offset, addresses.tensor(f.slot), true);
        break;
      case 'grad':
        view.setBigUint64(f.offset, addresses.grad(f.slot) ?? 0n, true);
        break;
      case 'dim':
        view.setInt32(f.offset, (c as CapturedTensor).shape[f.dim]!, true);
        break;
      case 'scalar':
        writeWord(view, f.offset, f.dtype, scalarValue(c as Scalar, f.reciprocal));
        break;
      case 'pad':
        break;
    }
  }
  return buf;
}

/** The bytes of the scalar block with the scalars' current values. */
export function packScalarBlock(block: ScalarBlock, score: readonly ModParam[], mask: readonly ModParam[]): ArrayBuffer {
  const buf = new ArrayBuffer(block.size);
  const view = new DataView(buf);
  for (const f of block.fields) {
    const c = (f.owner === 'score' ? score : mask)[f.slot] as Scalar;
    writeWord(view, f.offset, f.dtype, scalarValue(c, f.reciprocal));
  }
  return buf;
}

const scalarValue = (c: Scalar, reciprocal: true | undefined): number => (reciprocal ? reciprocalScalarValue(c) : c.value);

function writeWord(view: DataView, offset: number, dtype: 'f32' | 'i32', value: number): void {
  if (dtype === 'f32') view.setFloat32(offset, value, true);
  else view.setInt32(offset, value, true);
}
