/**
 * The catalogue end to end: (1) every mask under ir's interval analysis (what block masks are built
 * from) is sound on random boxes; (2) attention through the reference backend with a block mask and
 * composed score mods equals a naive attention written from the plain-JS definitions.
 */
import { blockMaskByEvaluation, compileToJs, maskInterval, type MaskMod, traceMaskMod } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { compareClose, randomTensor } from '@flexattn/ir/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as mods from './index';

const L = 24;
const catalogue: [string, () => MaskMod][] = [
  ['causal', () => mods.causal({ offset: 3 })],
  ['slidingWindow', () => mods.slidingWindow(4, 2, { offset: -1 })],
  ['dilatedSlidingWindow', () => mods.dilatedSlidingWindow(3, 2)],
  ['prefixLm', () => mods.prefixLm(5)],
  ['prefixLm per batch', () => mods.prefixLm([2, 9])],
  ['documentMask + causal', () => mods.documentMask({ ids: [...Array(L)].map((_, i) => Math.floor(i / 7)).concat([...Array(L)].map((_, i) => Math.floor(i / 5))), batch: 2 }, mods.causal())],
  ['chunkedAttention', () => mods.chunkedAttention(5)],
  ['attentionSinks', () => mods.attentionSinks(2, 4)],
  ['neighborhood2d', () => mods.neighborhood2d({ height: 4, width: 6, kernel: [3, 3], dilation: [1, 2] })],
  ['crossAttention', () => mods.crossAttention([...Array(L)].map((_, i) => Math.floor(i / 8) - 1), [...Array(L)].map((_, i) => i % 3))],
  ['globalTokens', () => mods.globalTokens(2, 3)],
  ['noopMask', () => mods.noopMask()],
  ['notMask(orMasks(...))', () => mods.notMask(mods.orMasks(mods.prefixLm(3), mods.slidingWindow(2)))],
];

const range = fc.tuple(fc.nat(L - 1), fc.nat(L - 1)).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as [number, number]);

describe('interval analysis of every catalogue mask is sound', () => {
  for (const [name, make] of catalogue) {
    it(name, () => {
      const traced = traceMaskMod(make());
      const compiled = compileToJs(traced);
      const f = (b: number, q: number, kv: number): boolean => compiled(b, 0, q, kv) as boolean;
      fc.assert(
        fc.property(fc.nat(1), range, range, (b, q, kv) => {
          const cov = maskInterval(traced, { b: [b, b], h: [0, 0], q, kv });
          if (cov === 'some') return;
          for (let i = q[0]; i <= q[1]; i++)
            for (let j = kv[0]; j <= kv[1]; j++) {
              if (f(b, i, j) !== (cov === 'all')) expect.fail(`${name}: box q=${q} kv=${kv} classified '${cov}' but (q=${i}, kv=${j}) is ${!(cov === 'all')}`);
            }
        }),
        { numRuns: 150 },
      );
    });
  }
});

type Visible = (b: number, h: number, q: number, kv: number) => boolean;
type Bias = (s: number, b: number, h: number, q: number, kv: number) => number;

/** softmax(bias(q·k·scale)) @ v over visible keys, in float64, from plain-JS definitions. */
function naiveAttention(dims: { B: number; H: number; Lq: number; Lkv: number; E: number }, q: Float32Array, k: Float32Array, v: Float32Array, visible: Visible, bias: Bias): Float64Array {
  const { B, H, Lq, Lkv, E } = dims;
  const out = new Float64Array(B * H * Lq * E);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < Lq; i++) {
        const logits: number[] = [];
        for (let j = 0; j < Lkv; j++) {
          let dot = 0;
          for (let e = 0; e < E; e++) dot += q[((b * H + h) * Lq + i) * E + e]! * k[((b * H + h) * Lkv + j) * E + e]!;
          logits.push(visible(b, h, i, j) ? bias(dot / Math.sqrt(E), b, h, i, j) : -Infinity);
        }
        const m = Math.max(...logits);
        if (m === -Infinity) continue;
        const w = logits.map((x) => Math.exp(x - m));
        const z = w.reduce((a, c) => a + c, 0);
        for (let j = 0; j < Lkv; j++)
          for (let e = 0; e < E; e++) out[((b * H + h) * Lq + i) * E + e]! += (w[j]! / z) * v[((b * H + h) * Lkv + j) * E + e]!;
      }
  return out;
}

describe('end to end through the reference backend', () => {
  it('documents + causal + window, with alibi → softcap → head bias', async () => {
    const dims = { B: 2, H: 2, Lq: L, Lkv: L, E: 8 };
    const ids = [...Array(2 * L)].map((_, i) => (i < L ? Math.floor(i / 9) : Math.floor((i - L) / 4)));
    const start = (b: number, i: number): number => ids.indexOf(ids[b * L + i]!, b * L) - b * L;
    const mask = mods.andMasks(mods.documentMask({ ids, batch: 2 }, mods.causal()), mods.slidingWindow(5));
    const visible: Visible = (b, _h, i, j) => ids[b * L + i] === ids[b * L + j] && j - start(b, j) <= i - start(b, i) && i - j <= 5;
    const scoreMod = mods.composeScoreMods(mods.alibi(2), mods.softcap(3), mods.headBias([0.5, -0.5]));
    const headB = [0.5, -0.5];
    const bias: Bias = (s, _b, h, i, j) => 3 * Math.tanh((s + Math.fround(2 ** (-8 * (h + 1) / 2)) * (j - i)) / 3) + headB[h]!;
    const q = randomTensor([2, 2, L, 8], 'f32', 11);
    const k = randomTensor([2, 2, L, 8], 'f32', 12);
    const v = randomTensor([2, 2, L, 8], 'f32', 13);
    const blockMask = blockMaskByEvaluation(traceMaskMod(mask), { B: 2, qLen: L, kvLen: L, blockSize: 8 });
    const { out } = await createReferenceBackend().flexAttention(q, k, v, { scoreMod, blockMask });
    const want = naiveAttention(dims, q.data as Float32Array, k.data as Float32Array, v.data as Float32Array, visible, bias);
    const cmp = compareClose(out, want, { atol: 1e-6, rtol: 1e-5 });
    expect(cmp.ok, JSON.stringify(cmp)).toBe(true);
  });

  it('decoding: 3 queries over 24 keys with sinks + window and a temperature', async () => {
    const dims = { B: 1, H: 2, Lq: 3, Lkv: L, E: 8 };
    const mask = mods.attentionSinks(2, 6, { offset: L - 3 });
    const visible: Visible = (_b, _h, i, j) => j <= i + L - 3 && (j < 2 || i + L - 3 - j < 6);
    const q = randomTensor([1, 2, 3, 8], 'f32', 21);
    const k = randomTensor([1, 2, L, 8], 'f32', 22);
    const v = randomTensor([1, 2, L, 8], 'f32', 23);
    const blockMask = blockMaskByEvaluation(traceMaskMod(mask), { qLen: 3, kvLen: L, blockSize: 4 });
    const { out } = await createReferenceBackend().flexAttention(q, k, v, { scoreMod: mods.temperature(0.7), blockMask });
    const want = naiveAttention(dims, q.data as Float32Array, k.data as Float32Array, v.data as Float32Array, visible, (s) => s / Math.fround(0.7));
    const cmp = compareClose(out, want, { atol: 1e-6, rtol: 1e-5 });
    expect(cmp.ok, JSON.stringify(cmp)).toBe(true);
  });
});
