// Turns the text of a mod box into a mod. The text is JavaScript with everything @flexattn/ir and
// @flexattn/mods export in scope, plus the shape's sizes: an arrow function, or statements that
// `return` one (to build captures first). It is the user's own code in the user's own page, so it
// runs with `new Function`; tracing then checks it (arity, result type, JS operators on traced values).
import * as ir from '@flexattn/ir';
import * as mods from '@flexattn/mods';

export type ModKind = 'mask' | 'score';

export interface Syntax {
  label: string;
  /** What the box's code evaluated to -> the mod handed to createBlockMask / flexAttention. */
  toMod(value: unknown, scope: Readonly<Record<string, unknown>>): unknown;
}

/**
 * The free variables a plain-JS mod reads: the names of the scope its own source mentions (the
 * shape's sizes, IR functions such as `where`, captures). Only those, because jsMod refuses a free
 * variable it cannot read (any other function), and the box's scope holds every ir/mods export.
 */
function freeVariablesOf(fn: (...args: never[]) => unknown, scope: Readonly<Record<string, unknown>>): ir.FreeVariables {
  const mentioned = new Set(fn.toString().match(/[A-Za-z_$][\w$]*/g) ?? []);
  return Object.fromEntries(Object.entries(scope).filter(([name]) => mentioned.has(name))) as ir.FreeVariables;
}

/** A function jsMod made already (statements may `return jsMod(fn, { slopes })` to pass their own captures). */
const isJsMod = (value: unknown): boolean => typeof value === 'function' && Object.hasOwn(value, 'source');

/** The syntaxes the playground offers: method chains on traced values, or plain JavaScript operators through jsMod. */
export const SYNTAXES: Record<string, Syntax> = {
  traced: { label: 'traced API: q.ge(kv)', toMod: (value) => value },
  js: {
    label: 'plain JS: q >= kv',
    toMod: (value, scope) =>
      typeof value === 'function' && !isJsMod(value) ? ir.jsMod(value as ir.PlainMod, freeVariablesOf(value as (...args: never[]) => unknown, scope)) : value,
  },
};

/** Names the box's code can use: the ir and mods exports (a mod's own names win over the ir's). */
export const SCOPE: Readonly<Record<string, unknown>> = { ...ir, ...mods };

export interface ParsedMod {
  mod: ir.MaskMod | ir.ScoreMod;
  traced: ir.TracedMod;
}

/** The mod a box's text defines, traced; undefined for an empty box. Throws SyntaxError / TraceError / TypeError. */
export function modFromSource(text: string, kind: ModKind, extraScope: Record<string, unknown> = {}, syntax: Syntax = SYNTAXES.traced!): ParsedMod | undefined {
  if (!text.trim()) return undefined;
  const scope = { ...SCOPE, ...extraScope };
  const names = Object.keys(scope).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n));
  const body = /\breturn\b/.test(text) ? text : `return (${text}\n);`;
  const value = new Function(...names, `'use strict';\n${body}`)(...names.map((n) => scope[n])) as unknown;
  const mod = syntax.toMod(value, scope);
  if (typeof mod !== 'function') {
    const want = kind === 'mask' ? '(b, h, q, kv) => q.ge(kv)' : '(score, b, h, q, kv) => score.mul(2)';
    throw new TypeError(`the ${kind} mod box must give a function such as ${want}; it gave ${value === null ? 'null' : typeof value}`);
  }
  const traced = kind === 'mask' ? ir.traceMaskMod(mod as ir.MaskMod) : ir.traceScoreMod(mod as ir.ScoreMod);
  return { mod: mod as ir.MaskMod | ir.ScoreMod, traced };
}
