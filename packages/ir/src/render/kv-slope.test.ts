import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluateNode } from '../evaluate';
import { type Expr, constant, where } from '../expr';
import type { Node } from '../node';
import { capture, scalar } from '../params';
import { traceScoreMod, type ScoreMod } from '../trace';
import { planKernelHooks } from './hook-plan';
import { ARG_BIT, argDependence } from './hoist';
import { additiveBias, kvSlope } from './kv-slope';

const slopes = capture(Float32Array.from([0.5, 0.25, 0.125, 0.0625]), [4], { name: 'slopes' });
const table = capture(Float32Array.from([0.5, -1.25, 2, 0.75, -3, 1.5, 0.25, 4]), [8], { name: 'table' });
const itable = capture(Int32Array.from([3, -1, 4, 1, -5, 9, 2, 6]), [8], { name: 'itable' });
const fscalar = scalar(0.75, { name: 'fs' });
const iscalar = scalar(3, { dtype: 'i32', name: 'is' });

const biasOf = (m: ScoreMod): { bias: Node; captures: ReturnType<typeof traceScoreMod>['captures'] } => {
  const t = traceScoreMod(m);
  const bias = additiveBias(t.root);
  if (!bias) throw new Error('not additive');
  return { bias, captures: t.captures };
};
const slopeOf = (m: ScoreMod, exactCasts = true) => kvSlope(biasOf(m).bias, exactCasts);
const readsKv = (n: Node) => (argDependence([n]).get(n)! & ARG_BIT.kv) !== 0;

describe('additiveBias', () => {
  it('is B of score + B and B + score with a B that reads no score; undefined otherwise', () => {
    const alibi = traceScoreMod((s, _b, h, q, kv) => s.add(slopes.at(h).mul(kv.sub(q))));
    expect(additiveBias(alibi.root)).toBe(alibi.root.src[1]);
    const flipped = traceScoreMod((s, _b, h, q) => h.toFloat().mul(q.toFloat()).add(s));
    expect(additiveBias(flipped.root)).toBe(flipped.root.src[0]);
    expect(additiveBias(traceScoreMod((s) => s).root)).toBeUndefined();
    expect(additiveBias(traceScoreMod((s) => s.mul(2).add(1)).root)).toBeUndefined();
    expect(additiveBias(traceScoreMod((s, _b, _h, q) => s.add(where(s.gt(0), q.toFloat(), 1))).root)).toBeUndefined();
    expect(additiveBias(traceScoreMod((s) => s.div(2).tanh().mul(2)).root)).toBeUndefined();
    // score + score reads the score on both sides
    expect(additiveBias(traceScoreMod((s) => s.add(s)).root)).toBeUndefined();
  });
});

