/**
 * The inputs and tolerances of the conformance cases, without vitest, so that scripts and bundles
 * (the bench, GPU-machine runs) can use them too.
 */
import type { AttentionShape, FlexAttentionOptions } from '../kernel';
import type { DType, Tensor } from '../tensor';
import { traceScoreMod } from '../trace';
import { type BlockMaskFactory, buildBlockMask, type ConformanceCase } from './cases';
import type { Tolerance } from './compare';
import { randomTensor } from './random';
import { fromFloats } from '../tensor';

export const DEFAULT_TOLERANCE: Record<DType, { forward: Tolerance; backward: Tolerance }> = {
  f32: { forward: { atol: 2e-4, rtol: 2e-4 }, backward: { atol: 2e-3, rtol: 2e-3 } },
  f16: { forward: { atol: 4e-3, rtol: 1e-2 }, backward: { atol: 3e-2, rtol: 3e-2 } },
  bf16: { forward: { atol: 2e-2, rtol: 2e-2 }, backward: { atol: 1e-1, rtol: 5e-2 } },
};

export interface CaseInputs {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  dOut: Tensor;
  options: FlexAttentionOptions;
  /** For cases that require 'dLse': the upstream gradient of lse. */
  dLse?: Tensor;
}

/**
 * Normal random q, k, v and dOut of an attention shape, from seeds seed … seed + 3; std 1 unless
 * `std` narrows q and k (a less saturated softmax) or sets dOut's (0: a loss without the output).
 */
export function attentionTensors(s: AttentionShape, dtype: DType, seed: number, std: { qk?: number; dOut?: number } = {}): Pick<CaseInputs, 'q' | 'k' | 'v' | 'dOut'> {
  return {
    q: randomTensor([s.B, s.Hq, s.Lq, s.E], dtype, seed, std.qk),
    k: randomTensor([s.B, s.Hkv, s.Lkv, s.E], dtype, seed + 1, std.qk),
    v: randomTensor([s.B, s.Hkv, s.Lkv, s.Ev], dtype, seed + 2),
    dOut: randomTensor([s.B, s.Hq, s.Lq, s.Ev], dtype, seed + 3, std.dOut),
  };
}

/** The tensors and options of a case (fresh mods and masks each call). */
export function caseInputs(c: ConformanceCase, dtype: DType, seed = 1, factory?: BlockMaskFactory): CaseInputs {
  const tensors = attentionTensors(c, dtype, seed);
  for (const p of c.poison ?? []) {
    const t = tensors[p.tensor];
    const [b, h, i, j] = p.index;
    const flat = ((b * t.shape[1]! + h) * t.shape[2]! + i) * t.shape[3]! + j;
    t.data[flat] = fromFloats([p.value], [1], dtype).data[0]!;
  }
  return {
    ...tensors,
    options: {
      scoreMod: c.scoreMod ? traceScoreMod(c.scoreMod(), { name: c.name }) : undefined,
      blockMask: buildBlockMask(c, factory),
      scale: c.scale,
      enableGqa: c.Hq !== c.Hkv,
      returnLse: true,
      returnAux: c.requires?.includes('maxScores') ? { maxScores: true } : undefined,
    },
    dLse: c.requires?.includes('dLse') ? randomTensor([c.B, c.Hq, c.Lq], 'f32', seed + 4) : undefined,
  };
}

