/**
 * The reference's version-2 outputs against independent definitions: `returnAux.maxScores` against
 * a dense float64 row max written here, and the gradient through lse (`dLse`) against central finite
 * differences of a loss that uses lse, Σ dOut·out + Σ dLse·lse, evaluated in float64 (forward64).
 */
import { describe, expect, it } from 'vitest';
import { blockMaskByEvaluation } from '../block-mask';
import { where } from '../expr';
import type { FlexAttentionOptions } from '../kernel';
import { capture } from '../params';
import type { Tensor } from '../tensor';
import { randomTensor } from '../random';
import { traceMaskMod, traceScoreMod } from '../trace';
import { createReferenceBackend } from './backend';
import { numericGradient } from './finite-differences.test-helpers';
import { attentionTensors } from '../testing/inputs';

const f32 = (shape: number[], seed: number, std = 1): Tensor => randomTensor(shape, 'f32', seed, std);

describe('returnAux.maxScores = the row max of the post-mod scores (dense float64 definition)', () => {
  it('score mod, GQA, a mask with fully masked rows (−inf), natural units', async () => {
    const [B, Hq, Hkv, Lq, Lkv, E] = [2, 4, 2, 9, 13, 5];
    const q = f32([B, Hq, Lq, E], 1);
    const k = f32([B, Hkv, Lkv, E], 2);
    const v = f32([B, Hkv, Lkv, 3], 3);
    const scale = -0.8; // any finite scale: a negative one flips which key is the max
    const mod = (s: number, h: number, qi: number, kv: number) => (qi >= kv ? Math.tanh(s / 2) * 2 : s - 0.1 * h);
    const visible = (qi: number, kv: number) => qi >= 2 && kv <= qi + 3;
    const blockMask = blockMaskByEvaluation(traceMaskMod((_b, _h, qi, kv) => qi.ge(2).and(kv.le(qi.add(3)))), { qLen: Lq, kvLen: Lkv, blockSize: 4 });
    const scoreMod = traceScoreMod((s, _b, h, qi, kv) => where(qi.ge(kv), s.div(2).tanh().mul(2), s.sub(h.toFloat().mul(0.1))));
    const ref = createReferenceBackend();
    const r = await ref.flexAttention(q, k, v, { scoreMod, blockMask, scale, enableGqa: true, returnAux: { maxScores: true, lse: true } });
    expect(r.maxScores!.shape).toEqual([B, Hq, Lq]);
    expect(r.maxScores!.dtype).toBe('f32');
    expect(r.lse).toBeDefined();
    for (let b = 0; b < B; b++)
      for (let h = 0; h < Hq; h++)
        for (let i = 0; i < Lq; i++) {
          let want = -Infinity;
          for (let j = 0; j < Lkv; j++) {
            if (!visible(i, j)) continue;
            let s = 0;
            for (let e = 0; e < E; e++) s += q.data[((b * Hq + h) * Lq + i) * E + e]! * k.data[((b * Hkv + (h >> 1)) * Lkv + j) * E + e]!;
            want = Math.max(want, mod(s * scale, h, i, j));
          }
          const got = r.maxScores!.data[(b * Hq + h) * Lq + i]!;
          if (want === -Infinity) expect(got).toBe(-Infinity);
          else expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want)));
        }
    expect(Array.from(r.maxScores!.data).filter((x) => x === -Infinity).length).toBe(B * Hq * 2); // rows 0 and 1
  });

  it('only when asked: no maxScores otherwise, and returnAux.lse alone gives lse', async () => {
    const q = f32([1, 1, 3, 4], 5);
    const ref = createReferenceBackend();
    const plain = await ref.flexAttention(q, q, q);
    expect(plain.maxScores).toBeUndefined();
    expect(plain.lse).toBeUndefined();
    const lseOnly = await ref.flexAttention(q, q, q, { returnAux: { lse: true } });
    expect(lseOnly.lse).toBeDefined();
    expect(lseOnly.maxScores).toBeUndefined();
  });
});