describe('kvSlope: the catalogue forms', () => {
  // the slope of m's bias at (b, h, q), with m's own parameter slots
  const at = (m: ScoreMod, args: { b?: number; h: number; q: number }) => {
    const { bias, captures } = biasOf(m);
    const s = kvSlope(bias, true);
    expect(s).not.toBeNull();
    return evaluateNode(s!, captures, { b: args.b ?? 0, kv: 0, score: 0, ...args });
  };

  it('ALiBi: slope[h], read without kv', () => {
    const s = slopeOf((sc, _b, h, q, kv) => sc.add(slopes.at(h).mul(kv.sub(q))));
    expect(s).not.toBeNull();
    expect(readsKv(s!)).toBe(false);
    expect(s!.op).toBe('load');
  });

  it('relative position: −1 (score + (q − kv)), and +1 for kv − q', () => {
    expect(slopeOf((sc, _b, _h, q, kv) => sc.add(q.sub(kv)))).toMatchObject({ op: 'const', arg: -1 });
    expect(slopeOf((sc, _b, _h, q, kv) => sc.add(kv.sub(q)))).toMatchObject({ op: 'const', arg: 1 });
  });

  it('a bias that does not read kv (a head bias) has slope 0', () => {
    expect(slopeOf((sc, _b, h) => sc.add(table.at(h)))).toMatchObject({ op: 'const', arg: 0, dtype: 'f32' });
    expect(slopeOf((sc, _b, h) => sc.add(table.at(h)), false)).toMatchObject({ op: 'const', arg: 0 });
  });

  it('affine combinations: scaled, negated, divided by a kv-independent value, integer factors of h and q', () => {
    expect(at((sc, _b, _h, q, kv) => sc.add(kv.mul(3).sub(q).toFloat().mul(0.5).add(1).neg().div(fscalar)), { h: 0, q: 5 })).toBeCloseTo(-1.5 / 0.75, 12);
    expect(at((sc, b, h, q, kv) => sc.add(kv.sub(q).mul(h.add(b)).toFloat()), { b: 2, h: 3, q: 9 })).toBe(5);
    expect(at((sc, _b, h, q, kv) => sc.add(kv.toFloat().mul(table.at(h)).sub(q.toFloat().mul(table.at(h)))), { h: 2, q: 1 })).toBe(2);
  });

  it('anything not affine in kv is null', () => {
    const nonAffine: ScoreMod[] = [
      (s, _b, _h, _q, kv) => s.add(kv.mul(kv).toFloat()),
      (s, _b, _h, q, kv) => s.add(kv.sub(q).toFloat().mul(kv.toFloat())),
      (s, _b, _h, _q, kv) => s.add(kv.floorDiv(2).toFloat()),
      (s, _b, _h, _q, kv) => s.add(kv.mod(8).toFloat()),
      (s, _b, _h, q, kv) => s.add(q.sub(kv).abs().toFloat()),
      (s, _b, _h, q, kv) => s.add(kv.min(q).toFloat()),
      (s, _b, _h, q, kv) => s.add(q.sub(kv).clamp(-3, 3).toFloat()),
      (s, _b, _h, q, kv) => s.add(where(kv.gt(q), -1, 0)),
      (s, _b, _h, q, kv) => s.add(kv.ge(q).toFloat()),
      (s, _b, _h, _q, kv) => s.add(table.at(kv)),
      (s, _b, _h, q, kv) => s.add(itable.at(q.sub(kv)).toFloat()),
      (s, _b, _h, _q, kv) => s.add(kv.toFloat().mul(0.1).exp()),
      (s, _b, _h, _q, kv) => s.add(constant(1, 'f32').div(kv.add(1))),
      (s, _b, _h, _q, kv) => s.add(kv.toFloat().mul(0.5).floor()),
      (s, _b, _h, _q, kv) => s.add(kv.toFloat().mul(0.5).toInt().toFloat()),
      (s, _b, _h, _q, kv) => s.add(kv.sign().toFloat()),
      (s, _b, _h, _q, kv) => s.add(kv.toFloat().pow(1)),
      (s, _b, _h, q, kv) => s.add(kv.sub(q).toFloat().mul(0.25).sin()),
      (s, _b, _h, _q, kv) => s.add(kv.toFloat().mod(4)),
    ];
    for (const m of nonAffine) expect(slopeOf(m), traceScoreMod(m).toString()).toBeNull();
  });

  it('without exactCasts, a cast of a kv-dependent integer is null', () => {
    expect(slopeOf((s, _b, _h, q, kv) => s.add(q.sub(kv)), false)).toBeNull();
    expect(slopeOf((s, _b, h, q, kv) => s.add(slopes.at(h).mul(kv.sub(q))), false)).toBeNull();
  });
});

