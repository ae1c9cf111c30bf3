/**
 * The traced API never silently miscompiles JavaScript control flow on traced values: a mod
 * whose source has it is lowered through the parser (when it reads nothing from outside) or refused.
 */
import { describe, expect, it } from 'vitest';
import { TraceError } from '../errors';
import { compileToJs } from '../evaluate';
import { type Expr, where } from '../expr';
import { scalar } from '../params';
import { traceMaskMod, traceScoreMod } from '../trace';
import { analyzeSource } from './hazards';

type M = (b: Expr, h: Expr, q: Expr, kv: Expr) => Expr;

describe('traced mods with JavaScript control flow on traced values', () => {
  it('the issue’s ternary mask is traced through the parser and means what it says', () => {
    // (an Expr is truthy: plain tracing took the first branch for every element)
    const m = traceMaskMod(((_b, _h, q, kv) => (q.ge(kv) ? kv.ge(q.sub(3)) : q.eq(kv))) as M);
    const f = compileToJs(m);
    for (let q = 0; q < 9; q++) for (let kv = 0; kv < 9; kv++) expect(f(0, 0, q, kv)).toBe(q >= kv ? kv >= q - 3 : q === kv);
    expect(m.hash).toBe(traceMaskMod((_b, _h, q, kv) => where(q.ge(kv), kv.ge(q.sub(3)), q.eq(kv))).hash);
  });

  it('the issue’s if/return mask (it masked every key) too', () => {
    const m = traceMaskMod(function early(_b: Expr, _h: Expr, q: Expr, kv: Expr) {
      if (kv.gt(q)) return false;
      return true;
    } as unknown as M);
    const f = compileToJs(m);
    for (let q = 0; q < 6; q++) for (let kv = 0; kv < 6; kv++) expect(f(0, 0, q, kv)).toBe(kv <= q);
  });

  it('&&, ||, ! and === on traced values', () => {
    const and = compileToJs(traceMaskMod(((_b: Expr, _h: Expr, q: Expr, kv: Expr) => q.ge(kv) && kv.ge(2)) as unknown as M));
    const not = compileToJs(traceMaskMod(((_b: Expr, _h: Expr, q: Expr, kv: Expr) => !q.lt(kv)) as unknown as M));
    const eq = compileToJs(traceMaskMod(((_b: Expr, _h: Expr, q: Expr, kv: Expr) => q === kv) as unknown as M));
    for (let q = 0; q < 6; q++)
      for (let kv = 0; kv < 6; kv++) {
        expect(and(0, 0, q, kv)).toBe(q >= kv && kv >= 2);
        expect(not(0, 0, q, kv)).toBe(!(q < kv));
        expect(eq(0, 0, q, kv)).toBe(q === kv);
      }
  });

  it('with a closure it cannot see, the mod is refused with each place and the fix', () => {
    const w = scalar(4, { dtype: 'i32', name: 'w' });
    let message = '';
    try {
      traceMaskMod(((_b, _h, q, kv) => (q.sub(kv).le(w) ? q.ge(kv) : false)) as M);
    } catch (e) {
      expect(e).toBeInstanceOf(TraceError);
      message = (e as Error).message;
    }
    expect(message).toMatch(/uses JavaScript control flow on traced values/);
    expect(message).toMatch(/line 1, column \d+: q\.sub\(kv\)\.le\(w\) \? q\.ge\(kv\) : false\n\s+`cond \? a : b` on a traced value always takes `a`.*where\(cond, a, b\)/);
    expect(message).toMatch(/jsMod\(fn, \{ w \}\)/);
    // no free names: lowered through the parser, whose dtype rules then apply with a location
    expect(() => traceScoreMod(((s: Expr) => (s.gt(0) && s) as Expr) as never)).toThrow(/line 1, column 8: s\.gt\(0\) && s: and needs booleans/);
  });

  it('control flow on plain trace-time values is left alone (options of mod factories)', () => {
    const approx = Math.random() > 2; // false, but not a constant the source shows
    const factory = (big: boolean) => (s: Expr) => (big && !approx ? s.mul(2) : s.tanh());
    expect(traceScoreMod(factory(true)).hash).toBe(traceScoreMod((s) => s.mul(2)).hash);
    expect(traceScoreMod(factory(false)).hash).toBe(traceScoreMod((s) => s.tanh()).hash);
  });
});

describe('the taint analysis', () => {
  const hazards = (src: string) => analyzeSource(src)!.hazards.map((h) => h.text);
  it('finds hazards on parameters, on names bound to them and on results of IR calls', () => {
    expect(hazards('(b, h, q, kv) => { const d = q.sub(kv); return d ? 1 : 2; }')).toEqual(['d ? 1 : 2']);
    expect(hazards('(s) => where(s.gt(0), s, 0) || s')).toEqual(['where(s.gt(0), s, 0) || s']);
    expect(hazards('(b, h, q, kv) => { if (t.at(q)) return 1; return 0; }')).toEqual(['if (t.at(q)) return 1; return 0;'.slice(0, 'if (t.at(q)) return 1;'.length)]);
    expect(hazards('(b, h, q, kv) => { const f = (x) => x ? 1 : 0; return f(q); }')).toEqual(['x ? 1 : 0']);
    expect(hazards('(b, h, q, kv) => q !== kv')).toEqual(['q !== kv']);
  });
  it('leaves plain values alone', () => {
    expect(hazards('(s, b, h, q, kv) => (causal ? s : s.mul(opts.k || 2))')).toEqual([]);
    expect(hazards('function m(s) { const c = cap > 0 ? cap : 1; return s.div(c).tanh().mul(c); }')).toEqual([]);
    expect(hazards('(s) => { const c = Math.max(cap, 1); return c > 2 ? s.mul(c) : s; }')).toEqual([]);
    expect(hazards('(s) => (Math.max(s, 1) ? 1 : 0)')).toEqual(['(Math.max(s, 1) ? 1 : 0)'.slice(1, -1)]);
    expect(analyzeSource('function () { [native code] }')).toBeUndefined();
  });
  it('reports free names (what jsMod would need passed in)', () => {
    expect([...analyzeSource('(s, b, h) => s.add(table.at(h)).mul(Math.PI)')!.freeNames]).toEqual(['table']);
  });
});
