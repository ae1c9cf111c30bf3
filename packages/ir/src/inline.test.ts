import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OptionError, TraceError } from './errors';
import { evaluate } from './evaluate';
import { inlineMod, rebindParams } from './inline';
import { type CapturedTensor, capture, capturedLike, type Scalar, scalar } from './params';
import { graphArbitraries, modPointArbitrary, paramsArbitrary, showAst, traceMaskAst, traceScoreAst } from './random-graphs.test-helpers';
import { traceMaskMod, traceScoreMod } from './trace';

const point = modPointArbitrary();

describe('inlineMod: a traced mod called inside another trace', () => {
  it('equals the mod evaluated at the substituted arguments (random mask graphs, shifted q, mapped kv)', () => {
    fc.assert(
      fc.property(graphArbitraries({ params: true }).bool, paramsArbitrary(), fc.integer({ min: -20, max: 20 }), fc.array(point, { minLength: 1, maxLength: 6 }), (ast, params, shift, points) => {
        const inner = traceMaskAst(ast, params);
        const offset = scalar(shift, { dtype: 'i32', name: 'offset' });
        const table = capture(Int32Array.from({ length: 71 }, (_, i) => (i * 7) % 71), [71], { name: 'table' });
        const outer = traceMaskMod((b, h, q, kv) => inlineMod(inner, { b, h, q: q.add(offset), kv: table.at(kv) }));
        for (const x of points) {
          const want = evaluate(inner, { ...x, q: x.q + shift, kv: table.data[x.kv]! });
          const got = evaluate(outer, x);
          if (got !== want) throw new Error(`${showAst(ast)} at ${JSON.stringify(x)}: inlined ${String(got)}, direct ${String(want)}`);
        }
      }),
      { numRuns: 400, seed: 7 },
    );
  });

  it('equals the mod on random score graphs, with the inner captures re-slotted after the outer ones', () => {
    fc.assert(
      fc.property(graphArbitraries({ score: true, params: true }).float, paramsArbitrary(), fc.array(point, { minLength: 1, maxLength: 6 }), (ast, params, points) => {
        const inner = traceScoreAst(ast, params);
        const first = capture(Float32Array.of(0.25, -1), [2], { name: 'first' });
        const outer = traceScoreMod((s, b, h, q, kv) => inlineMod(inner, { score: s.mul(first.at(0)), b, h, q, kv }).add(first.at(1)));
        expect(outer.captures[0]).toBe(first);
        for (const x of points) {
          const want = (evaluate(inner, { ...x, score: x.score * 0.25 }) as number) - 1;
          const got = evaluate(outer, x) as number;
          if (!Object.is(got, want) && !(Math.abs(got - want) <= 1e-9 * Math.abs(want))) throw new Error(`${showAst(ast)} at ${JSON.stringify(x)}: ${got} vs ${want}`);
        }
      }),
      { numRuns: 300, seed: 8 },
    );
  });

  it('keeps the hash when only parameter values differ (a new offset never changes the kernel)', () => {
    const inner = traceMaskMod((_b, _h, q, kv) => q.ge(kv));
    const shifted = (v: number) => traceMaskMod((b, h, q, kv) => inlineMod(inner, { b, h, q: q.add(scalar(v, { dtype: 'i32' })), kv }));
    expect(shifted(0).hash).toBe(shifted(4096).hash);
  });

  it('rejects misuse with TraceErrors naming the fix', () => {
    const inner = traceScoreMod((s, _b, _h, q) => s.add(q));
    expect(() => inlineMod(inner, { b: 0, h: 0, q: 0, kv: 0 })).toThrow(TraceError);
    expect(() => traceScoreMod((_s, b, h, q, kv) => inlineMod(inner, { b, h, q, kv }))).toThrow(/needs the score argument/);
    const mask = traceMaskMod((_b, _h, q, kv) => q.ge(kv));
    expect(() => traceMaskMod((b, h, q, kv) => inlineMod(mask, { b, h, q: q.toFloat(), kv }))).toThrow(/argument q has dtype f32; it must be i32/);
  });
});

