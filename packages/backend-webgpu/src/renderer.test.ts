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
        let v0: bool = (q >= kv);
        return v0;
      }
      fn score_mod_grad(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 { return 1.0; }
      fn score_mod_capture_grads(dpost: f32, score: f32, b: i32, h: i32, q: i32, kv: i32) {}"
    `);
  });
  it('softcap (exact tanh) and its gradient', () => {
    expect(text((s) => s.div(20).tanh().mul(20))).toMatchInlineSnapshot(`
      "fn score_mod(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 {
        let v0: f32 = (score * 0.05);
        let v1: f32 = flex_tanh(v0);
        let v2: f32 = (v1 * 2e+1);
        return v2;
      }
      fn mask_mod(b: i32, h: i32, q: i32, kv: i32) -> bool { return true; }
      fn score_mod_grad(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 {
        let v0: f32 = (score * 0.05);
        let v1: f32 = flex_tanh(v0);
        let v2: f32 = (v1 * v1);
        let v3: f32 = (1.0 - v2);
        let v4: f32 = (v3 * 0.05);
        let v5: f32 = (2e+1 * v4);
        return v5;
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
      fn score_mod_grad(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 { return 1.0; }
      fn score_mod_capture_grads(dpost: f32, score: f32, b: i32, h: i32, q: i32, kv: i32) {}"
    `);
  });
  it('sliding window with a scalar, document mask with captured ids', () => {
    const w = scalar(128, { dtype: 'i32', name: 'window' });
    const ids = capture(new Int32Array(64), [64], { name: 'doc' });
    expect(text(undefined, (_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).le(w)).and(ids.at(q).eq(ids.at(kv))))).toMatchInlineSnapshot(`
      "fn score_mod(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 { return score; }
      fn mask_mod(b: i32, h: i32, q: i32, kv: i32) -> bool {
        let v0: bool = (q >= kv);
        let v1: i32 = (q - kv);
        let v2: bool = (v1 <= S.m0);
        let v3: bool = (v0 && v2);
        let v4: i32 = cap_m1[clamp(q, 0i, 63i)];
        let v5: i32 = cap_m1[clamp(kv, 0i, 63i)];
        let v6: bool = (v4 == v5);
        let v7: bool = (v3 && v6);
        return v7;
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
      fn score_mod_grad(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 { return 1.0; }
      fn score_mod_capture_grads(dpost: f32, score: f32, b: i32, h: i32, q: i32, kv: i32) {
        let v0: i32 = (q - kv);
        let v1: i32 = max(v0, -8i);
        let v2: i32 = min(v1, 8i);
        let v3: i32 = (v2 + 8i);
        capgrad_add_s0(clamp(v3, 0i, 16i), dpost * 1.0);
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
        let v5: f32 = select(flex_f32_bits(0xff800000u), v4, v2);
        return v5;
      }
      fn mask_mod(b: i32, h: i32, q: i32, kv: i32) -> bool { return true; }
      fn score_mod_grad(score: f32, b: i32, h: i32, q: i32, kv: i32) -> f32 {
        let v0: i32 = flex_imod(q, 3i);
        let v1: i32 = flex_ifloordiv(kv, 2i);
        let v2: bool = (v0 == v1);
        let v3: f32 = f32(h);
        let v4: f32 = select(0.0, v3, v2);
        return v4;
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
        s0: f32,
      }
      fn flex_row_s(b: i32, h: i32, q: i32) -> FlexRowS {
        let sr0: f32 = cap_s0[clamp(h, 0i, 3i)];
        return FlexRowS(sr0);
      }
      struct FlexRowM {
        m0: i32,
      }
      fn flex_row_m(b: i32, h: i32, q: i32) -> FlexRowM {
        let mr0: i32 = cap_m0[clamp(q, 0i, 63i)];
        return FlexRowM(mr0);
      }
      struct FlexColS { unused: u32 }
      fn flex_col_s(b: i32, h: i32, kv: i32) -> FlexColS { return FlexColS(0u); }
      struct FlexColM {
        m0: i32,
      }
      fn flex_col_m(b: i32, h: i32, kv: i32) -> FlexColM {
        let mc0: i32 = cap_m0[clamp(kv, 0i, 63i)];
        return FlexColM(mc0);
      }
      fn score_mod_rc(score: f32, b: i32, h: i32, q: i32, kv: i32, rs: FlexRowS, cs: FlexColS) -> f32 {
        let v0: i32 = (kv - q);
        let v1: f32 = f32(v0);
        let v2: f32 = (rs.s0 * v1);
        let v3: f32 = (score + v2);
        return v3;
      }
      fn score_mod_grad_rc(score: f32, b: i32, h: i32, q: i32, kv: i32, rs: FlexRowS, cs: FlexColS) -> f32 { return 1.0; }
      fn mask_mod_rc(b: i32, h: i32, q: i32, kv: i32, rm: FlexRowM, cm: FlexColM) -> bool {
        let v0: bool = (rm.m0 == cm.m0);
        return v0;
      }"
    `);
  });
  it('causal hoists nothing: the element forms are the mods themselves', () => {
    expect(rowCol(undefined, (_b, _h, q, kv) => q.ge(kv))).toMatchInlineSnapshot(`
      "struct FlexRowS { unused: u32 }
      fn flex_row_s(b: i32, h: i32, q: i32) -> FlexRowS { return FlexRowS(0u); }
      struct FlexRowM { unused: u32 }
      fn flex_row_m(b: i32, h: i32, q: i32) -> FlexRowM { return FlexRowM(0u); }
      struct FlexColS { unused: u32 }
      fn flex_col_s(b: i32, h: i32, kv: i32) -> FlexColS { return FlexColS(0u); }
      struct FlexColM { unused: u32 }
      fn flex_col_m(b: i32, h: i32, kv: i32) -> FlexColM { return FlexColM(0u); }
      fn score_mod_rc(score: f32, b: i32, h: i32, q: i32, kv: i32, rs: FlexRowS, cs: FlexColS) -> f32 { return score; }
      fn score_mod_grad_rc(score: f32, b: i32, h: i32, q: i32, kv: i32, rs: FlexRowS, cs: FlexColS) -> f32 { return 1.0; }
      fn mask_mod_rc(b: i32, h: i32, q: i32, kv: i32, rm: FlexRowM, cm: FlexColM) -> bool {
        let v0: bool = (q >= kv);
        return v0;
      }"
    `);
  });
});
