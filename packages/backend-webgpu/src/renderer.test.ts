// Generated WGSL as golden output: every change to what a mod renders to shows up in review.
import { describe, expect, it } from 'vitest';
import { capture, scalar, traceMaskMod, traceScoreMod, where } from '@flexattn/ir';
import { renderMods } from './renderer.js';

const text = (s: Parameters<typeof traceScoreMod>[0] | undefined, m?: Parameters<typeof traceMaskMod>[0]) => {
  const r = renderMods(s ? traceScoreMod(s) : undefined, m ? traceMaskMod(m) : undefined);
  return [r.hooks.scoreMod, r.hooks.maskMod, r.hooks.scoreModGrad, r.hooks.captureGrads].join('\n');
};

describe('WGSL renderer', () => {
  it('noop and causal', () => {
    expect(text(undefined, (_b, _h, q, kv) => q.ge(kv))).toMatchInlineSnapshot(`
      "fn score_mod(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 { return score; }
      fn mask_mod(b: i32, h: i32, q: i32, kv: i32) -> bool {
        let w0: bool = (q >= kv);
        return w0;
      }
      fn score_mod_grad(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 { return 1.0; }
      fn score_mod_capture_grads(dpost: f32, score: f32, b: i32, h: i32, q: i32, kv: i32) {}"
    `);
  });
  it('softcap (exact tanh) and its gradient', () => {
    expect(text((s) => s.div(20).tanh().mul(20))).toMatchInlineSnapshot(`
      "fn score_mod(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 {
        let v0: f32 = (score / 2e+1);
        let v1: f32 = flex_tanh(v0);
        let v2: f32 = (v1 * 2e+1);
        return v2;
      }
      fn mask_mod(b: i32, h: i32, q: i32, kv: i32) -> bool { return true; }
      fn score_mod_grad(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 {
        let g0: f32 = (score / 2e+1);
        let g1: f32 = flex_tanh(g0);
        let g2: f32 = (g1 * g1);
        let g3: f32 = (1.0 - g2);
        let g4: f32 = (g3 * 0.05);
        let g5: f32 = (2e+1 * g4);
        return g5;
      }
      fn score_mod_capture_grads(dpost: f32, score: f32, b: i32, h: i32, q: i32, kv: i32) {}"
    `);
  });
  it('alibi with a captured tensor', () => {
    const slopes = capture(new Float32Array(16), [16], { name: 'slopes' });
    expect(text((s, _b, h, q, kv) => s.add(slopes.at(h).mul(kv.sub(q))))).toMatchInlineSnapshot(`
      "fn score_mod(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 {
        let v0: f32 = cap_s0[clamp(h, 0i, 15i)];
        let v1: i32 = (kv - q);
        let v2: f32 = f32(v1);
        let v3: f32 = (v0 * v2);
        let v4: f32 = (score + v3);
        return v4;
      }
      fn mask_mod(b: i32, h: i32, q: i32, kv: i32) -> bool { return true; }
      fn score_mod_grad(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 {
        return 1.0;
      }
      fn score_mod_capture_grads(dpost: f32, score: f32, b: i32, h: i32, q: i32, kv: i32) {}"
    `);
  });
  it('sliding window with a scalar, document mask with captured ids', () => {
    const w = scalar(128, { dtype: 'i32', name: 'window' });
    const ids = capture(new Int32Array(64), [64], { name: 'doc' });
    expect(text(undefined, (_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).le(w)).and(ids.at(q).eq(ids.at(kv))))).toMatchInlineSnapshot(`
      "fn score_mod(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 { return score; }
      fn mask_mod(b: i32, h: i32, q: i32, kv: i32) -> bool {
        let w0: bool = (q >= kv);
        let w1: i32 = (q - kv);
        let w2: bool = (w1 <= S.m0);
        let w3: bool = (w0 && w2);
        let w4: i32 = cap_m1[clamp(q, 0i, 63i)];
        let w5: i32 = cap_m1[clamp(kv, 0i, 63i)];
        let w6: bool = (w4 == w5);
        let w7: bool = (w3 && w6);
        return w7;
      }
      fn score_mod_grad(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 { return 1.0; }
      fn score_mod_capture_grads(dpost: f32, score: f32, b: i32, h: i32, q: i32, kv: i32) {}"
    `);
  });
  it('learnable bias table: capture gradients', () => {
    const t = capture(new Float32Array(17), [17], { name: 'rel', requiresGrad: true });
    expect(text((s, _b, _h, q, kv) => s.add(t.at(q.sub(kv).clamp(-8, 8).add(8))))).toMatchInlineSnapshot(`
      "fn score_mod(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 {
        let v0: i32 = (q - kv);
        let v1: i32 = max(v0, -8i);
        let v2: i32 = min(v1, 8i);
        let v3: i32 = (v2 + 8i);
        let v4: f32 = cap_s0[clamp(v3, 0i, 16i)];
        let v5: f32 = (score + v4);
        return v5;
      }
      fn mask_mod(b: i32, h: i32, q: i32, kv: i32) -> bool { return true; }
      fn score_mod_grad(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 {
        return 1.0;
      }
      fn score_mod_capture_grads(dpost: f32, score: f32, b: i32, h: i32, q: i32, kv: i32) {
        let c0: i32 = (q - kv);
        let c1: i32 = max(c0, -8i);
        let c2: i32 = min(c1, 8i);
        let c3: i32 = (c2 + 8i);
        capgrad_add_s0(clamp(c3, 0i, 16i), dpost * 1.0);
      }"
    `);
  });
  it('where, integer modulo and floor division', () => {
    expect(text((s, _b, h, q, kv) => where(q.mod(3).eq(kv.floorDiv(2)), s.mul(h.toFloat()), -Infinity))).toMatchInlineSnapshot(`
      "fn score_mod(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 {
        let v0: i32 = flex_imod(q, 3i);
        let v1: i32 = flex_ifloordiv(kv, 2i);
        let v2: bool = (v0 == v1);
        let v3: f32 = f32(h);
        let v4: f32 = (score * v3);
        let v5: f32 = select(-3.0e38, v4, v2);
        return v5;
      }
      fn mask_mod(b: i32, h: i32, q: i32, kv: i32) -> bool { return true; }
      fn score_mod_grad(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 {
        let g0: i32 = flex_imod(q, 3i);
        let g1: i32 = flex_ifloordiv(kv, 2i);
        let g2: bool = (g0 == g1);
        let g3: f32 = f32(h);
        let g4: f32 = select(0.0, g3, g2);
        return g4;
      }
      fn score_mod_capture_grads(dpost: f32, score: f32, b: i32, h: i32, q: i32, kv: i32) {}"
    `);
  });
  it('equal mods share a pipeline key; scalar values do not change it', () => {
    const a = scalar(1, { name: 'a' });
    const k1 = renderMods(traceScoreMod((s) => s.mul(a)), undefined).hooks.key;
    a.value = 5;
    const k2 = renderMods(traceScoreMod((s) => s.mul(a)), undefined).hooks.key;
    expect(k1).toBe(k2);
  });
});

