/** The @flexattn/mods catalogue through createBlockMask, against the brute force. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MaskMod } from '@flexattn/ir';
import * as mods from '@flexattn/mods';
import { createBlockMask, validateBlockMask } from './index';
import { bruteForceBlocks, denseFromQMajor, firstDifference } from './oracle.test-helpers';

type Factory = (L: number, r: () => number) => MaskMod;
const int = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const docIds = (L: number, r: () => number) => {
  const ids = new Int32Array(L);
  let d = 0;
  for (let i = 1; i < L; i++) ids[i] = r() < 0.08 ? ++d : d;
  return ids;
};
const catalogue: [string, Factory][] = [
  ['causal', (_L, r) => mods.causal({ offset: int(r, -10, 10) })],
  ['slidingWindow', (_L, r) => mods.slidingWindow(int(r, 0, 40), int(r, 0, 10), { causal: r() < 0.5 })],
  ['dilatedSlidingWindow', (_L, r) => mods.dilatedSlidingWindow(int(r, 1, 40), int(r, 1, 4), { causal: r() < 0.5 })],
  ['prefixLm', (L, r) => mods.prefixLm(int(r, 0, L))],
  ['documentMask', (L, r) => mods.documentMask(docIds(L, r))],
  ['documentMask + causal', (L, r) => mods.documentMask(docIds(L, r), mods.causal())],
  ['chunkedAttention', (_L, r) => mods.chunkedAttention(int(r, 1, 50))],
  ['attentionSinks', (_L, r) => mods.attentionSinks(int(r, 0, 8), int(r, 1, 30))],
  ['globalTokens', (_L, r) => mods.globalTokens(int(r, 0, 8), int(r, 1, 30))],
  ['neighborhood2d', (L, r) => {
    const width = int(r, 3, 12);
    return mods.neighborhood2d({ height: Math.max(3, Math.floor(L / width)), width, kernel: [3, 3] });
  }],
  ['noopMask', () => mods.noopMask()],
  ['andMasks(causal, slidingWindow)', (_L, r) => mods.andMasks(mods.causal(), mods.slidingWindow(int(r, 0, 30)))],
  ['orMasks(prefixLm, causal)', (L, r) => mods.orMasks(mods.prefixLm(int(r, 0, L)), mods.causal())],
  ['notMask(causal)', () => mods.notMask(mods.causal())],
];

describe('catalogue masks equal the brute force', () => {
  for (const [name, make] of catalogue) {
    it(name, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 140 }), fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 2 ** 31 - 1 }),
          (L, bq, bk, seed) => {
            let s = seed;
            const r = () => ((s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff) / 0x80000000);
            let mod: MaskMod;
            try {
              mod = make(L, r);
            } catch (e) {
              if ((e as Error).name === 'ModOptionError') return; // parameters the factory rejects
              throw e;
            }
            const m = createBlockMask(mod, { qLen: L, kvLen: L, blockSize: [bq, bk] });
            const shape = { B: 1, H: 1, qLen: L, kvLen: L, bq, bk };
            const diff = firstDifference(m.toDense(), bruteForceBlocks(mod, shape), shape);
            if (diff) throw new Error(`${diff}\n${m.maskMod.toString()}`);
            expect(firstDifference(denseFromQMajor(m), m.toDense(), shape)).toBeUndefined();
            expect(validateBlockMask(m, { tight: true }).ok).toBe(true);
          },
        ),
        { numRuns: 40 },
      );
    });
  }
});
