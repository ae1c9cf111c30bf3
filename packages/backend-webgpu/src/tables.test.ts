// Tile maps on the CPU: sharpening tiles reblocked from a coarser BlockMask with the mask's
// interval analysis (refineTiles) — exact where it claims full or empty, for several masks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { capture, compileMaskInterval, compileToJs, denseFromTables, reblock, traceMaskMod, type MaskMod } from '@flexattn/ir';
import { createBlockMask } from '@flexattn/blockmask';
import { refineTiles } from './tables.js';

const docs = capture(Int32Array.from({ length: 300 }, (_, i) => Math.floor(i / 37)), [300], { name: 'docs' });
const MASKS: Record<string, MaskMod> = {
  causal: (_b, _h, q, kv) => q.ge(kv),
  window: (_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).le(50)),
  perHead: (_b, h, q, kv) => kv.le(q.add(h.mul(40))),
  document: (_b, _h, q, kv) => docs.at(q).eq(docs.at(kv)),
};

describe('refineTiles', () => {
  it('causal, 128-blocks on 64×32 tiles: the diagonal block splits into partial, full and empty tiles', () => {
    const m = createBlockMask(traceMaskMod(MASKS.causal!), { qLen: 256, kvLen: 256, blockSize: 128 });
    const coarse = denseFromTables(reblock(m, 64, 32));
    const fine = refineTiles(coarse, m, compileMaskInterval(m.maskMod), 64, 32, 1, 1);
    const row = (r: number) => [...fine.slice(r * 8, r * 8 + 8)];
    expect([...coarse.slice(0, 8)]).toEqual([1, 1, 1, 1, 0, 0, 0, 0]);
    expect(row(0)).toEqual([1, 1, 0, 0, 0, 0, 0, 0]);
    expect(row(1)).toEqual([2, 2, 1, 1, 0, 0, 0, 0]);
    expect(row(3)).toEqual([2, 2, 2, 2, 2, 2, 1, 1]);
    expect(refineTiles(coarse, m, undefined, 64, 32, 1, 1)).toBe(coarse);
  });

  it('never claims full or empty wrongly (random masks, tiles and lengths)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.keys(MASKS)),
        fc.integer({ min: 20, max: 300 }),
        fc.integer({ min: 20, max: 300 }),
        fc.constantFrom(16, 32, 64, 128),
        fc.constantFrom(4, 8, 16, 32, 64),
        fc.constantFrom(4, 8, 16, 32, 64),
        (name, Lq, Lkv, block, tq, tk) => {
          const H = name === 'perHead' ? 3 : 1;
          const m = createBlockMask(traceMaskMod(MASKS[name]!), { H, qLen: Lq, kvLen: Lkv, blockSize: block });
          const coarse = denseFromTables(reblock(m, tq, tk));
          const fine = refineTiles(coarse, m, compileMaskInterval(m.maskMod), tq, tk, 1, H);
          const fn = compileToJs(m.maskMod);
          const R = Math.ceil(Lq / tq), C = Math.ceil(Lkv / tk);
          for (let h = 0; h < H; h++) {
            for (let r = 0; r < R; r++) {
              for (let c = 0; c < C; c++) {
                const at = (h * R + r) * C + c;
                const was = coarse[at]!, now = fine[at]!;
                if (was !== 1) expect(now).toBe(was); // only partial tiles change
                if (now === was) continue;
                let wrong = 0;
                for (let q = r * tq; q < Math.min(Lq, (r + 1) * tq); q++) {
                  for (let kv = c * tk; kv < Math.min(Lkv, (c + 1) * tk); kv++) if (!!fn(0, h, q, kv) !== (now === 2)) wrong++;
                }
                expect(wrong).toBe(0);
              }
            }
          }
        },
      ),
      { numRuns: 40, seed: 7 },
    );
  });
});
