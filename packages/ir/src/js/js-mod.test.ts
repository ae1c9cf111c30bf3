import { describe, expect, it } from 'vitest';
import { TraceError } from '../errors';
import { compileToJs } from '../evaluate';
import { erf, round, where } from '../expr';
import { capture, scalar } from '../params';
import { traceMaskMod, traceScoreMod } from '../trace';
import { erf as erfJs } from '../erf';
import { jsMod } from './js-mod';

const thrown = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TraceError);
    return (e as Error).message;
  }
  throw new Error('expected a TraceError');
};

describe('jsMod: operator syntax lowers to the same IR as the method chain', () => {
  it('arithmetic, comparisons, captured tensors, scalars: same hash', () => {
    const slopes = capture(new Float32Array([0.5, 0.25, 0.125]), [3], { name: 'slopes' });
    const w = scalar(4, { dtype: 'i32', name: 'w' });
    const a = traceScoreMod(jsMod('(s, b, h, q, kv) => s + slopes[h] * (kv - q)', { slopes }));
    const b = traceScoreMod((s, _b, h, q, kv) => s.add(slopes.at(h).mul(kv.sub(q))));
    expect(a.hash).toBe(b.hash);
    expect(a.root).toBe(b.root);
    const m1 = traceMaskMod(jsMod('(b, h, q, kv) => q >= kv && q - kv <= w', { w }));
    const m2 = traceMaskMod((_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).le(w)));
    expect(m1.hash).toBe(m2.hash);
  });

  it('ternaries, if/else with returns, const, !, ||, Math.*: the meaning the source says', () => {
    const mask = traceMaskMod(
      jsMod(function banded(b, h, q, kv) {
        const d = q - kv;
        if (d < 0) return false;
        else if (d > 8) {
          return kv % 4 === 0 || !(h > 0);
        }
        return true;
      }),
    );
    const f = compileToJs(mask);
    const want = (h: number, q: number, kv: number) => (q - kv < 0 ? false : q - kv > 8 ? kv % 4 === 0 || !(h > 0) : true);
    for (let h = 0; h < 2; h++) for (let q = 0; q < 20; q++) for (let kv = 0; kv < 20; kv++) expect(f(0, h, q, kv), `${h} ${q} ${kv}`).toBe(want(h, q, kv));
    const score = traceScoreMod(jsMod((s, b, h, q, kv) => (q >= kv ? Math.tanh(s / 2) * 2 : Math.max(s, -1, Math.abs(q - kv) * -0.5)) + Math.PI));
    const g = compileToJs(score);
    expect(g(0.7, 0, 0, 3, 1)).toBeCloseTo(Math.tanh(0.35) * 2 + Math.PI, 12);
    expect(g(-3, 0, 0, 1, 5)).toBeCloseTo(Math.max(-3, -1, -2) + Math.PI, 12);
    expect(score.hash).toBe(traceScoreMod((s, _b, _h, q, kv) => where(q.ge(kv), s.div(2).tanh().mul(2), s.max(-1).max(q.sub(kv).abs().mul(-0.5))).add(Math.PI)).hash);
  });

  it('plain values compute in JavaScript at trace time; booleans pick branches statically', () => {
    const a = traceScoreMod(jsMod('(s) => (causal ? s * (2 * 3) : s)', { causal: true }));
    expect(a.hash).toBe(traceScoreMod((s) => s.mul(6)).hash);
    const b = traceScoreMod(jsMod('(s) => (causal ? s * 2 : s)', { causal: false }));
    expect(b.hash).toBe(traceScoreMod((s) => s).hash);
  });

  it('% on traced values is floored (like .mod and Python), on plain numbers JavaScript’s', () => {
    const f = compileToJs(traceScoreMod(jsMod((s, b, h, q, kv) => (q - kv) % 4 + -7 % 4)));
    expect(f(0, 0, 0, 1, 4)).toBe(1 + -3); // (−3) mod 4 = 1; −7 % 4 = −3 in JavaScript
  });

  it('IR functions in the free variables, method calls on traced values, multi-dim tables, typed arrays', () => {
    const t = capture(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3], { name: 't' });
    const bias = new Float32Array([0.1, 0.2, 0.3]);
    const a = traceScoreMod(jsMod('(s, b, h, q, kv) => erf(s.mul(0.7)) + round(t[h][kv]) + bias[kv]', { erf, round, t, bias }));
    const f = compileToJs(a);
    expect(f(0.5, 0, 1, 0, 2)).toBeCloseTo(erfJs(0.35) + 6 + 0.3, 6);
    // the same typed array is one capture, whatever the number of traces
    expect(traceScoreMod(jsMod((s, b, h, q, kv) => s + bias[kv], { bias })).hash).toBe(traceScoreMod(jsMod((s, b, h, q, kv) => s + bias[kv], { bias })).hash);
  });

  it('source text works too', () => {
    const m = traceMaskMod(jsMod('(b, h, q, kv) => q >= kv'));
    expect(m.hash).toBe(traceMaskMod((_b, _h, q, kv) => q.ge(kv)).hash);
  });
});

