import { where } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { assertClose, randomTensor } from '@flexattn/ir/testing';
import { blockMaskByEvaluation, resolveAttention, traceMaskMod } from '@flexattn/ir';
import { describe, expect, it } from 'vitest';
import { withScaleInScoreMod } from './scale.js';

describe('non-positive scales move into the score mod (the identity fast path assumes scale > 0)', () => {
  const ref = createReferenceBackend();
  const q = randomTensor([1, 2, 9, 8], 'f32', 1);
  const k = randomTensor([1, 2, 11, 8], 'f32', 2);
  const v = randomTensor([1, 2, 11, 8], 'f32', 3);
  const dOut = randomTensor([1, 2, 9, 8], 'f32', 4);
  const blockMask = blockMaskByEvaluation(traceMaskMod((_b, _h, qi, kv) => qi.add(2).ge(kv)), { qLen: 9, kvLen: 11, blockSize: 4 });

  for (const scale of [-0.7, 0, -3]) {
    it(`scale ${scale}: the rewritten problem means the same, forward and backward`, async () => {
      const options = { scale, blockMask, returnLse: true };
      const p = withScaleInScoreMod(resolveAttention(q, k, v, options));
      expect(p.scale).toBe(1);
      const rewritten = { scale: p.scale, scoreMod: p.scoreMod, blockMask, returnLse: true };
      const want = await ref.flexAttention(q, k, v, options);
      const got = await ref.flexAttention(q, k, v, rewritten);
      assertClose(got.out, want.out, { atol: 1e-6, rtol: 1e-6 });
      assertClose(got.lse!, want.lse!, { atol: 1e-6, rtol: 1e-6 });
      const gw = await ref.flexAttentionBackward(q, k, v, want.out, want.lse!, dOut, options);
      const gg = await ref.flexAttentionBackward(q, k, v, got.out, got.lse!, dOut, rewritten);
      for (const n of ['dq', 'dk', 'dv'] as const) assertClose(gg[n], gw[n], { atol: 1e-6, rtol: 1e-5 });
    });
  }

  it('every non-positive scale shares one kernel (the factor is a runtime scalar); positive scales and real mods are untouched', () => {
    const a = withScaleInScoreMod(resolveAttention(q, k, v, { scale: -1 }));
    const b = withScaleInScoreMod(resolveAttention(q, k, v, { scale: -2 }));
    expect(a.scoreMod!.hash).toBe(b.scoreMod!.hash);
    const positive = resolveAttention(q, k, v, { scale: 0.5 });
    expect(withScaleInScoreMod(positive)).toBe(positive);
    const modded = resolveAttention(q, k, v, { scale: -1, scoreMod: (s, _b, _h, qi, kv) => where(qi.ge(kv), s, s.mul(2)) });
    expect(withScaleInScoreMod(modded)).toBe(modded);
  });
});
