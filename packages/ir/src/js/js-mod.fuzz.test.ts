/**
 * Fuzz: random mods written with JavaScript operators, compiled two ways — jsMod (the parser) and
 * the method chain a person would write for the same mod (Expr methods; plain JavaScript on plain
 * numbers, as in any traced mod) — must give the same IR (hash) and the same values on random
 * indices, or both fail with a TraceError (an ill-typed mod, e.g. `q && kv`).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TraceError } from '../errors';
import { compileToJs } from '../evaluate';
import { constant, type Expr, where } from '../expr';
import { traceScoreMod, type TracedMod } from '../trace';
import { jsMod } from './js-mod';

type Tree =
  | { k: 'arg'; name: 's' | 'b' | 'h' | 'q' | 'kv' }
  | { k: 'lit'; v: number | boolean }
  | { k: 'bin'; op: string; a: Tree; b: Tree }
  | { k: 'un'; op: '-' | '!'; a: Tree }
  | { k: 'math'; fn: string; args: Tree[] }
  | { k: 'cond'; c: Tree; a: Tree; b: Tree };

const BIN = ['+', '-', '*', '/', '%', '<', '<=', '>', '>=', '===', '!==', '&&', '||'] as const;
const MATH1 = ['exp', 'tanh', 'abs', 'floor', 'ceil', 'sin', 'cos', 'sign', 'sqrt', 'log'] as const;

const tree: fc.Arbitrary<Tree> = fc.letrec<{ t: Tree }>((tie) => ({
  t: fc.oneof(
    { depthSize: 'small', maxDepth: 5 },
    fc.constantFrom<Tree>({ k: 'arg', name: 's' }, { k: 'arg', name: 'q' }, { k: 'arg', name: 'kv' }, { k: 'arg', name: 'h' }, { k: 'arg', name: 'b' }),
    fc.oneof(fc.integer({ min: -4, max: 9 }), fc.constantFrom(0.5, 2.25, -1.5), fc.boolean()).map((v): Tree => ({ k: 'lit', v })),
    fc.record({ k: fc.constant('bin' as const), op: fc.constantFrom(...BIN), a: tie('t'), b: tie('t') }),
    fc.record({ k: fc.constant('un' as const), op: fc.constantFrom('-' as const, '!' as const), a: tie('t') }),
    fc.tuple(fc.constantFrom(...MATH1), tie('t')).map(([fn, a]): Tree => ({ k: 'math', fn, args: [a] })),
    fc.tuple(fc.constantFrom('min', 'max'), tie('t'), tie('t')).map(([fn, a, b]): Tree => ({ k: 'math', fn, args: [a, b] })),
    fc.record({ k: fc.constant('cond' as const), c: tie('t'), a: tie('t'), b: tie('t') }),
  ),
})).t;

/** Operator syntax, fully parenthesized. */
function source(t: Tree): string {
  switch (t.k) {
    case 'arg': return t.name;
    case 'lit': return typeof t.v === 'boolean' ? String(t.v) : `(${t.v})`;
    case 'bin': return `(${source(t.a)} ${t.op} ${source(t.b)})`;
    case 'un': return `(${t.op}${source(t.a)})`;
    case 'math': return `Math.${t.fn}(${t.args.map(source).join(', ')})`;
    case 'cond': return `(${source(t.c)} ? ${source(t.a)} : ${source(t.b)})`;
  }
}

