// The WGSL spellings of the IR's sin, cos, erf, round and sign (golden output; ops.test.ts runs
// them on the device): flex_erf from the prelude (WGSL has no erf), round (ties to even, as the
// ir), selects for sign (WGSL's sign() leaves ±0 and NaN unspecified).
import { type Expr, traceScoreMod } from '@flexattn/ir';
import { describe, expect, it } from 'vitest';
import { renderMods, WGSL_PRELUDE } from './renderer.js';

describe('WGSL renderer: the new math ops', () => {
  it('sin, cos, erf, round, sign and their derivatives', () => {
    const mod = traceScoreMod((s: Expr, _b: Expr, h: Expr, q: Expr, kv: Expr) =>
      s.erf().add(q.sub(kv).toFloat().mul(0.25).sin()).add(s.cos().round()).mul(h.sign().toFloat()).add(s.sign()),
    );
    const r = renderMods(mod, undefined).hooks;
    expect(`${r.scoreMod}\n${r.scoreModGrad}`).toMatchInlineSnapshot(`
      "fn score_mod(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 {
        let v0: f32 = flex_erf(score);
        let v1: i32 = (q - kv);
        let v2: f32 = f32(v1);
        let v3: f32 = (v2 * 0.25);
        let v4: f32 = sin(v3);
        let v5: f32 = (v0 + v4);
        let v6: f32 = cos(score);
        let v7: f32 = round(v6);
        let v8: f32 = (v5 + v7);
        let v9: i32 = select(select(0i, -1i, h < 0i), 1i, h > 0i);
        let v10: f32 = f32(v9);
        let v11: f32 = (v8 * v10);
        let v12: f32 = select(select(score, -1.0, score < 0.0), 1.0, score > 0.0);
        let v13: f32 = (v11 + v12);
        return v13;
      }
      fn score_mod_grad(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 {
        let v0: i32 = select(select(0i, -1i, h < 0i), 1i, h > 0i);
        let v1: f32 = f32(v0);
        let v2: f32 = (score * score);
        let v3: f32 = (-v2);
        let v4: f32 = exp(v3);
        let v5: f32 = (1.1283792 * v4);
        let v6: f32 = (v1 * v5);
        return v6;
      }"
    `);
    expect(WGSL_PRELUDE).toContain('fn flex_erf(x: f32) -> f32 {');
  });
});
