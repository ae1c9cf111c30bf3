/**
 * learnedSinks against a dense float64 attention written here with the sink as an extra softmax
 * column (value 0): forward directly, gradients (q, k, v, sink logits) by central finite differences
 * of that dense definition — not of the helper.
 */
import { blockMaskByEvaluation, type Tensor, traceMaskMod, UnsupportedError } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { randomTensor } from '@flexattn/ir/testing';
import { describe, expect, it } from 'vitest';
import { learnedSinks } from './learned-sinks';

const [B, Hq, Hkv, Lq, Lkv, E, Ev] = [2, 4, 2, 5, 7, 3, 2];
const visible = (i: number, j: number) => i >= 1 && j <= i + 1; // row 0 sees no key

/** Dense attention with an extra sink column per row; returns Σ dOut·out + Σ dLse·lse and the outputs. */
function dense(q: Float64Array, k: Float64Array, v: Float64Array, sinks: Float64Array, scale: number) {
  const out = new Float64Array(B * Hq * Lq * Ev);
  const lse = new Float64Array(B * Hq * Lq);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++)
      for (let i = 0; i < Lq; i++) {
        const row = (b * Hq + h) * Lq + i;
        const logits: number[] = [];
        const values: number[][] = [];
        for (let j = 0; j < Lkv; j++) {
          if (!visible(i, j)) continue;
          let s = 0;
          for (let e = 0; e < E; e++) s += q[row * E + e]! * k[((b * Hkv + (h >> 1)) * Lkv + j) * E + e]!;
          logits.push(s * scale);
          values.push(Array.from({ length: Ev }, (_, e) => v[((b * Hkv + (h >> 1)) * Lkv + j) * Ev + e]!));
        }
        logits.push(sinks[h]!); // the sink column
        values.push(new Array<number>(Ev).fill(0));
        const m = Math.max(...logits);
        const z = logits.reduce((acc, x) => acc + Math.exp(x - m), 0);
        lse[row] = m + Math.log(z);
        logits.forEach((x, c) => {
          for (let e = 0; e < Ev; e++) out[row * Ev + e]! += (Math.exp(x - m) / z) * values[c]![e]!;
        });
      }
  return { out, lse };
}

describe('learnedSinks (GPT-OSS sink logits) = dense float64 softmax with an extra sink column', () => {
  const ref = createReferenceBackend();
  const q = randomTensor([B, Hq, Lq, E], 'f32', 41);
  const k = randomTensor([B, Hkv, Lkv, E], 'f32', 42);
  const v = randomTensor([B, Hkv, Lkv, Ev], 'f32', 43);
  const dOut = randomTensor([B, Hq, Lq, Ev], 'f32', 44);
  const dLse = randomTensor([B, Hq, Lq], 'f32', 45);
  const scale = 0.7;
  const blockMask = blockMaskByEvaluation(traceMaskMod((_b, _h, qi, kv) => qi.ge(1).and(kv.le(qi.add(1)))), { qLen: Lq, kvLen: Lkv, blockSize: 2 });
  const options = { blockMask, scale, enableGqa: true };
  const sinkValues = [0.3, -1.2, 2.0, 0.0];

  it('forward: out and lse', async () => {
    const sinks = learnedSinks(sinkValues);
    const got = await sinks.forward(ref, q, k, v, options);
    const want = dense(Float64Array.from(q.data), Float64Array.from(k.data), Float64Array.from(v.data), Float64Array.from(sinkValues), scale);
    for (let i = 0; i < want.out.length; i++) expect(Math.abs(got.out.data[i]! - want.out[i]!)).toBeLessThan(1e-6);
    for (let i = 0; i < want.lse.length; i++) expect(Math.abs(got.lse.data[i]! - want.lse[i]!)).toBeLessThan(1e-6);
    // row 0 sees no key: all of its mass is in the sink
    expect(got.lse.data[0]).toBeCloseTo(sinkValues[0]!, 6);
    expect(Array.from(got.out.data.slice(0, Ev))).toEqual([0, 0]);
  });

  it('backward: dq, dk, dv and the sink logits’ gradient, with and without dLse', async () => {
    for (const withLse of [false, true]) {
      const sinks = learnedSinks(sinkValues);
      const fwd = await sinks.forward(ref, q, k, v, options);
      const g = await sinks.backward(ref, q, k, v, fwd, dOut, withLse ? { ...options, dLse } : options);
      const x = { q: Float64Array.from(q.data), k: Float64Array.from(k.data), v: Float64Array.from(v.data), s: Float64Array.from(sinkValues) };
      const loss = () => {
        const r = dense(x.q, x.k, x.v, x.s, scale);
        let L = 0;
        r.out.forEach((o, i) => (L += o * dOut.data[i]!));
        if (withLse) r.lse.forEach((l, i) => (L += l * dLse.data[i]!));
        return L;
      };
      const numeric = (a: Float64Array) =>
        Array.from(a, (x0, i) => {
          a[i] = x0 + 1e-6;
          const lp = loss();
          a[i] = x0 - 1e-6;
          const lm = loss();
          a[i] = x0;
          return (lp - lm) / 2e-6;
        });
      const close = (name: string, got: ArrayLike<number>, want: number[]) => {
        const big = Math.max(...want.map(Math.abs));
        expect(big, `${name} is not trivially zero`).toBeGreaterThan(1e-3);
        want.forEach((w, i) => {
          if (!(Math.abs(got[i]! - w) <= 1e-5 * (1 + big))) expect.fail(`${name}[${i}] (dLse ${withLse}): got ${got[i]}, expected ${w}`);
        });
      };
      close('dq', g.dq.data, numeric(x.q));
      close('dk', g.dk.data, numeric(x.k));
      close('dv', g.dv.data, numeric(x.v));
      close('sinkGrad', g.sinkGrad, numeric(x.s));
    }
  });

  it('one logit per query head; a backend without dLse says so instead of training the sinks wrongly', async () => {
    const sinks = learnedSinks([0, 0]);
    await expect(sinks.forward(ref, q, k, v, options)).rejects.toThrow(/2 sink logits but q has 4 heads/);
    const noLse = { ...ref, features: [], flexAttentionBackward: (...a: Parameters<typeof ref.flexAttentionBackward>) => {
      const o = a[6];
      if (o?.dLse) return Promise.reject(new UnsupportedError('the test backend does not implement the dLse option yet'));
      return ref.flexAttentionBackward(...a);
    } };
    const four = learnedSinks(sinkValues);
    const fwd = await four.forward(noLse, q, k, v, options);
    await expect(four.backward(noLse, q, k, v, fwd, dOut as Tensor, options)).rejects.toBeInstanceOf(UnsupportedError);
    expect(() => learnedSinks([0, NaN])).toThrow(/finite numbers; entry 1 is NaN/);
  });
});
