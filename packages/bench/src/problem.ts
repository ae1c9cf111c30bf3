/**
 * Turns a bench case into concrete inputs: tensors, traced mods, the block mask, and the exact
 * density of the mask (full blocks count whole; partial blocks are evaluated element by element).
 */
import { type BenchCase, MODS, type Shape } from './cases';
import { buildRaggedProblem } from './ragged';
import {
  type BlockMask,
  compileToJs,
  createBlockMask,
  type DType,
  type FlexAttentionOptions,
  FULL,
  PARTIAL,
  randomTensor,
  type Tensor,
  traceMaskMod,
  traceScoreMod,
} from './deps';

export interface Problem {
  shape: Shape;
  dtype: DType;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  dOut: Tensor;
  options: FlexAttentionOptions;
  blockMask?: BlockMask;
  density: number;
}

/** Fraction of (q, kv) pairs the mask keeps, exactly. */
export function maskDensity(mask: BlockMask | undefined): number {
  if (!mask) return 1;
  const [Lq, Lkv] = mask.seqLengths;
  const [bq, bk] = mask.blockSize;
  const dense = mask.toDense();
  const fn = compileToJs(mask.maskMod);
  let kept = 0;
  let i = 0;
  for (let b = 0; b < mask.B; b++)
    for (let h = 0; h < mask.H; h++)
      for (let qb = 0; qb < mask.qBlocks; qb++)
        for (let kb = 0; kb < mask.kvBlocks; kb++, i++) {
          const c = dense[i];
          const q0 = qb * bq, q1 = Math.min(Lq, q0 + bq), k0 = kb * bk, k1 = Math.min(Lkv, k0 + bk);
          if (c === FULL) kept += (q1 - q0) * (k1 - k0);
          else if (c === PARTIAL) for (let q = q0; q < q1; q++) for (let kv = k0; kv < k1; kv++) if (fn(b, h, q, kv)) kept++;
        }
  return kept / (mask.B * mask.H * Lq * Lkv);
}

export function buildProblem(c: Pick<BenchCase, 'mod' | 'dtype' | 'blockSize'>, shape: Shape, seed = 1): Problem {
  const make = MODS[c.mod];
  if (!make) throw new Error(`unknown mod '${c.mod}'; known: ${Object.keys(MODS).join(', ')}`);
  const built = make(shape);
  const blockMask = built.mask ? createBlockMask(traceMaskMod(built.mask, { name: c.mod }), { qLen: shape.Lq, kvLen: shape.Lkv, blockSize: c.blockSize ?? 128 }) : undefined;
  const std = 1;
  return {
    shape,
    dtype: c.dtype,
    q: randomTensor([shape.B, shape.Hq, shape.Lq, shape.E], c.dtype, seed, std),
    k: randomTensor([shape.B, shape.Hkv, shape.Lkv, shape.E], c.dtype, seed + 1, std),
    v: randomTensor([shape.B, shape.Hkv, shape.Lkv, shape.Ev], c.dtype, seed + 2, std),
    dOut: randomTensor([shape.B, shape.Hq, shape.Lq, shape.Ev], c.dtype, seed + 3, std),
    options: {
      scoreMod: built.scoreMod ? traceScoreMod(built.scoreMod, { name: c.mod }) : undefined,
      blockMask,
      enableGqa: shape.Hq !== shape.Hkv,
      returnLse: true,
    },
    blockMask,
    density: maskDensity(blockMask),
  };
}

/** A shape small enough for the float64 reference that keeps the case's structure (GQA ratio, dims). */
export function reducedShape(s: Shape, kind: BenchCase['kind']): Shape {
  const group = s.Hq / s.Hkv;
  const Hkv = Math.min(s.Hkv, 2);
  return { B: 1, Hq: Hkv * group, Hkv, Lq: Math.min(s.Lq, 512), Lkv: Math.min(s.Lkv, kind === 'decode' ? 2048 : 512), E: s.E, Ev: s.Ev };
}

/** Useful forward FLOPs: 2·(E + Ev) per kept (q, kv) pair (= 4·D when E = Ev). */
export const forwardFlops = (s: Shape, density: number): number => 2 * s.B * s.Hq * s.Lq * s.Lkv * (s.E + s.Ev) * density;
/** Bytes of K and V read once (the floor for decoding); with per-sequence lengths, only their tokens. */
export const kvBytes = (s: Shape, dtype: DType, lengths?: readonly number[]): number =>
  (lengths ? lengths.reduce((a, l) => a + l, 0) : s.B * s.Lkv) * s.Hkv * (s.E + s.Ev) * (dtype === 'f32' ? 4 : 2);

/** A case's inputs on `shape`: decoding ragged sequences (paged or contiguous, ragged.ts) or buildProblem. */
export async function problemFor(c: BenchCase, shape: Shape, seed: number): Promise<Problem> {
  return c.lengths ? buildRaggedProblem(c, shape, seed) : buildProblem(c, shape, seed);
}
