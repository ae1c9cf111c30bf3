import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileToJs, evaluate } from './evaluate';
import { constant } from './expr';
import { capture, scalar } from './params';
import { graphArbitraries, modPointArbitrary, paramsArbitrary, showAst, traceMaskAst, traceScoreAst } from './random-graphs.test-helpers';
import { traceMaskMod, traceScoreMod } from './trace';

const point = modPointArbitrary({ score: fc.oneof(fc.double({ min: -20, max: 20, noNaN: true }), fc.constantFrom(0, -0, 1e30, -Infinity, NaN)) });

describe('compileToJs equals evaluate (fast-check)', () => {
  it('on random score mods with captures and scalars', () => {
    fc.assert(
      fc.property(graphArbitraries({ score: true, params: true, extremes: true }).float, paramsArbitrary(true), fc.array(point, { minLength: 1, maxLength: 8 }), (ast, params, points) => {
        const mod = traceScoreAst(ast, params);
        const fn = compileToJs(mod);
        for (const x of points) {
          const want = evaluate(mod, x);
          const got = fn(x.score, x.b, x.h, x.q, x.kv);
          if (!Object.is(got, want)) throw new Error(`${showAst(ast)} at ${JSON.stringify(x)}: compiled ${String(got)}, evaluated ${String(want)}`);
        }
      }),
      { numRuns: 1500, seed: 42 },
    );
  });

  it('on random mask mods with captures and scalars', () => {
    fc.assert(
      fc.property(graphArbitraries({ params: true, extremes: true }).bool, paramsArbitrary(true), fc.array(point, { minLength: 1, maxLength: 8 }), (ast, params, points) => {
        const mod = traceMaskAst(ast, params);
        const fn = compileToJs(mod);
        for (const x of points) expect(fn(x.b, x.h, x.q, x.kv)).toBe(evaluate(mod, x));
      }),
      { numRuns: 1500, seed: 43 },
    );
  });

  it('reads scalar values at call time: a new value changes the result without retracing', () => {
    const bias = scalar(0.5, { name: 'bias' });
    const win = scalar(3, { name: 'win', dtype: 'i32' });
    const mod = traceScoreMod((s, _b, _h, q, kv) => s.add(bias).mul(q.sub(kv).le(win).toFloat()));
    const mask = traceMaskMod((_b, _h, q, kv) => q.sub(kv).le(win));
    const fn = compileToJs(mod);
    const mfn = compileToJs(mask);
    const hash = mod.hash;
    expect(fn(1, 0, 0, 5, 3)).toBe(1.5);
    expect(mfn(0, 0, 9, 3)).toBe(false);
    bias.value = -2;
    win.value = 10;
    expect(fn(1, 0, 0, 9, 3)).toBe(-1);
    expect(evaluate(mod, { score: 1, b: 0, h: 0, q: 9, kv: 3 })).toBe(-1);
    expect(mfn(0, 0, 9, 3)).toBe(true);
    expect(mod.hash).toBe(hash);
  });

  it('reads captured tensor data at call time, clamping out-of-range indices to the edge', () => {
    const t = capture(Float32Array.from([10, 20, 30, 40, 50, 60]), [2, 3]);
    const mod = traceScoreMod((s, b, _h, q) => s.add(t.at(b, q)));
    const fn = compileToJs(mod);
    expect(fn(0, 1, 0, 2, 0)).toBe(60);
    expect(fn(0, 5, 0, -4, 0)).toBe(40); // b → 1, q → 0
    expect(fn(0, -1, 0, 99, 0)).toBe(30); // b → 0, q → 2
    t.data[5] = -1;
    expect(fn(0, 1, 0, 2, 0)).toBe(-1);
  });
});

/** Evaluates a binary op on two runtime i32 arguments (no constant folding) and on constants (folded). */
function intOp(op: 'mod' | 'floorDiv' | 'mul' | 'add' | 'sub', a: number, b: number): [number, number, number] {
  const m = traceScoreMod((_s, _b, _h, q, kv) => q[op](kv).toFloat());
  const folded = traceScoreMod(() => constant(a, 'i32')[op](constant(b, 'i32')).toFloat());
  return [evaluate(m, { score: 0, b: 0, h: 0, q: a, kv: b }) as number, compileToJs(m)(0, 0, 0, a, b) as number, evaluate(folded, { score: 0, b: 0, h: 0, q: 0, kv: 0 }) as number];
}

