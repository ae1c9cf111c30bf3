// The CUDA spellings of the IR's sin, cos, erf, round and sign (golden output): libm's sinf/cosf/
// erff (no fast-math in COMPILE_OPTIONS, so full precision), rintf for round (ties to even, the
// ir's meaning; roundf would round ties away from zero), a compare chain for sign (±0, NaN pass).
import { type Expr, traceMaskMod, traceScoreMod } from '@flexattn/ir';
import { describe, expect, it } from 'vitest';
import { renderMods } from './renderer';

const hook = (source: string, name: string) => {
  const start = source.indexOf(`float ${name}(`);
  return source.slice(source.lastIndexOf('\n', start) + 1, source.indexOf('\n}', start) + 2);
};

describe('CUDA renderer: the new math ops', () => {
  it('sin, cos, erf, round, sign and their derivatives', () => {
    const mod = traceScoreMod((s: Expr, _b: Expr, h: Expr, q: Expr, kv: Expr) =>
      s.erf().add(q.sub(kv).toFloat().mul(0.25).sin()).add(s.cos().round()).mul(h.sign().toFloat()).add(s.sign()),
    );
    const src = renderMods(mod, undefined).source;
    expect(hook(src, 'flex_score_mod')).toMatchInlineSnapshot(`
      "__device__ __forceinline__ float flex_score_mod(float score, int b, int h, int q, int kv, const FlexScoreParams& p) {
        const float v0 = erff(score);
        const int v1 = (q - kv);
        const float v2 = ((float)v1);
        const float v3 = (v2 * 0.25f);
        const float v4 = sinf(v3);
        const float v5 = (v0 + v4);
        const float v6 = cosf(score);
        const float v7 = rintf(v6);
        const float v8 = (v5 + v7);
        const int v9 = ((h > 0) - (h < 0));
        const float v10 = ((float)v9);
        const float v11 = (v8 * v10);
        const float v12 = (score > 0.0f ? 1.0f : (score < 0.0f ? -1.0f : score));
        const float v13 = (v11 + v12);
        return v13;
      }"
    `);
    expect(hook(src, 'flex_score_mod_grad')).toMatchInlineSnapshot(`
      "__device__ __forceinline__ float flex_score_mod_grad(float score, int b, int h, int q, int kv, const FlexScoreParams& p) {
        const int v0 = ((h > 0) - (h < 0));
        const float v1 = ((float)v0);
        const float v2 = (score * score);
        const float v3 = (-v2);
        const float v4 = expf(v3);
        const float v5 = (1.1283792f * v4);
        const float v6 = (v1 * v5);
        return v6;
      }"
    `);
  });
  it('round and sign keep integers integral', () => {
    const m = traceMaskMod((_b: Expr, h: Expr, q: Expr, kv: Expr) => q.sub(kv).sign().eq(h.round().sub(1)));
    expect(renderMods(undefined, m).source).toContain('((v0 > 0) - (v0 < 0))');
  });
});
