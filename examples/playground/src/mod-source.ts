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
  toMod(value: unknown): unknown;
}

/**
 * The syntaxes the playground offers. The plain-JS operator syntax (`q >= kv`) is one more entry
 * once @flexattn/ir exports jsMod:
 *   js: { label: 'plain JS: q >= kv', toMod: (fn) => ir.jsMod(fn as never, SCOPE) },
 */
export const SYNTAXES: Record<string, Syntax> = {
  traced: { label: 'traced API: q.ge(kv)', toMod: (value) => value },
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
  const mod = syntax.toMod(value);
  if (typeof mod !== 'function') {
    const want = kind === 'mask' ? '(b, h, q, kv) => q.ge(kv)' : '(score, b, h, q, kv) => score.mul(2)';
    throw new TypeError(`the ${kind} mod box must give a function such as ${want}; it gave ${value === null ? 'null' : typeof value}`);
  }
  const traced = kind === 'mask' ? ir.traceMaskMod(mod as ir.MaskMod) : ir.traceScoreMod(mod as ir.ScoreMod);
  return { mod: mod as ir.MaskMod | ir.ScoreMod, traced };
}