describe('planKernelHooks: bias and biasKvSlope', () => {
  const alibi = () => traceScoreMod((s, _b, h, q, kv) => s.add(slopes.at(h).mul(kv.sub(q))));
  it('ALiBi under the index bound: its bias and slope; without the bound, no slope', () => {
    const p = planKernelHooks(alibi(), undefined, { indexLimit: 2 ** 22 });
    expect(p.score.bias).toBe(p.score.root.src[1]);
    expect(p.score.biasKvSlope?.op).toBe('load');
    const unbounded = planKernelHooks(alibi(), undefined);
    expect(unbounded.score.bias).toBeDefined();
    expect(unbounded.score.biasKvSlope).toBeUndefined();
  });
  it('a cast the bounds cannot prove small keeps the bias without a slope (kv · 2^12 at a bound of 2^22)', () => {
    const p = planKernelHooks(traceScoreMod((s, _b, _h, _q, kv) => s.add(kv.mul(4096).toFloat())), undefined, { indexLimit: 2 ** 22 });
    expect(p.score.bias).toBeDefined();
    expect(p.score.biasKvSlope).toBeUndefined();
  });
  it('neither for the identity, softcap or a non-affine bias', () => {
    for (const m of [undefined, traceScoreMod((s) => s.div(20).tanh().mul(20))]) {
      const p = planKernelHooks(m, undefined, { indexLimit: 2 ** 22 });
      expect([p.score.bias, p.score.biasKvSlope]).toEqual([undefined, undefined]);
    }
    const t5ish = planKernelHooks(traceScoreMod((s, _b, _h, q, kv) => s.add(table.at(q.sub(kv).clamp(-3, 3).add(3)))), undefined, { indexLimit: 2 ** 22 });
    expect(t5ish.score.bias).toBeDefined();
    expect(t5ish.score.biasKvSlope).toBeUndefined();
  });
});

// ---- the property: random index arithmetic, affine and not --------------------------------------

/** A random bias expression: how to build it while tracing, and a readable form. */
interface Gen {
  show: string;
  build: (a: { b: Expr; h: Expr; q: Expr; kv: Expr }) => Expr;
}
const g = (show: string, build: Gen['build']): Gen => ({ show, build });
const depth = () => ({ maxDepth: 4, depthIdentifier: fc.createDepthIdentifier(), depthSize: 'small' as const });

/**
 * Integer and float expressions of (b, h, q, kv). `affineOnly`: the affine-preserving ops alone
 * (with kv-independent factors), which kvSlope must accept; otherwise the non-affine ones too.
 */
