// The generated hooks of every catalogue mod, as a reviewer sees them: each example of
// @flexattn/mods rendered to the CUDA prelude's mod part (flags, params structs, hooks) in
// src/__snapshots__/hooks/<name>.cu.snap. A change to the renderer or to ir's plan shows up here as
// a diff of the source a mod becomes; compile.test.ts compiles such preludes with nvcc.
import { traceMaskMod, traceScoreMod } from '@flexattn/ir';
import { catalogueExamples } from '@flexattn/mods';
import { describe, expect, it } from 'vitest';
import { modMacros, renderMods } from './renderer';

describe('generated CUDA hooks of the catalogue', () => {
  for (const e of catalogueExamples()) {
    it(e.name, async () => {
      // the index bound the backend passes for every shape below 2^22 (fast int→float casts)
      const r = renderMods(e.scoreMod && traceScoreMod(e.scoreMod), e.maskMod && traceMaskMod(e.maskMod), { indexLimit: 2 ** 22 });
      await expect([`// ${e.name}`, ...modMacros(r), r.source, ''].join('\n')).toMatchFileSnapshot(`./__snapshots__/hooks/${e.name}.cu.snap`);
    });
  }
});
