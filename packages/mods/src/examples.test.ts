import { compileToJs, traceMaskMod, traceScoreMod } from '@flexattn/ir';
import { describe, expect, it } from 'vitest';
import { catalogueExamples } from './examples';
import { catalogueFactories } from './factories.test-helpers';

/** The factory names behind a mod, through the combinators' parts. */
function factories(mod: unknown): string[] {
  const f = mod as { name: string; parts?: readonly unknown[] };
  return [f.name, ...(f.parts ?? []).flatMap(factories)];
}

describe('catalogueExamples', () => {
  const examples = catalogueExamples();
  it('covers every factory the package exports', () => {
    const used = new Set(examples.flatMap((e) => [e.scoreMod, e.maskMod].filter(Boolean).flatMap(factories)));
    expect(catalogueFactories().filter((k) => !used.has(k))).toEqual([]);
  });

  it('has unique file-name-safe names, and every example traces and runs', () => {
    expect(new Set(examples.map((e) => e.name)).size).toBe(examples.length);
    for (const e of examples) {
      expect(e.name).toMatch(/^[a-z0-9_]+$/);
      expect(e.scoreMod ?? e.maskMod).toBeDefined();
      if (e.scoreMod) expect(typeof compileToJs(traceScoreMod(e.scoreMod))(1.5, 0, 1, 5, 3)).toBe('number');
      if (e.maskMod) expect(typeof compileToJs(traceMaskMod(e.maskMod))(0, 1, 5, 3)).toBe('boolean');
    }
  });
});
