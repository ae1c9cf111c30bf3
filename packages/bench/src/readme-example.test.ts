// The README's example, verbatim in spirit (keep the two in sync), checked against a hand-computed
// row: query 5 of head 3 sees keys 0..5 with ALiBi bias slope·(kv − q).
import { describe, expect, it } from 'vitest';
import { capture, type ScoreMod, toFloat64 } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { createBlockMask } from '@flexattn/blockmask';
import { randomTensor } from '@flexattn/ir/testing';

describe('README example', () => {
  it('runs ALiBi + causal on the reference and matches a hand-written softmax row', async () => {
    const H = 8, L = 256, D = 64;
    const slopes = capture(Float32Array.from({ length: H }, (_, h) => 2 ** ((-8 * (h + 1)) / H)));
    const alibi: ScoreMod = (score, b, h, q, kv) => score.add(slopes.at(h).mul(kv.sub(q)));
    const causal = createBlockMask((b, h, q, kv) => q.ge(kv), { qLen: L, kvLen: L });
    const [q, k, v] = [1, 2, 3].map((seed) => randomTensor([1, H, L, D], 'f32', seed));
    const { out, lse } = await createReferenceBackend().flexAttention(q!, k!, v!, { scoreMod: alibi, blockMask: causal, returnLse: true });

    const [qf, kf, vf] = [toFloat64(q!), toFloat64(k!), toFloat64(v!)];
    const h = 3, i = 5;
    const slope = Math.fround(2 ** ((-8 * (h + 1)) / H));
    const s: number[] = [];
    for (let j = 0; j <= i; j++) {
      let dot = 0;
      for (let e = 0; e < D; e++) dot += qf[(h * L + i) * D + e]! * kf[(h * L + j) * D + e]!;
      s.push(dot / Math.sqrt(D) + slope * (j - i));
    }
    const m = Math.max(...s);
    const z = s.reduce((a, x) => a + Math.exp(x - m), 0);
    expect(lse!.data[h * L + i]).toBeCloseTo(m + Math.log(z), 4);
    for (const e of [0, 17, 63]) {
      const want = s.reduce((a, x, j) => a + (Math.exp(x - m) / z) * vf[(h * L + j) * D + e]!, 0);
      expect(out.data[(h * L + i) * D + e]).toBeCloseTo(want, 4);
    }
  });
});
