/**
 * DecodeSteps: every step's mask equals the value path (sliceRows / sliceRowsPerBatch, then resize)
 * block for block, for random IR masks, shapes and position sequences (forward, backward, jumps);
 * one mask object and one kernel hash for the whole loop; derived masks do not follow the steps;
 * refused steps change nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CapturedTensor, evaluate, ShapeError, traceMaskMod, traceScoreMod, type MaskMod, type TracedMod } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { denseForward64, randomTensor, assertClose } from '@flexattn/ir/testing';
import { createBlockMask, createMask, DecodeSteps, validateBlockMask, type ClassifiedBlockMask } from './index';
import { boolAst, buildMask, dimsFor, envData, shapeArb } from './grammar.test-helpers';
import { denseFromQMajor, firstDifference, listsSorted, type Shape } from './oracle.test-helpers';

function expectEqualMasks(got: ClassifiedBlockMask, want: ClassifiedBlockMask, what: string): void {
  expect([got.B, got.H, ...got.seqLengths]).toEqual([want.B, want.H, ...want.seqLengths]);
  const shape: Shape = { B: want.B, H: want.H, qLen: 1, kvLen: want.seqLengths[1], bq: want.blockSize[0], bk: want.blockSize[1] };
  const diff = firstDifference(got.toDense(), want.toDense(), shape);
  if (diff) throw new Error(`${what}: ${diff}\n${want.maskMod.toString()}`);
  expect(firstDifference(denseFromQMajor(got), want.toDense(), shape)).toBeUndefined();
  expect(listsSorted(got)).toBe(true);
}

/** A step's mask mod is the master's mod at the step's absolute rows (checked element by element). */
function expectRows(step: ClassifiedBlockMask, mod: MaskMod | TracedMod, positions: number[]): void {
  const [, kvLen] = step.seqLengths;
  const got = createMask(step.maskMod, { B: step.B, H: step.H, qLen: 1, kvLen });
  const full = createMask(mod, { B: step.B, H: step.H, qLen: Math.max(...positions) + 1, kvLen });
  const rows = Math.max(...positions) + 1;
  for (let b = 0; b < step.B; b++)
    for (let h = 0; h < step.H; h++)
      for (let kv = 0; kv < kvLen; kv++) {
        expect(got[(b * step.H + h) * kvLen + kv], `b ${b} h ${h} kv ${kv}`).toBe(full[((b * step.H + h) * rows + positions[b]!) * kvLen + kv]);
      }
}

