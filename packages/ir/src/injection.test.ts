/**
 * Nothing a caller passes reaches generated source (compileToJs's `new Function`, the interval
 * analysis, the C-style renderers) except IR content that was checked on the way in. Each hostile
 * payload here is JavaScript that sets a global flag if it ever runs; every export of
 * @flexattn/ir and its sub-paths is called with random hostile arguments (and the methods of what it
 * returns), then the known sinks are attacked one by one.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as ir from './index';
import * as reference from './reference/index';
import * as testing from './testing/index';
import { Node } from './node';
import { CapturedTensor, capture, scalar } from './params';
import { C_OP_TABLE, type CStyleDialect, renderCStyle } from './render/c-style';
import { TraceError } from './errors';
import { TracedMod, traceScoreMod } from './trace';
import { compileNodeToJs, compileToJs, renderJsBody } from './evaluate';
import { createReferenceBackend } from './reference/backend';
import { where } from './expr';
import { planKernelHooks } from './render/hook-plan';

const FLAG = '__flexattnInjected';
const CODE = `globalThis.${FLAG} = 1`;
const injected = () => (globalThis as Record<string, unknown>)[FLAG] !== undefined;
afterEach(() => {
  delete (globalThis as Record<string, unknown>)[FLAG];
});

/** Payloads that break out of an expression, a comment, a string or a template in generated code. */
const CODE_STRINGS = [`0); ${CODE}; (0`, `0 */ ${CODE} /* 0`, `0\n${CODE}\n`, `0'; ${CODE}; '0`, `0\`; ${CODE}; \`0`, `x) { ${CODE} } function y(`];
const codeObject = (text: string) => ({ toString: () => text, valueOf: () => text, [Symbol.toPrimitive]: () => text });
/** Objects that look like IR content but did not come through the checked constructors. */
function lookAlikes(text: string): unknown[] {
  // own data properties over the prototype's (they shadow getters such as a lazy hash)
  const fake = (proto: object, props: Record<string, unknown>) => Object.create(proto, Object.fromEntries(Object.entries(props).map(([k, value]) => [k, { value, enumerable: true }]))) as object;
  const fakeNode = (op: string, dtype: string, arg: unknown) => fake(Node.prototype, { op, dtype, src: [], arg, id: 1e9, hash: 'f' });
  const fakeTensor = fake(CapturedTensor.prototype, { kind: 'tensor', dtype: 'f32', shape: [text], strides: [text], data: new Float32Array(4), name: text, requiresGrad: false });
  const root = fakeNode('const', 'f32', text);
  return [
    root,
    fakeNode('arg', 'f32', text),
    fakeNode(text, 'f32', undefined),
    fakeNode('scalar', 'f32', { slot: text, dtype: 'f32' }),
    fakeTensor,
    fake(TracedMod.prototype, { kind: 'score', root, captures: [fakeTensor], name: text, hash: text }),
    { slot: text, dtype: 'f32', rank: 1 },
    new Proxy({}, { get: (_t, key) => (key === Symbol.toPrimitive ? () => text : text) }),
  ];
}
const HOSTILE: unknown[] = CODE_STRINGS.flatMap((s) => [s, codeObject(s), ...lookAlikes(s), [s]]);

/** Some genuine values, so calls get past their first check and reach deeper code. */
function genuine(): unknown[] {
  const t = capture(Float32Array.from([1, 2, 3]), [3], { name: 'table' });
  const mod = traceScoreMod((s, _b, h) => s.add(t.at(h)).mul(NaN));
  return [mod, mod.root, [mod.root], mod.captures, 'f32', 'const', 'arg', 'score', 1, 0.5, true, [1, 2, 3], { b: 0, h: 1, q: 2, kv: 3, score: 0.5 }];
}

/** Exports that return generated source text: a payload must never appear in it. */
const CODE_PRODUCERS = new Set(['renderCStyle', 'renderJsBody', 'f32Text']);

/** The text a call returned (render results), to search for a payload. */
function texts(x: unknown): string[] {
  if (typeof x === 'string') return [x];
  if (Array.isArray(x)) return x.flatMap((y) => (typeof y === 'string' ? [y] : []));
  if (x && typeof x === 'object' && 'lines' in x) return [...texts((x as { lines: unknown }).lines), ...texts((x as { results?: unknown }).results)];
  return [];
}

/** Exports that register vitest suites or drive a whole backend run; they generate no code. */
const NOT_CALLED = new Set(['describeConformance', 'describeFuzz', 'runConformance', 'checkCase']);