describe('rebindParams: the same graph over new data', () => {
  it('swaps captured tensors and scalars, keeps the hash, and evaluates with the new data', () => {
    const table = capture(Int32Array.of(0, 1, 2, 3), [4], { name: 'table' });
    const shift = scalar(1, { dtype: 'i32', name: 'shift' });
    const mod = traceMaskMod((_b, _h, q, kv) => table.at(kv).le(q.add(shift)));
    const table2 = capture(Int32Array.of(9, 9, 9, 0), [4], { name: 'table2' });
    const shift2 = scalar(-5, { dtype: 'i32', name: 'shift2' });
    const rebound = rebindParams(mod, new Map<CapturedTensor | Scalar, CapturedTensor | Scalar>([[table, table2], [shift, shift2]]));
    expect(rebound.hash).toBe(mod.hash);
    expect(rebound.root).toBe(mod.root);
    for (let kv = 0; kv < 4; kv++) {
      expect(evaluate(rebound, { b: 0, h: 0, q: 6, kv })).toBe(table2.data[kv]! <= 1);
      expect(evaluate(mod, { b: 0, h: 0, q: 6, kv })).toBe(table.data[kv]! <= 7);
    }
  });

  it('rejects a replacement of another kind, dtype or shape (OptionError)', () => {
    const table = capture(Int32Array.of(0, 1, 2, 3), [4], { name: 'table' });
    const mod = traceMaskMod((_b, _h, q, kv) => table.at(kv).le(q));
    expect(() => rebindParams(mod, new Map([[table, capture(Int32Array.of(1, 2, 3), [3])]]))).toThrow(OptionError);
    expect(() => rebindParams(mod, new Map([[table, capture(Float32Array.of(1, 2, 3, 4), [4])]]))).toThrow(/tensor i32\[4\] but its replacement .* tensor f32\[4\]/);
    expect(() => rebindParams(mod, new Map<CapturedTensor | Scalar, CapturedTensor | Scalar>([[table, scalar(1)]]))).toThrow(OptionError);
  });

  it('refuses a look-alike parameter (not from capture or scalar), since the rebound mod skips the graph checks', () => {
    const table = capture(Int32Array.of(0, 1, 2, 3), [4], { name: 'table' });
    const mod = traceMaskMod((_b, _h, q, kv) => table.at(kv).le(q));
    const fake = { kind: 'tensor', dtype: 'i32', shape: [4], strides: [1], name: 'fake', requiresGrad: false, data: new Int32Array(4) } as unknown as CapturedTensor;
    expect(() => rebindParams(mod, new Map([[table, fake]]))).toThrow(/not a tensor from capture\(\)/);
  });

  it('capturedLike: new data with the checked shape of a tensor, for rebinding every step', () => {
    const offsets = capture(new Int32Array(2), [2], { name: 'qOffset' });
    const mod = traceMaskMod((b, _h, q, kv) => kv.le(q.add(offsets.at(b))));
    const next = capturedLike(offsets, Int32Array.of(5, 9));
    expect(next.shape).toBe(offsets.shape);
    expect(next.dtype).toBe('i32');
    const rebound = rebindParams(mod, new Map([[offsets, next]]));
    expect(rebound.hash).toBe(mod.hash);
    expect(evaluate(rebound, { b: 1, h: 0, q: 0, kv: 9 })).toBe(true);
    expect(evaluate(rebound, { b: 0, h: 0, q: 0, kv: 6 })).toBe(false);
    // data of another length or type takes the checked construction, which refuses it
    expect(() => capturedLike(offsets, Int32Array.of(1, 2, 3))).toThrow(/holds 2 elements but the data has 3/);
    expect(() => capturedLike(offsets, Float32Array.of(1, 2))).not.toThrow();
    expect(capturedLike(offsets, Float32Array.of(1, 2)).dtype).toBe('f32');
  });
});