type V = Expr | number | boolean;
const plain = (v: V): v is number | boolean => typeof v !== 'object';
const METHOD: Record<string, string> = { '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '%': 'mod', '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge', '===': 'eq', '!==': 'ne', '&&': 'and', '||': 'or' };
/** JavaScript on plain values — what a person's traced mod computes for constants at trace time. */
const js = (op: string, a: number, b: number): number | boolean => new Function('a', 'b', `return a ${op} b;`)(a, b) as number | boolean;

/**
 * A plain number on the left of a method call, as a person writes it: `constant(2).sub(q)`, or
 * `constant(x, 'f32')` against a float (so −0 stays −0: an i32 constant has no −0).
 */
const lifted = (a: number | boolean, other: V): Expr =>
  typeof a === 'number' && typeof other === 'object' && other.dtype === 'f32' ? constant(a, 'f32') : constant(a);

/** The hand-written traced version: Expr methods on traced values, JavaScript on plain ones. */
function chain(t: Tree, env: Record<string, Expr>): V {
  switch (t.k) {
    case 'arg': return env[t.name]!;
    case 'lit': return t.v;
    case 'bin': {
      const a = chain(t.a, env);
      if ((t.op === '&&' || t.op === '||') && plain(a)) return t.op === '&&' ? (a ? chain(t.b, env) : a) : a ? a : chain(t.b, env);
      const b = chain(t.b, env);
      if (plain(a) && plain(b)) return js(t.op, a as number, b as number);
      const self = plain(a) ? lifted(a, b) : a;
      return (self as unknown as Record<string, (x: V) => Expr>)[METHOD[t.op]!]!.call(self, b);
    }
    case 'un': {
      const a = chain(t.a, env);
      if (plain(a)) return t.op === '-' ? -a : !a;
      return t.op === '-' ? a.neg() : a.not();
    }
    case 'math': {
      const xs = t.args.map((x) => chain(x, env));
      if (xs.every(plain)) return (Math as unknown as Record<string, (...a: number[]) => number>)[t.fn]!(...(xs as number[]));
      if (t.fn === 'min' || t.fn === 'max') return (plain(xs[0]!) ? lifted(xs[0]!, xs[1]!) : xs[0]!)[t.fn](xs[1]!);
      return (xs[0] as unknown as Record<string, () => Expr>)[t.fn]!.call(xs[0]);
    }
    case 'cond': {
      const c = chain(t.c, env);
      if (plain(c)) return c ? chain(t.a, env) : chain(t.b, env);
      return where(c, chain(t.a, env), chain(t.b, env));
    }
  }
}

type Outcome = { mod: TracedMod } | { error: string };
const attempt = (f: () => TracedMod): Outcome => {
  try {
    return { mod: f() };
  } catch (e) {
    if (!(e instanceof TraceError)) throw e;
    return { error: e.message };
  }
};

describe('jsMod = the method chain on random operator-syntax mods (fast-check)', () => {
  it('same hash and the same values on random indices, or both a TraceError', () => {
    let compiled = 0;
    fc.assert(
      fc.property(tree, fc.array(fc.tuple(fc.double({ min: -4, max: 4, noNaN: true }), fc.nat(3), fc.nat(3), fc.nat(40), fc.nat(40)), { minLength: 4, maxLength: 4 }), (t, points) => {
        const src = `(s, b, h, q, kv) => ${source(t)}`;
        const viaParser = attempt(() => traceScoreMod(jsMod(src)));
        const viaChain = attempt(() => traceScoreMod((s, b, h, q, kv) => chain(t, { s, b, h, q, kv }) as Expr));
        if ('error' in viaChain || 'error' in viaParser) {
          expect('error' in viaParser, `${src}\nparser: ${JSON.stringify(viaParser)}\nchain: ${JSON.stringify(viaChain)}`).toBe('error' in viaChain);
          return;
        }
        compiled++;
        expect(viaParser.mod.hash, src).toBe(viaChain.mod.hash);
        const f = compileToJs(viaParser.mod);
        const g = compileToJs(viaChain.mod);
        for (const p of points) expect(Object.is(f(...p), g(...p)) || f(...p) === g(...p), `${src} at ${p.join(', ')}`).toBe(true);
      }),
      { numRuns: 400 },
    );
    expect(compiled).toBeGreaterThan(100); // not vacuous: most random mods are well typed
  });
});