const swallow = (fn: () => unknown): unknown => {
  try {
    const r = fn();
    if (r instanceof Promise) r.catch(() => {});
    return r;
  } catch {
    return undefined;
  }
};

describe('no injection through any export', () => {
  const modules = { '@flexattn/ir': ir, '@flexattn/ir/reference': reference, '@flexattn/ir/testing': testing };
  for (const [path, mod] of Object.entries(modules)) {
    it(`${path}: every export, called with hostile arguments, never runs them`, async () => {
      const entries = Object.entries(mod).filter(([name, v]) => typeof v === 'function' && !NOT_CALLED.has(name)) as [string, (...a: unknown[]) => unknown][];
      expect(entries.length).toBeGreaterThan(0);
      const values = [...HOSTILE, ...genuine()];
      fc.assert(
        fc.property(fc.constantFrom(...entries), fc.array(fc.constantFrom(...values), { maxLength: 5 }), fc.array(fc.constantFrom(...values), { maxLength: 5 }), ([name, fn], args, more) => {
          for (const result of [swallow(() => fn(...args)), swallow(() => Reflect.construct(fn, args))]) {
            for (const t of CODE_PRODUCERS.has(name) ? texts(result) : []) if (CODE_STRINGS.some((s) => t.includes(s))) throw new Error(`${name} put a payload into text: ${t}`);
            // compiled functions run, and the returned object's methods are called too
            if (typeof result === 'function') swallow(() => (result as (...a: unknown[]) => unknown)(...more));
            else if (result && typeof result === 'object') {
              for (const key of Object.getOwnPropertyNames(Object.getPrototypeOf(result) ?? {})) {
                if (key === 'constructor') continue;
                // getters run too (reading them may throw, like any call here)
                const m = swallow(() => (result as Record<string, unknown>)[key]);
                if (typeof m === 'function') swallow(() => (m as (...a: unknown[]) => unknown).apply(result, more));
              }
            }
          }
          if (injected()) throw new Error(`${name}(${args.map((a) => typeof a).join(', ')}) ran injected code`);
        }),
        { numRuns: 3000, seed: 19 },
      );
      await new Promise((r) => setTimeout(r, 0)); // rejected promises settled
      expect(injected()).toBe(false);
    });
  }
});

