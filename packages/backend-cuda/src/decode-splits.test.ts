import { blockMaskByEvaluation, capture, compileToJs, traceMaskMod, type MaskMod } from '@flexattn/ir';
import { createBlockMask, DecodeSteps } from '@flexattn/blockmask';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeConfig, decodeCtasPerSm, type DecodeConfig } from './config.js';
import { decodeMakespan, decodeSplits, visibleWork } from './decode-splits.js';

const H100_SMS = 132;
/** The H100 as the launch plan describes it for a config: 132 SMs, the config's resident CTAs each. */
const h100 = (cfg: DecodeConfig) => ({ smCount: H100_SMS, ctasPerSm: decodeCtasPerSm(cfg, 'sm_90a') });
const ceilDiv = (a: number, b: number) => Math.ceil(a / b);

/** Session 2's rule, written out independently: two waves of CTAs, at most one split per tile. */
function twoWaves(B: number, Hkv: number, rowGroups: number, Lkv: number, bn: number, maxTiles: number) {
  let splits = Math.min(Math.max(1, ceilDiv(2 * H100_SMS, B * Hkv * rowGroups)), ceilDiv(Lkv, bn));
  splits = Math.max(splits, ceilDiv(Lkv, bn * maxTiles));
  const keysPerSplit = ceilDiv(ceilDiv(Lkv, splits), bn) * bn;
  return { splits: ceilDiv(Lkv, keysPerSplit), keysPerSplit, keyOffset: 0 };
}

/** A batch of sequences of `lengths` over one K/V of max(lengths) keys, GQA `group`. */
function ragged(lengths: number[], Hkv: number, group: number, blockKv: number) {
  const B = lengths.length;
  const Lkv = Math.max(...lengths);
  const lens = capture(Int32Array.from(lengths), [B], { name: 'lengths' });
  const mod: MaskMod = (b, _h, _q, kv) => kv.lt(lens.at(b));
  const mask = blockMaskByEvaluation(traceMaskMod(mod), { B, H: 1, qLen: 1, kvLen: Lkv, blockSize: [128, blockKv] });
  return { mask, p: { B, Hq: Hkv * group, Hkv, Lq: 1, Lkv, groupSize: group } };
}

