/**
 * Compiled forms of a mask (element function, interval analysis), cached by graph:
 * nodes are hash-consed, so tracing the same mask function again yields the same root node and the
 * same captured parameters — and finds the code compiled before. (compileToJs itself is not cached
 * in @flexattn/ir, and a freshly compiled function starts cold in the interpreter each call.)
 */
import { compileMaskInterval, compileToJs, type CompiledInterval, type ModParam, type Node, type TracedMod } from '@flexattn/ir';

export type MaskFn = (b: number, h: number, q: number, kv: number) => unknown;

export interface CompiledMask {
  fn: MaskFn;
  iv: CompiledInterval;
}

const cache = new WeakMap<Node, { captures: readonly ModParam[]; compiled: CompiledMask }[]>();

const sameParams = (a: readonly ModParam[], b: readonly ModParam[]) => a.length === b.length && a.every((x, i) => x === b[i]);

export function compileMask(mask: TracedMod): CompiledMask {
  let entries = cache.get(mask.root);
  if (!entries) cache.set(mask.root, (entries = []));
  const hit = entries.find((e) => sameParams(e.captures, mask.captures));
  if (hit) return hit.compiled;
  const compiled: CompiledMask = {
    fn: compileToJs(mask) as MaskFn,
    iv: compileMaskInterval(mask),
  };
  if (entries.length >= 8) entries.shift();
  entries.push({ captures: [...mask.captures], compiled });
  return compiled;
}