function grammar(affineOnly: boolean) {
  // dyadic constants keep the float64 reference exact for the affine parts
  const fc1 = fc.constantFrom(0.5, -1.5, 2, 0.25, -4, 3);
  const ic = fc.integer({ min: -6, max: 6 });
  return fc.letrec<{ int: Gen; float: Gen; indep: Gen; findep: Gen }>((tie) => {
    const int = tie('int');
    const float = tie('float');
    const indep = tie('indep');
    const findep = tie('findep');
    const w = (weight: number, arbitrary: fc.Arbitrary<Gen>) => ({ weight, arbitrary });
    const intAffine = [
      w(3, fc.constant(g('kv', (a) => a.kv))),
      w(2, indep),
      w(3, fc.tuple(fc.constantFrom('add', 'sub'), int, int).map(([op, x, y]) => g(`${op}(${x.show}, ${y.show})`, (a) => (op === 'add' ? x.build(a).add(y.build(a)) : x.build(a).sub(y.build(a)))))),
      w(2, fc.tuple(int, indep).map(([x, y]) => g(`mul(${x.show}, ${y.show})`, (a) => x.build(a).mul(y.build(a))))),
      w(1, int.map((x) => g(`neg(${x.show})`, (a) => x.build(a).neg()))),
    ];
    const intNon = [
      w(1, fc.tuple(int, int).map(([x, y]) => g(`mul(${x.show}, ${y.show})`, (a) => x.build(a).mul(y.build(a))))),
      w(1, fc.tuple(fc.constantFrom('floorDiv', 'mod', 'min', 'max'), int, int).map(([op, x, y]) =>
        g(`${op}(${x.show}, ${y.show})`, (a) => (x.build(a) as unknown as Record<string, (e: Expr) => Expr>)[op]!.call(x.build(a), y.build(a))))),
      w(1, int.map((x) => g(`abs(${x.show})`, (a) => x.build(a).abs()))),
      w(1, fc.tuple(int, int, int).map(([c, x, y]) => g(`where(${c.show} > 0, ${x.show}, ${y.show})`, (a) => where(c.build(a).gt(0), x.build(a), y.build(a))))),
      w(1, int.map((x) => g(`itable[${x.show}]`, (a) => itable.at(x.build(a))))),
      w(1, float.map((x) => g(`toInt(${x.show})`, (a) => x.build(a).toInt()))),
    ];
    const floatAffine = [
      w(4, int.map((x) => g(`f(${x.show})`, (a) => x.build(a).toFloat()))),
      w(1, findep),
      w(3, fc.tuple(fc.constantFrom('add', 'sub'), float, float).map(([op, x, y]) => g(`${op}(${x.show}, ${y.show})`, (a) => (op === 'add' ? x.build(a).add(y.build(a)) : x.build(a).sub(y.build(a)))))),
      w(2, fc.tuple(float, findep).map(([x, y]) => g(`mul(${x.show}, ${y.show})`, (a) => x.build(a).mul(y.build(a))))),
      w(1, fc.tuple(float, fc.constantFrom(2, -4, 0.5)).map(([x, c]) => g(`div(${x.show}, ${c})`, (a) => x.build(a).div(c)))),
      w(1, float.map((x) => g(`neg(${x.show})`, (a) => x.build(a).neg()))),
    ];
    const floatNon = [
      w(1, fc.tuple(float, float).map(([x, y]) => g(`mul(${x.show}, ${y.show})`, (a) => x.build(a).mul(y.build(a))))),
      w(1, fc.tuple(float, float).map(([x, y]) => g(`div(${x.show}, ${y.show})`, (a) => x.build(a).div(y.build(a))))),
      w(1, fc.tuple(fc.constantFrom('floor', 'abs', 'tanh', 'exp2'), float).map(([op, x]) =>
        g(`${op}(${x.show})`, (a) => (x.build(a) as unknown as Record<string, () => Expr>)[op]!.call(op === 'exp2' ? x.build(a).mul(0.01) : x.build(a))))),
      w(1, fc.tuple(int, float, float).map(([c, x, y]) => g(`where(${c.show} > 0, ${x.show}, ${y.show})`, (a) => where(c.build(a).gt(0), x.build(a), y.build(a))))),
      w(1, int.map((x) => g(`table[${x.show}]`, (a) => table.at(x.build(a))))),
      w(1, int.map((x) => g(`f(${x.show} >= 3)`, (a) => x.build(a).ge(3).toFloat()))),
    ];
    return {
      // kv-independent integers and floats: any op at all (they are constants along a row)
      indep: fc.oneof(
        depth(),
        w(2, ic.map((c) => g(String(c), () => constant(c, 'i32')))),
        w(1, fc.constantFrom('b', 'h', 'q').map((n) => g(n, (a) => a[n as 'b' | 'h' | 'q']))),
        w(1, fc.constant(g('is', () => iscalar.expr()))),
        w(1, fc.tuple(fc.constantFrom('h', 'q'), ic).map(([n, c]) => g(`add(${n}, ${c})`, (a) => a[n as 'h' | 'q'].add(c)))),
        w(1, fc.constantFrom('h', 'q').map((n) => g(`itable[${n}]`, (a) => itable.at(a[n as 'h' | 'q'])))),
      ),
      findep: fc.oneof(
        depth(),
        w(2, fc1.map((c) => g(String(c), () => constant(c, 'f32')))),
        w(1, fc.constant(g('fs', () => fscalar.expr()))),
        w(1, fc.constant(g('slopes[h]', (a) => slopes.at(a.h)))),
        w(1, fc.constant(g('exp(f(h) / 8)', (a) => a.h.toFloat().div(8).exp()))),
      ),
      int: fc.oneof(depth(), ...intAffine, ...(affineOnly ? [] : intNon)),
      float: fc.oneof(depth(), ...floatAffine, ...(affineOnly ? [] : floatNon)),
    };
  });
}

const point = fc.record({
  b: fc.integer({ min: 0, max: 3 }),
  h: fc.integer({ min: 0, max: 7 }),
  q: fc.integer({ min: 0, max: 127 }),
  kv0: fc.integer({ min: 0, max: 63 }),
  // a tile's column offsets: the kernel steps at most a tile (here up to 64) from its base column
  delta: fc.integer({ min: 0, max: 64 }),
});