describe('jsMod: what a mod cannot do is an error at its line and column', () => {
  const cases: [string, string | RegExp][] = [
    ['(s, b, h, q, kv) => {\n  let x = s;\n  return x;\n}', /line 2, column 3: use const/],
    ['(s, b, h, q, kv) => {\n  for (let i = 0; i < 3; i++) {}\n  return s;\n}', /line 2, column 3: loops are not supported/],
    ['(s, b, h, q, kv) => this.bias + s', /line 1, column 21: `this` is not available/],
    ['(s, b, h, q, kv) => foo(s)', /line 1, column 21: unknown name 'foo'/],
    ['(s, b, h, q, kv) => s.foo()', /line 1, column 21: s.foo\(…\) is not a known function/],
    ['(s, b, h, q, kv) => s + bias', /unknown name 'bias': pass it in the free variables, jsMod\(fn, \{ bias \}\)/],
    ['(s, b, h, q, kv) => {\n  total = s;\n  return s;\n}', /line 2, column 3: assignments are not supported/],
    ['(s, b, h, q, kv) => {\n  if (q > kv) return s;\n}', /a path through the mod ends without a return/],
    ['(s, b, h, q, kv) => Math.round(s)', /Math.round rounds ties toward \+∞/],
    ['(s, b, h, q, kv) => Math.hypot(s, s)', /Math.hypot has no IR op/],
    ['(s, b, h, q, kv) => s & 1', /operator & is not supported on traced values/],
    ['(s, b, h, q, kv) => "x"', /only number and boolean literals/],
    ['(s, b, h, q, kv) => s.value', /only captured tensors can be indexed/],
    ['(b, h, q, kv) => q > kv ? 1 : true', /line 1, column 18: .*where\(cond, a, b\): a and b must both be booleans or both numbers/],
    ['async (s) => s', /not async/],
    ['({ s }) => s', /parameters must be plain names/],
  ];
  for (const [src, message] of cases) {
    it(src.split('\n').join(' ⏎ '), () => {
      expect(thrown(() => traceScoreMod(jsMod(src) as never))).toMatch(message);
    });
  }
  it('quotes the line with a caret under the column', () => {
    const msg = thrown(() => traceScoreMod(jsMod('(s, b, h, q, kv) => {\n  while (s) {}\n  return s;\n}') as never));
    expect(msg).toContain('\n    while (s) {}\n    ^');
  });
  it('free variables are checked when the mod is made', () => {
    expect(thrown(() => jsMod((s) => s, { x: [1, 2] as never }))).toMatch(/free variable 'x' is an array/);
    expect(thrown(() => jsMod((s) => s, { f: Math.sin as never }))).toMatch(/free variable 'f' is a function that is not one of @flexattn\/ir's/);
    expect(thrown(() => jsMod((s) => s, { s: 1 }))).toMatch(/free variable 's' has the name of a parameter/);
    const w = scalar(2);
    expect(thrown(() => traceScoreMod(jsMod('(s) => s * w.value', { w })))).toMatch(/w\.value|scalar.*\.value would be read once/);
  });
});