describe('WGSL row/column split (forward kernel)', () => {
  const rowCol = (s: Parameters<typeof traceScoreMod>[0] | undefined, m?: Parameters<typeof traceMaskMod>[0]) =>
    renderMods(s ? traceScoreMod(s) : undefined, m ? traceMaskMod(m) : undefined).hooks.rowCol;
  it('a document mask reads its ids once per row and once per column; alibi reads slope[h] per row', () => {
    const ids = capture(new Int32Array(64), [64], { name: 'doc' });
    const slopes = capture(new Float32Array(4), [4], { name: 'slopes' });
    expect(rowCol((s, _b, h, q, kv) => s.add(slopes.at(h).mul(kv.sub(q))), (_b, _h, q, kv) => ids.at(q).eq(ids.at(kv)))).toMatchInlineSnapshot(`
      "struct FlexRowS {
        f0: f32,
      }
      struct FlexRowM {
        f0: i32,
      }
      struct FlexColS { unused: u32 }
      struct FlexColM {
        f0: i32,
      }
      fn flex_row_s(b: i32, h: i32, q: i32) -> FlexRowS {
        let rs0: f32 = cap_s0[clamp(h, 0i, 3i)];
        return FlexRowS(rs0);
      }
      fn flex_row_m(b: i32, h: i32, q: i32) -> FlexRowM {
        let rm0: i32 = cap_m0[clamp(q, 0i, 63i)];
        return FlexRowM(rm0);
      }
      fn flex_col_s(b: i32, h: i32, kv: i32) -> FlexColS { return FlexColS(0u); }
      fn flex_col_m(b: i32, h: i32, kv: i32) -> FlexColM {
        let cm0: i32 = cap_m0[clamp(kv, 0i, 63i)];
        return FlexColM(cm0);
      }
      fn score_mod_rc(score: f32, b: i32, h: i32, q: i32, kv: i32, rs: FlexRowS, cs: FlexColS) -> f32 {
        let v0: i32 = (kv - q);
        let v1: f32 = f32(v0);
        let v2: f32 = (rs.f0 * v1);
        let v3: f32 = (score + v2);
        return v3;
      }
      fn mask_mod_rc(b: i32, h: i32, q: i32, kv: i32, rm: FlexRowM, cm: FlexColM) -> bool {
        let w0: bool = (rm.f0 == cm.f0);
        return w0;
      }"
    `);
  });
  it('causal hoists nothing: the element forms are the mods themselves', () => {
    expect(rowCol(undefined, (_b, _h, q, kv) => q.ge(kv))).toMatchInlineSnapshot(`
      "struct FlexRowS { unused: u32 }
      struct FlexRowM { unused: u32 }
      struct FlexColS { unused: u32 }
      struct FlexColM { unused: u32 }
      fn flex_row_s(b: i32, h: i32, q: i32) -> FlexRowS { return FlexRowS(0u); }
      fn flex_row_m(b: i32, h: i32, q: i32) -> FlexRowM { return FlexRowM(0u); }
      fn flex_col_s(b: i32, h: i32, kv: i32) -> FlexColS { return FlexColS(0u); }
      fn flex_col_m(b: i32, h: i32, kv: i32) -> FlexColM { return FlexColM(0u); }
      fn score_mod_rc(score: f32, b: i32, h: i32, q: i32, kv: i32, rs: FlexRowS, cs: FlexColS) -> f32 { return score; }
      fn mask_mod_rc(b: i32, h: i32, q: i32, kv: i32, rm: FlexRowM, cm: FlexColM) -> bool {
        let w0: bool = (q >= kv);
        return w0;
      }"
    `);
  });
});