describe('the sinks, one by one', () => {
  it('Node.make checks every payload: arg names, constants of the declared dtype, slots, op names, sources', () => {
    for (const s of CODE_STRINGS) {
      expect(() => Node.make('const', 'f32', [], s as never)).toThrow(TraceError);
      expect(() => Node.make('const', 'bool', [], s as never)).toThrow(TraceError);
      expect(() => Node.make('arg', 'f32', [], s as never)).toThrow(TraceError);
      expect(() => Node.make('scalar', 'f32', [], { slot: s, dtype: 'f32' } as never)).toThrow(TraceError);
      expect(() => Node.make('load', 'f32', [], { slot: 0, dtype: s, rank: 0 } as never)).toThrow(TraceError);
      expect(() => Node.make(s as never, 'f32', [])).toThrow(TraceError);
      expect(() => Node.make('add', s as never, [])).toThrow(TraceError);
      expect(() => Node.make('neg', 'f32', lookAlikes(s).slice(0, 1) as never)).toThrow(TraceError);
      expect(() => Node.make('const', 'f32', [], codeObject(s) as never)).toThrow(TraceError);
    }
    // TypeScript's `private` constructor is callable at run time
    expect(() => Reflect.construct(Node, ['const', 'f32', [], CODE_STRINGS[0]])).toThrow(TraceError);
    expect(() => Reflect.construct(Node, [Symbol('Node.make'), 'const', 'f32', [], CODE_STRINGS[0]])).toThrow(TraceError);
    expect(() => Node.make('const', 'i32', [], 1.5)).toThrow(/an i32 constant must be an integer/);
    expect(() => Node.make('arg', 'i32', [], 'score')).toThrow(/argument score has dtype f32/);
    expect(() => Node.make('add', 'f32', [Node.make('arg', 'f32', [], 'score')])).toThrow(/takes 2 source/);
    // the special values are constants like any other, each one node
    expect(Node.make('const', 'f32', [], NaN)).toBe(Node.make('const', 'f32', [], NaN));
    expect(Node.make('const', 'f32', [], -Infinity).arg).toBe(-Infinity);
  });

  it('nodes, traced mods and captured tensors cannot be changed after their checks', () => {
    const t = capture(Float32Array.from([1, 2]), [2]);
    const mod = traceScoreMod((s, _b, h) => s.add(t.at(h)));
    expect(() => Object.assign(mod.root, { op: 'const', arg: CODE })).toThrow(TypeError);
    expect(() => Object.assign(mod, { root: Node.make('arg', 'f32', [], 'score') })).toThrow(TypeError);
    expect(() => Object.assign(t, { shape: [CODE] })).toThrow(TypeError);
    expect(() => Object.assign(C_OP_TABLE, { add: () => CODE })).toThrow(TypeError);
    expect(t.shape).toEqual([2]);
    expect(compileToJs(mod)(1, 0, 1, 0, 0)).toBe(3);
  });

  it('TracedMod, compileNodeToJs and renderJsBody refuse look-alike nodes and tensors and foreign parameter names', () => {
    const s = CODE_STRINGS[0]!;
    const [fakeNode, , , , fakeTensor, fakeMod] = lookAlikes(s);
    const t = capture(Float32Array.from([1, 2]), [2]);
    const mod = traceScoreMod((x, _b, h) => x.add(t.at(h)));
    expect(() => new TracedMod('score', fakeNode as Node, [], 'm')).toThrow(TraceError);
    expect(() => new TracedMod('score', mod.root, [fakeTensor as CapturedTensor], 'm')).toThrow(TraceError);
    expect(() => new TracedMod('score', mod.root, [scalar(1)], 'm')).toThrow(/loads a f32 tensor of rank 1 from slot #0/);
    expect(() => compileToJs(fakeMod as TracedMod)).toThrow(TraceError);
    expect(() => renderJsBody([mod.root], [fakeTensor as CapturedTensor])).toThrow(TraceError);
    // a look-alike mod around genuine content: its hash would key kernel caches and reach comments
    const forged = Object.create(TracedMod.prototype, { kind: { value: 'score' }, root: { value: mod.root }, captures: { value: mod.captures }, name: { value: 'm' }, hash: { value: `x\n${CODE}` } }) as TracedMod;
    expect(() => planKernelHooks(forged, undefined)).toThrow(TraceError);
    expect(() => traceScoreMod(forged)).toThrow(TraceError);
    expect(() => compileToJs(forged)).toThrow(TraceError);
    expect(planKernelHooks(mod, undefined).key).toContain(mod.hash);
    expect(() => compileNodeToJs(mod.root, mod.captures, [s as never])).toThrow(TraceError);
    expect(() => compileNodeToJs(mod.root, mod.captures, ['score', 'score'] as never)).toThrow(TraceError);
    expect(() => createReferenceBackend().forward64(
      { data: new Float32Array(4), shape: [1, 1, 2, 2], dtype: 'f32' }, { data: new Float32Array(4), shape: [1, 1, 2, 2], dtype: 'f32' }, { data: new Float32Array(4), shape: [1, 1, 2, 2], dtype: 'f32' },
      { scoreMod: fakeMod as TracedMod },
    )).toThrow(TraceError);
    expect(injected()).toBe(false);
  });

  it('renderCStyle: names from the caller must be identifiers; constants, NaN and ±Infinity included, reach the text only through the dialect', () => {
    // a dialect that pastes what it is given, to show what reaches it
    const raw: CStyleDialect = {
      ops: C_OP_TABLE,
      declare: (_d, name, expr) => `${name} = ${expr};`,
      literal: (v) => `lit(${String(v)})`,
      arg: (name) => `arg(${name})`,
      scalar: (a) => `scalar(${a.slot})`,
      load: (a, idx) => `load(${a.slot}, ${idx.join(', ')})`,
    };
    const t = capture(Float32Array.from([1, 2]), [2]);
    const mod = traceScoreMod((x, _b, h, q, kv) => where(q.eq(kv), NaN, x.add(t.at(h)).max(-Infinity).mul(scalar(2))));
    const { lines } = renderCStyle([mod.root], raw, 'v');
    const tokens = new Set(lines.join(' ').match(/[A-Za-z_]\w*|\d+|\S/g));
    for (const tok of tokens) expect(['v', 'lit', 'arg', 'scalar', 'load', 'NaN', 'Infinity', 'score', 'h', 'q', 'kv', 'fmaxf', '0', '1', '2', '3', '4', '5', '6', '7', '=', '(', ')', ';', ',', '-', '*', '+', '?', ':', '==', '<']).toContain(tok.replace(/^v\d+$/, 'v'));
    for (const s of CODE_STRINGS) {
      expect(() => renderCStyle([mod.root], raw, s)).toThrow(TraceError);
      expect(() => renderCStyle([mod.root], raw, 'v', new Map([[mod.root.src[0]!, s]]))).toThrow(TraceError);
    }
  });
});