describe('decodeSplits', () => {
  it('with every key visible: splits that cover Lkv within the kernel limits, never a longer modelled launch than two waves', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 16 }), fc.constantFrom(1, 2, 8), fc.constantFrom(1, 4, 8), fc.integer({ min: 512, max: 200_000 }),
      (B, Hkv, group, Lkv) => {
        const cfg = decodeConfig('bf16', 128, 128, group);
        const rowGroups = ceilDiv(group, cfg.rows);
        const p = { B, Hkv, Lq: 1, Lkv, groupSize: group };
        const s = decodeSplits(p, cfg, h100(cfg));
        expect(decodeSplits(p, cfg, h100(cfg), { keys: B * Hkv * Lkv, span: Lkv, start: 0 })).toEqual(s);
        expect(s.rowGroups).toBe(rowGroups);
        expect(s.keyOffset).toBe(0);
        expect(s.keysPerSplit % cfg.bn).toBe(0);
        expect(s.keysPerSplit).toBeLessThanOrEqual(cfg.bn * cfg.maxTiles);
        expect(s.splits * s.keysPerSplit).toBeGreaterThanOrEqual(Lkv);
        expect((s.splits - 1) * s.keysPerSplit).toBeLessThan(Lkv);   // no empty split
        const slots = H100_SMS * h100(cfg).ctasPerSm;
        const ctas = B * Hkv * rowGroups;
        const old = twoWaves(B, Hkv, rowGroups, Lkv, cfg.bn, cfg.maxTiles);
        expect(decodeMakespan(ctas * s.splits, s.keysPerSplit / cfg.bn, slots))
          .toBeLessThanOrEqual(decodeMakespan(ctas * old.splits, old.keysPerSplit / cfg.bn, slots));
      },
    ));
  });

  it('B8 Hq32 Hkv8 Lkv 8192 D128 bf16 on the H100: 2 CTAs per SM (three stages), 4 splits of 32 tiles fill 256 of the 264 slots', () => {
    const cfg = decodeConfig('bf16', 128, 128, 4);
    expect(cfg.stages).toBe(3);
    expect(decodeCtasPerSm(cfg, 'sm_90a')).toBe(2);   // 106 KB of shared memory each
    expect(decodeCtasPerSm(cfg, 'sm_80')).toBe(1);
    const s = decodeSplits({ B: 8, Hkv: 8, Lq: 1, Lkv: 8192, groupSize: 4 }, cfg, h100(cfg));
    expect(s).toEqual({ splits: 4, keysPerSplit: 2048, keyOffset: 0, rowGroups: 1 });
    // session 2's rule: 5 splits of 26 tiles, 320 CTAs, a second wave of 56; by the model 54 tiles' time against 33
    expect(twoWaves(8, 8, 1, 8192, cfg.bn, cfg.maxTiles)).toEqual({ splits: 5, keysPerSplit: 1664, keyOffset: 0 });
    expect(decodeMakespan(320, 26, 264)).toBe(54);
    expect(decodeMakespan(256, 32, 264)).toBe(33);
  });

  it('the decoder takes a third K/V stage only where the ring fits 163 KB (the A100\'s block), else two', () => {
    for (const dtype of ['bf16', 'f16', 'f32'] as const) {
      for (const E of [16, 40, 64, 96, 128, 192, 256]) {
        for (const rows of [4, 8, 16]) {
          const cfg = decodeConfig(dtype, E, E, rows);
          expect(cfg.stages === 3 ? cfg.smemBytes <= 163 * 1024 : cfg.stages === 2).toBe(true);
          // a third stage adds one K and one V tile of 64 padded rows
          const third = 64 * (Math.ceil(E / 8) * 8 + 8) * (dtype === 'f32' ? 4 : 2) * 2;
          const twoStageBytes = cfg.stages === 3 ? cfg.smemBytes - third : cfg.smemBytes;
          if (cfg.stages === 2) expect(twoStageBytes + third).toBeGreaterThan(163 * 1024);
        }
      }
    }
    expect(decodeConfig('bf16', 128, 128, 4).stages).toBe(3);
    expect(decodeConfig('bf16', 256, 256, 4).stages).toBe(2);
    expect(decodeConfig('f32', 128, 128, 4).stages).toBe(2);
  });

  it('covers every visible key, within the kernel limits, for random ragged batches', () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 1, maxLength: 12 }), fc.constantFrom(1, 2, 8), fc.constantFrom(1, 4), fc.constantFrom(64, 128),
      (lengths, Hkv, group, blockKv) => {
        const { mask, p } = ragged(lengths, Hkv, group, blockKv);
        const cfg = decodeConfig('bf16', 128, 128, group);
        const work = visibleWork(mask, p);
        const s = decodeSplits(p, cfg, h100(cfg), work);
        expect(s.keysPerSplit % cfg.bn).toBe(0);
        expect(s.keysPerSplit).toBeGreaterThanOrEqual(cfg.bn);
        expect(s.keysPerSplit).toBeLessThanOrEqual(cfg.bn * cfg.maxTiles);
        expect(s.splits).toBeGreaterThanOrEqual(1);
        expect(s.splits).toBeLessThanOrEqual(ceilDiv(p.Lkv, cfg.bn));
        // the longest sequence's last key lies in a launched split (keys past them are masked), and
        // the first split starts at or before the first visible key (key 0 here)
        expect(s.keyOffset).toBe(0);
        expect(s.keyOffset + s.splits * s.keysPerSplit).toBeGreaterThanOrEqual(Math.max(...lengths));
      },
    ));
  });

  it('visibleWork counts the blocks a dense evaluation of the mask sees (any query head of the group)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 3 }), fc.constantFrom(1, 2), fc.constantFrom(1, 2), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 65, max: 700 }), fc.integer(),
      (B, Hkv, group, Lq, Lkv, seed) => {
        const Hq = Hkv * group;
        // a per-(b, h) window [lo, hi) of keys, some empty: head-dependent, so the group's union matters
        const lo = Array.from({ length: B * Hq }, (_, i) => Math.abs((seed * (i + 3)) % Lkv));
        const hi = lo.map((l, i) => Math.min(Lkv, l + Math.abs((seed * (i + 7)) % 300)));
        const cLo = capture(Int32Array.from(lo), [B, Hq], { name: 'lo' });
        const cHi = capture(Int32Array.from(hi), [B, Hq], { name: 'hi' });
        const traced = traceMaskMod((b, h, _q, kv) => kv.ge(cLo.at(b, h)).and(kv.lt(cHi.at(b, h))));
        const mask = blockMaskByEvaluation(traced, { B, H: Hq, qLen: Lq, kvLen: Lkv, blockSize: [16, 64] });
        const fn = compileToJs(traced);
        let keys = 0;
        let span = 0;
        let start = Lkv;
        for (let b = 0; b < B; b++) {
          for (let hk = 0; hk < Hkv; hk++) {
            for (let kb = 0; kb * 64 < Lkv; kb++) {
              let seen = false;
              for (let g = 0; g < group && !seen; g++) for (let q = 0; q < Lq && !seen; q++) for (let kv = kb * 64; kv < Math.min(Lkv, kb * 64 + 64) && !seen; kv++) seen = !!fn(b, hk * group + g, q, kv);
              if (!seen) continue;
              keys += Math.min(64, Lkv - kb * 64);
              span = Math.max(span, Math.min(Lkv, kb * 64 + 64));
              start = Math.min(start, kb * 64);
            }
          }
        }
        const work = visibleWork(mask, { B, Hq, Hkv, Lq, Lkv });
        expect(work).toEqual({ keys, span, start: Math.min(start, span) });
        // every visible key lies in a launched split
        const cfg = decodeConfig('f16', 64, 64, group);
        const s = decodeSplits({ B, Hkv, Lq, Lkv, groupSize: group }, cfg, h100(cfg), work);
        if (keys > 0) {
          expect(s.keyOffset).toBeLessThanOrEqual(start);
          expect(s.keyOffset % cfg.bn).toBe(0);
          expect(Math.min(Lkv, s.keyOffset + s.splits * s.keysPerSplit)).toBeGreaterThanOrEqual(span);
        }
      },
    ), { numRuns: 40 });
  });

  it('a sliding window at the end of a long cache: the splits start at its first tile, not at key 0', () => {
    const Lkv = 32768;
    const mod: MaskMod = (_b, _h, _q, kv) => kv.ge(Lkv - 1024);
    const mask = blockMaskByEvaluation(traceMaskMod(mod), { B: 1, H: 1, qLen: 1, kvLen: Lkv, blockSize: [128, 128] });
    const p = { B: 8, Hq: 32, Hkv: 8, Lq: 1, Lkv, groupSize: 4 };
    const cfg = decodeConfig('bf16', 128, 128, 4);
    const s = decodeSplits(p, cfg, h100(cfg), visibleWork(mask, p));
    expect(s.keyOffset).toBe(Lkv - 1024);
    expect(s.keyOffset + s.splits * s.keysPerSplit).toBeGreaterThanOrEqual(Lkv);
    // 64 (batch, kv head) columns: the window spread over more than one CTA each, fewer CTAs than Lmax's splits
    expect(s.splits).toBeGreaterThan(1);
    expect(s.splits * 64).toBeLessThanOrEqual(twoWaves(8, 8, 1, Lkv, cfg.bn, cfg.maxTiles).splits * 64 * 2);
  });

  it('follows a decode mask that grows in place (DecodeSteps: the same object every step)', () => {
    const master = createBlockMask((_b, _h, q, kv) => kv.le(q), { qLen: 4096, kvLen: 4096, blockSize: 128 });
    const steps = new DecodeSteps(master);
    const p = (L: number) => ({ B: 1, Hq: 8, Hkv: 2, Lq: 1, Lkv: L, groupSize: 4 });
    const cfg = decodeConfig('bf16', 64, 64, 4);
    // one kv length for every step (a cache of capacity 4096): only the tables change in place
    let previous: unknown;
    for (const pos of [700, 701, 1500, 4095]) {
      const mask = steps.at(pos, 4096);
      if (previous) expect(mask).toBe(previous);
      previous = mask;
      const work = visibleWork(mask, p(4096));
      expect(work.span).toBe(Math.min(4096, Math.ceil((pos + 1) / 128) * 128));
      const s = decodeSplits(p(4096), cfg, h100(cfg), work);
      expect(s.keyOffset + s.splits * s.keysPerSplit).toBeGreaterThanOrEqual(pos + 1);
    }
  });

  it("splits the bench's ragged batch by its visible work: the longest sequence no longer holds the critical path", () => {
    // decode-paged's contiguous case: B 8, lengths 1k–32k, Hq 32 / Hkv 8, D128
    const { mask, p } = ragged([32768, 1024, 8192, 2048, 16384, 4096, 12288, 6144], 8, 4, 128);
    const cfg = decodeConfig('bf16', 128, 128, 4);
    const work = visibleWork(mask, p);
    expect(work).toEqual({ keys: 8 * 82944, span: 32768, start: 0 });
    const before = twoWaves(8, 8, 1, 32768, cfg.bn, cfg.maxTiles);
    const after = decodeSplits(p, cfg, h100(cfg), work);
    // a CTA's keys: from 6592 (5 splits of Lmax) to about two balanced waves' share
    expect(before.keysPerSplit).toBe(6592);
    expect(after.keysPerSplit).toBeLessThanOrEqual(ceilDiv(ceilDiv(8 * 82944, 2 * H100_SMS), 64) * 64);
    const busy = (kps: number) => [32768, 1024, 8192, 2048, 16384, 4096, 12288, 6144].reduce((n, l) => n + ceilDiv(l, kps), 0) * 8;
    expect(busy(after.keysPerSplit)).toBeGreaterThan(H100_SMS);   // every SM has work
    expect(busy(after.keysPerSplit)).toBeLessThanOrEqual(8 * H100_SMS);
  });
});