describe('flexAttentionBackward with dLse = central finite differences of Σ dOut·out + Σ dLse·lse (float64)', () => {
  interface Case {
    name: string;
    d: { B: number; Hq: number; Hkv: number; Lq: number; Lkv: number; E: number; Ev: number };
    make: () => { options: FlexAttentionOptions; tables: Float32Array[] };
    /** dOut = 0: the loss is lse alone */
    lseOnly?: boolean;
  }
  const CASES: Case[] = [
    { name: 'no mods, Ev ≠ E, lse-only loss', d: { B: 1, Hq: 2, Hkv: 2, Lq: 4, Lkv: 6, E: 3, Ev: 2 }, make: () => ({ options: {}, tables: [] }), lseOnly: true },
    {
      name: 'learnable table + causal mask with fully masked rows, negative scale, GQA',
      d: { B: 1, Hq: 4, Hkv: 2, Lq: 6, Lkv: 6, E: 3, Ev: 3 },
      make: () => {
        const table = capture(Float32Array.from({ length: 7 }, (_, i) => Math.sin(i) * 0.6), [7], { requiresGrad: true, name: 'rel' });
        const blockMask = blockMaskByEvaluation(traceMaskMod((_b, _h, qi, kv) => qi.ge(1).and(qi.ge(kv))), { qLen: 6, kvLen: 6, blockSize: 2 });
        const scoreMod = traceScoreMod((s, _b, _h, qi, kv) => s.add(table.at(qi.sub(kv).clamp(-3, 3).add(3))).div(2).tanh().mul(2));
        return { options: { scoreMod, blockMask, scale: -0.9, enableGqa: true }, tables: [table.data as Float32Array] };
      },
    },
  ];

  for (const c of CASES) {
    it(c.name, async () => {
      const { d } = c;
      const { options, tables } = c.make();
      const ref = createReferenceBackend();
      const { q, k, v, dOut } = attentionTensors(d, 'f32', 21, { qk: 0.8, dOut: c.lseOnly ? 0 : 1 });
      const dLse = f32([d.B, d.Hq, d.Lq], 25);
      const loss = () => {
        const { out, lse } = ref.forward64(q, k, v, options);
        let s = 0;
        for (let i = 0; i < out.length; i++) s += out[i]! * dOut.data[i]!;
        // a fully masked row's lse is −inf whatever the inputs: it contributes no gradient
        for (let i = 0; i < lse.length; i++) if (lse[i] !== -Infinity) s += lse[i]! * dLse.data[i]!;
        return s;
      };
      const numeric = (data: Float32Array) => numericGradient(data, loss);
      const fwd = await ref.flexAttention(q, k, v, { ...options, returnLse: true });
      const grads = await ref.flexAttentionBackward(q, k, v, fwd.out, fwd.lse!, dOut, { ...options, dLse });
      const withoutLse = await ref.flexAttentionBackward(q, k, v, fwd.out, fwd.lse!, dOut, options);
      const check = (name: string, got: ArrayLike<number>, want: number[]) => {
        const scaleOf = Math.max(...want.map(Math.abs));
        expect(scaleOf, `${name} is not trivially zero`).toBeGreaterThan(1e-3);
        for (let i = 0; i < want.length; i++) {
          if (!(Math.abs(got[i]! - want[i]!) <= 2e-6 + 2e-5 * scaleOf + 1e-4 * Math.abs(want[i]!))) expect.fail(`${name}[${i}]: got ${got[i]}, expected ${want[i]}`);
        }
      };
      check('dq', grads.dq.data, numeric(q.data as Float32Array));
      check('dk', grads.dk.data, numeric(k.data as Float32Array));
      if (!c.lseOnly) check('dv', grads.dv.data, numeric(v.data as Float32Array));
      else expect(Array.from(grads.dv.data).every((x) => x === 0)).toBe(true); // lse does not depend on v
      for (const [tensor, g] of grads.captureGrads) {
        expect(tables).toContain(tensor.data);
        check(`grad(${tensor.name})`, g, numeric(tensor.data as Float32Array));
      }
      // the lse term is really there: the gradients differ from the ones without dLse
      const diff = Math.max(...Array.from(grads.dq.data, (x, i) => Math.abs(x - withoutLse.dq.data[i]!)));
      expect(diff).toBeGreaterThan(1e-3);
    });
  }

  it('dLse of zeros is no dLse; a fully masked row stays at zero gradient', async () => {
    const ref = createReferenceBackend();
    const q = f32([1, 1, 4, 4], 31);
    const blockMask = blockMaskByEvaluation(traceMaskMod((_b, _h, qi, kv) => qi.ge(1).and(kv.le(qi))), { qLen: 4, kvLen: 4, blockSize: 2 });
    const fwd = await ref.flexAttention(q, q, q, { blockMask, returnLse: true });
    const dOut = f32([1, 1, 4, 4], 32);
    const a = await ref.flexAttentionBackward(q, q, q, fwd.out, fwd.lse!, dOut, { blockMask, dLse: f32([1, 1, 4], 33, 0) });
    const b = await ref.flexAttentionBackward(q, q, q, fwd.out, fwd.lse!, dOut, { blockMask });
    expect(Array.from(a.dq.data)).toEqual(Array.from(b.dq.data));
    const c = await ref.flexAttentionBackward(q, q, q, fwd.out, fwd.lse!, dOut, { blockMask, dLse: f32([1, 1, 4], 34) });
    expect(Array.from(c.dq.data.slice(0, 4))).toEqual([0, 0, 0, 0]); // row 0 sees no key
  });
});