describe('op semantics match their hand definitions', () => {
  it('mod is floored (the divisor’s sign), x mod 0 = 0, for ints and floats', () => {
    // Python: -7 % 3 == 2, 7 % -3 == -2, -7 % -3 == -1, 7 % 3 == 1
    for (const [a, b, want] of [[-7, 3, 2], [7, -3, -2], [-7, -3, -1], [7, 3, 1], [6, 3, 0], [-6, 3, 0], [5, 0, 0], [-5, 0, 0]] as const) {
      expect(intOp('mod', a, b)).toEqual([want, want, want]);
    }
    const fmod = traceScoreMod((s) => s.mod(2.5));
    expect(evaluate(fmod, { score: -1, b: 0, h: 0, q: 0, kv: 0 })).toBe(1.5);
    expect(evaluate(fmod, { score: 6, b: 0, h: 0, q: 0, kv: 0 })).toBe(1);
  });

  it('floorDiv rounds toward −inf; integer division by zero gives 0', () => {
    for (const [a, b, want] of [[-7, 2, -4], [7, 2, 3], [7, -2, -4], [-7, -2, 3], [5, 0, 0], [-5, 0, 0], [0, 0, 0]] as const) {
      expect(intOp('floorDiv', a, b)).toEqual([want, want, want]);
    }
  });

  it('i32 add/sub/mul wrap around like the GPU', () => {
    expect(intOp('mul', 65536, 65536)).toEqual([0, 0, 0]);
    expect(intOp('mul', 65537, 65537)).toEqual([131073, 131073, 131073]); // 2^32 + 2^17 + 1 mod 2^32
    expect(intOp('add', 2147483647, 1)).toEqual([-2147483648, -2147483648, -2147483648]);
    expect(intOp('sub', -2147483648, 1)).toEqual([2147483647, 2147483647, 2147483647]);
  });

  it('toInt truncates toward zero, saturates to the i32 range, maps NaN to 0', () => {
    const m = traceScoreMod((s) => s.toInt().toFloat());
    const fn = compileToJs(m);
    for (const [x, want] of [[2.7, 2], [-2.7, -2], [0.99, 0], [-0.99, 0], [-0, 0], [1e10, 2147483647], [-1e10, -2147483648], [Infinity, 2147483647], [-Infinity, -2147483648], [NaN, 0]] as const) {
      expect(fn(x, 0, 0, 0, 0)).toBe(want);
      expect(evaluate(m, { score: x, b: 0, h: 0, q: 0, kv: 0 })).toBe(want);
    }
  });

  it('division is true division, even of integers; comparisons promote i32 to f32', () => {
    const m = traceScoreMod((_s, _b, _h, q, kv) => q.div(kv));
    expect(compileToJs(m)(0, 0, 0, 7, 2)).toBe(3.5);
    const c = traceMaskMod((_b, _h, q) => q.lt(2.5));
    expect(compileToJs(c)(0, 0, 2, 0)).toBe(true);
    expect(compileToJs(c)(0, 0, 3, 0)).toBe(false);
  });

  it('math ops are the float64 functions', () => {
    const m = traceScoreMod((s) => s.sigmoid().add(s.exp2()).add(s.rsqrt()).add(s.log2()));
    const x = 1.7;
    expect(compileToJs(m)(x, 0, 0, 0, 0)).toBeCloseTo(1 / (1 + Math.exp(-x)) + 2 ** x + 1 / Math.sqrt(x) + Math.log2(x), 14);
  });
});

describe('special values (docs/architecture.md §4): evaluate, compileToJs and the constant folder agree', () => {
  /** The value of pow(a, b) three ways: folded at trace time, interpreted, compiled. */
  const three = (a: number, b: number) => {
    const folded = traceScoreMod(() => constant(a, 'f32').pow(b));
    const dynamic = traceScoreMod((s) => s.pow(b));
    expect(folded.root.op).toBe('const');
    return [folded.root.arg, evaluate(dynamic, { score: a, b: 0, h: 0, q: 0, kv: 0 }), compileToJs(dynamic)(a, 0, 0, 0, 0)];
  };

  it('pow is IEEE (C powf): a negative base to a non-integer power is NaN; a base of 1 is 1 even for NaN', () => {
    const cases: [number, number, number][] = [
      [-8, 1 / 3, NaN], [-2, 0.5, NaN], [-2, 3, -8], [-2, -2, 0.25], [2, 0.5, Math.SQRT2], [0, -1, Infinity], [-0, -1, -Infinity],
      [1, NaN, 1], [1, Infinity, 1], [-1, Infinity, 1], [-1, -Infinity, 1], [NaN, 0, 1], [NaN, 1, NaN], [0.5, Infinity, 0],
    ];
    for (const [a, b, want] of cases) for (const got of three(a, b)) expect(got, `pow(${a}, ${b})`).toBe(want);
  });

  it('NaN propagates through arithmetic, math and min/max; comparisons with NaN are false; toInt(NaN) is 0', () => {
    const mod = traceScoreMod((s, _b, _h, q) => s.add(1).mul(2).exp().min(q.toFloat()).max(-1));
    expect(compileToJs(mod)(NaN, 0, 0, 5, 0)).toBeNaN();
    expect(evaluate(mod, { score: NaN, b: 0, h: 0, q: 5, kv: 0 })).toBeNaN();
    const cmp = traceMaskMod((_b, _h, q) => q.toFloat().div(0).mul(0).lt(1).or(q.toFloat().div(0).mul(0).ge(1)));
    expect(compileToJs(cmp)(0, 0, 0, 0)).toBe(false); // 0/0·0 is NaN: neither < 1 nor ≥ 1
    expect(compileToJs(traceScoreMod((s) => s.toInt().toFloat()))(NaN, 0, 0, 0, 0)).toBe(0);
    // NaN and ±Infinity constants are kept as they are (never a finite stand-in)
    expect(compileToJs(traceScoreMod(() => constant(NaN, 'f32')))(0, 0, 0, 0, 0)).toBeNaN();
    expect(compileToJs(traceScoreMod((s) => s.min(Infinity).max(-Infinity)))(3, 0, 0, 0, 0)).toBe(3);
  });
});