describe('DecodeSteps.at: one step mask, updated in place', () => {
  it('equals sliceRows(p, p + 1).resize(1, kvLen) at every step (random IR masks, shapes, positions)', () => {
    const stepArb = fc.record({ move: fc.integer({ min: -6, max: 20 }), extra: fc.nat({ max: 12 }) });
    fc.assert(
      fc.property(boolAst, envData, shapeArb, fc.array(stepArb, { minLength: 1, maxLength: 12 }), (ast, data, sh, moves) => {
        const mod = traceMaskMod(buildMask(ast, data));
        const master = createBlockMask(mod, { ...dimsFor(mod, sh), qLen: sh.qLen, kvLen: sh.kvLen, blockSize: sh.block });
        const steps = new DecodeSteps(master);
        let p = 0;
        let first: ClassifiedBlockMask | undefined;
        for (const { move, extra } of moves) {
          p = Math.min(sh.qLen - 1, Math.max(0, p + move));
          const kvLen = Math.min(sh.kvLen, p + 1 + extra);
          const step = steps.at(p, kvLen);
          first ??= step;
          expect(step).toBe(first);
          expectEqualMasks(step, master.sliceRows(p, p + 1).resize(1, kvLen), `step at ${p}, kvLen ${kvLen}`);
        }
        const v = validateBlockMask(first!);
        if (!v.ok) throw new Error(v.problems[0]!.message);
        expectRows(first!, mod, Array.from({ length: first!.B }, () => p));
      }),
      { numRuns: 300 },
    );
  });

  it('a batch of sequences at their own positions equals sliceRowsPerBatch(positions).resize(1, kvLen)', () => {
    fc.assert(
      fc.property(boolAst, envData, shapeArb, fc.integer({ min: 1, max: 3 }), fc.array(fc.array(fc.nat(), { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 6 }), (ast, data, sh, batch, rounds) => {
        const mod = traceMaskMod(buildMask(ast, data));
        const dims = dimsFor(mod, sh);
        const master = createBlockMask(mod, { ...dims, B: dims.B === undefined ? undefined : batch, qLen: sh.qLen, kvLen: sh.kvLen, blockSize: sh.block });
        const steps = new DecodeSteps(master, { batch });
        for (const raw of rounds) {
          const positions = raw.slice(0, batch).map((x) => x % Math.min(sh.qLen, sh.kvLen));
          const kvLen = Math.min(sh.kvLen, Math.max(...positions) + 1 + (raw[2]! % 5));
          expectEqualMasks(steps.at(positions, kvLen), master.sliceRowsPerBatch(positions).resize(1, kvLen), `positions ${positions.join(',')} kvLen ${kvLen}`);
          expectRows(steps.at(positions, kvLen), mod, positions);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('keeps one kernel hash, and its captured offsets hold the current positions', () => {
    const window = traceMaskMod((_b, _h, q, kv) => kv.le(q).and(kv.lt(4).or(q.sub(kv).lt(40))));
    const steps = new DecodeSteps(createBlockMask(window, { qLen: 300, kvLen: 300, blockSize: 16 }));
    const hash = steps.at(0).maskMod.hash;
    for (let p = 1; p < 300; p += 7) {
      const step = steps.at(p);
      expect(step.maskMod.hash).toBe(hash);
      const offsets = step.maskMod.captures.find((c): c is CapturedTensor => c instanceof CapturedTensor)!;
      expect(Array.from(offsets.data)).toEqual([p]);
      expect(evaluate(step.maskMod, { b: 0, h: 0, q: 0, kv: p })).toBe(true);
      if (p >= 40) expect(evaluate(step.maskMod, { b: 0, h: 0, q: 0, kv: p - 40 })).toBe(p - 40 < 4);
    }
  });

  it('masks derived from a step keep its positions after the next step; shiftScoreMod follows the steps', () => {
    const window = traceMaskMod((_b, _h, q, kv) => kv.le(q).and(q.sub(kv).lt(10)));
    const master = createBlockMask(window, { qLen: 64, kvLen: 64, blockSize: 8 });
    const steps = new DecodeSteps(master);
    const kept = steps.at(20).resize(1, 30);
    const live = traceScoreMod(steps.at(20).shiftScoreMod((s, _b, _h, q) => s.add(q)));
    steps.at(45);
    expectEqualMasks(kept, master.sliceRows(20, 21).resize(1, 30), 'resized step after the next step');
    expectRows(kept, window, [20]);
    expect(evaluate(live, { score: 0, b: 0, h: 0, q: 0, kv: 0 })).toBe(45);
  });

  it('follows a master grown in place, and a step mask the caller grew itself', () => {
    const window: MaskMod = (_b, _h, q, kv) => kv.le(q.add(3)).and(q.sub(kv).lt(12));
    const master = createBlockMask(window, { qLen: 64, kvLen: 40, blockSize: 8 });
    const steps = new DecodeSteps(master);
    steps.at(30, 35);
    master.extendKv(60);
    expectEqualMasks(steps.at(31, 50), master.sliceRows(31, 32).resize(1, 50), 'after the master grew');
    steps.at(33, 36).extendKv(45);
    expectEqualMasks(steps.at(33, 44), master.sliceRows(33, 34).resize(1, 44), 'after the step mask was grown by hand');
  });

  it('runs a decode loop on the reference backend equal to dense attention over the visible keys', async () => {
    const sinksWindow = traceMaskMod((_b, _h, q, kv) => kv.le(q).and(kv.lt(2).or(q.sub(kv).lt(9))));
    const fn = (q: number, kv: number) => evaluate(sinksWindow, { b: 0, h: 0, q, kv }) === true;
    const steps = new DecodeSteps(createBlockMask(sinksWindow, { qLen: 40, kvLen: 40, blockSize: 8 }));
    const reference = createReferenceBackend();
    const k = randomTensor([1, 2, 40, 8], 'f32', 7);
    const v = randomTensor([1, 2, 40, 8], 'f32', 8);
    for (let p = 3; p < 40; p += 4) {
      const q = randomTensor([1, 2, 1, 8], 'f32', p);
      const kp = { ...k, shape: [1, 2, p + 1, 8], data: sliceKeys(k.data as Float32Array, 2, 40, p + 1, 8) };
      const vp = { ...v, shape: [1, 2, p + 1, 8], data: sliceKeys(v.data as Float32Array, 2, 40, p + 1, 8) };
      const { out } = await reference.flexAttention(q, kp, vp, { blockMask: steps.at(p) });
      const want = denseForward64({ B: 1, Hq: 2, Hkv: 2, Lq: 1, Lkv: p + 1, E: 8, Ev: 8 }, q.data, kp.data, vp.data, { visible: (_b, _h, _q, kv) => fn(p, kv) });
      assertClose(out.data as Float32Array, want.out, { atol: 1e-5, rtol: 1e-5 });
    }
  });

  it('refuses positions and lengths outside the master (ShapeError) and keeps the last step intact', () => {
    const master = createBlockMask((_b, _h, q, kv) => kv.le(q), { qLen: 32, kvLen: 32, blockSize: 8 });
    const steps = new DecodeSteps(master, { batch: 2 });
    const step = steps.at([5, 20], 21);
    const before = step.toDense();
    expect(() => steps.at([5, 32])).toThrow(/position 32 \(batch 1\) is outside the master's query rows \[0, 32\)/);
    expect(() => steps.at([5, 6, 7])).toThrow(/one position per batch \(2\)/);
    expect(() => steps.at(4, 33)).toThrow(/kvLen 33 is outside \[1, 32\]/);
    expect(() => steps.at(-1)).toThrow(ShapeError);
    expect(step.seqLengths).toEqual([1, 21]);
    expect(step.toDense()).toEqual(before);
    expect(Array.from(step.source.qOffsets!)).toEqual([5, 20]);
    expect(() => new DecodeSteps(master, { batch: 0 })).toThrow(ShapeError);
    const perBatch = createBlockMask((b, _h, q, kv) => kv.le(q.add(b)), { B: 1, qLen: 8, kvLen: 8, blockSize: 4 });
    expect(() => new DecodeSteps(perBatch, { batch: 2 })).toThrow(/reads b but the master was built for one batch \(B: 1\).*B: 2/);
  });
});

/** Keys [0, n) of a [1, H, L, D] tensor's data. */
function sliceKeys(data: Float32Array, H: number, L: number, n: number, D: number): Float32Array {
  const out = new Float32Array(H * n * D);
  for (let h = 0; h < H; h++) out.set(data.subarray(h * L * D, h * L * D + n * D), h * n * D);
  return out;
}