describe('kvSlope: random bias expressions', () => {
  const trace = (gen: Gen) => traceScoreMod((s, b, h, q, kv) => s.add(gen.build({ b, h, q, kv })));

  it('where the plan finds a slope, bias(kv0 + Δ) = bias(kv0) + slope·Δ, and the slope reads no kv (2000 expressions)', () => {
    let withSlope = 0;
    let without = 0;
    fc.assert(
      fc.property(grammar(false).float, fc.array(point, { minLength: 6, maxLength: 6 }), (gen, points) => {
        const mod = trace(gen);
        // the launch bound of the property's points: casts are exact only where the plan proves it
        const plan = planKernelHooks(mod, undefined, { indexLimit: 128 });
        const { bias, biasKvSlope: slope } = plan.score;
        if (!bias) return; // the bias folded into the score (e.g. a constant 0): not additive
        if (!slope) {
          without++;
          return;
        }
        withSlope++;
        expect(readsKv(slope), gen.show).toBe(false);
        for (const p of points) {
          const args = { b: p.b, h: p.h, q: p.q, score: 0 };
          const b0 = evaluateNode(bias, mod.captures, { ...args, kv: p.kv0 }) as number;
          const b1 = evaluateNode(bias, mod.captures, { ...args, kv: p.kv0 + p.delta }) as number;
          const k = evaluateNode(slope, mod.captures, { ...args, kv: p.kv0 }) as number;
          const predicted = b0 + k * p.delta;
          if (!Number.isFinite(b0) || !Number.isFinite(b1) || !Number.isFinite(k)) continue; // the kernel falls back there
          const tol = 1e-9 * (1 + Math.abs(b0) + Math.abs(b1) + Math.abs(k * p.delta));
          expect(Math.abs(b1 - predicted), `${gen.show} at ${JSON.stringify(p)}`).toBeLessThanOrEqual(tol);
        }
      }),
      { numRuns: 2000 },
    );
    // the grammar exercises both outcomes
    expect(withSlope).toBeGreaterThan(200);
    expect(without).toBeGreaterThan(200);
  });

  it('every expression of the affine ops alone gets a slope (exactCasts), none without exactCasts unless kv-free', () => {
    fc.assert(
      fc.property(grammar(true).float, (gen) => {
        const mod = trace(gen);
        const bias = additiveBias(mod.root);
        if (!bias) return;
        const slope = kvSlope(bias, true);
        expect(slope, gen.show).not.toBeNull();
        expect(readsKv(slope!), gen.show).toBe(false);
        if (kvSlope(bias, false) !== null) expect(readsKv(bias), gen.show).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('kvSlope: the rounding a kernel adds (the file comment\'s argument, in f32)', () => {
  // fmaf(slope, Δ, base) in f32: slope·Δ is exact in double (24 + 7 bits), the sum's double
  // rounding is far below the f32 rounding that follows
  const fmaf = (a: number, b: number, c: number) => Math.fround(a * b + c);
  it('ALiBi: fmaf(slope, Δ, bias(kvb)) is within 2 ulp of the per-element f32 bias, up to 2^16 keys', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 2 ** 16 }), fc.integer({ min: 0, max: 2 ** 16 - 128 }), fc.integer({ min: 0, max: 120 }), (hh, q, kvb, delta) => {
        const slope = Math.fround(2 ** (-8 * (hh + 1) / 16));
        const perElement = (kv: number) => Math.fround(slope * Math.fround(kv - q));
        const fast = fmaf(slope, delta, perElement(kvb));
        const exact = perElement(kvb + delta);
        const ulp = 2 ** (Math.floor(Math.log2(Math.max(Math.abs(exact), Math.abs(perElement(kvb)), 2 ** -126))) - 23);
        expect(Math.abs(fast - exact)).toBeLessThanOrEqual(2 * ulp);
      }),
      { numRuns: 2000 },
    );
  });
});
