/**
 * The inputs and tolerances of the conformance cases, without vitest, so that scripts and bundles
 * (the bench, GPU-machine runs) can use them too.
 */
import type { FlexAttentionOptions } from '../kernel';
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

/** The tensors and options of a case (fresh mods and masks each call). */
export function caseInputs(c: ConformanceCase, dtype: DType, seed = 1, factory?: BlockMaskFactory): CaseInputs {
  const tensors = {
    q: randomTensor([c.B, c.Hq, c.Lq, c.E], dtype, seed),
    k: randomTensor([c.B, c.Hkv, c.Lkv, c.E], dtype, seed + 1),
    v: randomTensor([c.B, c.Hkv, c.Lkv, c.Ev], dtype, seed + 2),
    dOut: randomTensor([c.B, c.Hq, c.Lq, c.Ev], dtype, seed + 3),
  };
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

