// The generated hooks of every catalogue mod, as a reviewer sees them: each example of
// @flexattn/mods rendered to WGSL (binding declarations, hooks, row/column form) in
// src/__snapshots__/hooks/<name>.wgsl.snap. A change to the renderer or to ir's plan shows up here
// as a diff of the source a mod becomes.
import { traceMaskMod, traceScoreMod } from '@flexattn/ir';
import { catalogueExamples } from '@flexattn/mods';
import { describe, expect, it } from 'vitest';
import { captureDecls, captureGradDecls } from './programs/hooks.js';
import { renderMods } from './renderer.js';

describe('generated WGSL hooks of the catalogue', () => {
  for (const e of catalogueExamples()) {
    it(e.name, async () => {
      const { hooks } = renderMods(e.scoreMod && traceScoreMod(e.scoreMod), e.maskMod && traceMaskMod(e.maskMod));
      const text = [`// ${e.name}`, captureDecls(hooks), captureGradDecls(hooks), hooks.scoreMod, hooks.scoreModGrad, hooks.captureGrads, hooks.maskMod, hooks.rowCol, ''];
      await expect(text.filter((t) => t !== '').join('\n') + '\n').toMatchFileSnapshot(`./__snapshots__/hooks/${e.name}.wgsl.snap`);
    });
  }
});
