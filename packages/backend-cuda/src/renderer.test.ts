import { capture, scalar, traceMaskMod, traceScoreMod, where } from '@flexattn/ir';
import { alibi, causal, documentMask, relativePosition, slidingWindow, softcap, temperature } from '@flexattn/mods';
import { describe, expect, it } from 'vitest';
import { renderMods, renderPrelude } from './renderer';

const score = (fn: Parameters<typeof traceScoreMod>[0]) => traceScoreMod(fn);
const mask = (fn: Parameters<typeof traceMaskMod>[0]) => traceMaskMod(fn);

/** One generated function of the rendered source, from its signature line to its closing brace. */
function hook(source: string, name: string): string {
  const start = source.search(new RegExp(`^__device__ __forceinline__ \\w+ ${name}\\(`, 'm'));
  if (start < 0) throw new Error(`no hook ${name} in the rendered source`);
  const signature = source.slice(start, source.indexOf('\n', start));
  return signature.endsWith('{}') ? signature : source.slice(start, source.indexOf('\n}', start) + 2);
}

/** A struct of the rendered source, from `head` to its closing `};`. */
function section(source: string, head: string): string {
  const start = source.indexOf(head);
  if (start < 0) throw new Error(`no ${head} in the rendered source`);
  return source.slice(start, source.indexOf('\n};', start) + 3);
}

describe('CUDA renderer', () => {
  it('identity score mod and no mask: constant hooks, flags set', () => {
    const r = renderMods(undefined, undefined);
    expect(r.identityScore).toBe(true);
    expect(r.trueMask).toBe(true);
    expect(r.source).toMatchInlineSnapshot(`
      "struct FlexScoreParams {  // 8 bytes
        int unused;                 // offset 0
        int pad;                    // offset 4
      };
      struct FlexMaskParams {  // 8 bytes
        int unused;                 // offset 0
        int pad;                    // offset 4
      };
      __device__ __forceinline__ float flex_score_mod(float score, int b, int h, int q, int kv, const FlexScoreParams& p) {
        return score;
      }
      __device__ __forceinline__ float flex_score_mod_grad(float score, int b, int h, int q, int kv, const FlexScoreParams& p) {
        return 1.0f;
      }
      __device__ __forceinline__ void flex_score_mod_capture_grads(float dpost, float score, int b, int h, int q, int kv, const FlexScoreParams& p) {}
      __device__ __forceinline__ bool flex_mask_mod(int b, int h, int q, int kv, const FlexMaskParams& p) {
        return true;
      }
      #define FLEX_HAS_ROW_COL 1
      struct FlexRowVals {
      };
      __device__ __forceinline__ FlexRowVals flex_row_vals(int b, int h, int q, const FlexScoreParams& sp, const FlexMaskParams& mp) {
        return FlexRowVals{};
      }
      struct FlexColVals {
      };
      __device__ __forceinline__ FlexColVals flex_col_vals(int b, int h, int kv, const FlexScoreParams& sp, const FlexMaskParams& mp) {
        return FlexColVals{};
      }
      __device__ __forceinline__ float flex_score_mod_rc(float score, int b, int h, int q, int kv, const FlexRowVals& rv, const FlexColVals& cv, const FlexScoreParams& p) {
        return score;
      }
      __device__ __forceinline__ float flex_score_mod_grad_rc(float score, int b, int h, int q, int kv, const FlexRowVals& rv, const FlexColVals& cv, const FlexScoreParams& p) {
        return 1.0f;
      }
      __device__ __forceinline__ bool flex_mask_mod_rc(int b, int h, int q, int kv, const FlexRowVals& rv, const FlexColVals& cv, const FlexMaskParams& p) {
        return true;
      }"
    `);
  });

  // The full source of the catalogue's mods (causal, sliding window, softcap, learnable alibi,
  // document…) is in src/__snapshots__/hooks (hooks-snapshot.test.ts); the tests here pin the one
  // property each names, in the hook that shows it.
  it('causal mask: an i32 scalar offset becomes a FlexMaskParams field, read per row', () => {
    const src = renderMods(undefined, mask(causal())).source;
    expect(section(src, 'struct FlexMaskParams')).toContain('int s0;                     // offset 0');
    expect(hook(src, 'flex_mask_mod')).toContain('const int v0 = (q + p.s0);');
    expect(hook(src, 'flex_row_vals')).toContain('const int mr0 = (q + mp.s0);');
    expect(hook(src, 'flex_mask_mod_rc')).toContain('const bool v0 = (kv <= rv.m0);');
  });

  it('sliding window: both bounds from FlexMaskParams scalars, the mask ANDs them', () => {
    const src = renderMods(undefined, mask(slidingWindow(1024))).source;
    expect(section(src, 'struct FlexMaskParams')).toMatch(/int s0;[^]*int s1;[^]*int s2;/);
    expect(hook(src, 'flex_mask_mod')).toMatch(/\(kv >= v1\)[^]*\(kv <= v3\)[^]*\(v2 && v4\)/);
  });

  it('softcap exact and approx (tanh.approx.f32), with the derivative', () => {
    const src = renderMods(score(softcap(20)), undefined).source;
    // score / cap is score · (1/cap): one reciprocal, no division per score (ir reciprocal.ts)
    expect(hook(src, 'flex_score_mod')).toMatch(/v0 = \(1\.0f \/ p\.s0\);\s+const float v1 = \(score \* v0\);\s+const float v2 = tanhf\(v1\)/);
    // d/ds cap·tanh(s/cap) = (1 − tanh²)·(1/cap)·cap; the row/column forms take 1/cap per row
    expect(hook(src, 'flex_score_mod_grad')).toMatch(/\(1\.0f \/ p\.s0\)[^]*tanhf[^]*\(1\.0f - /);
    expect(hook(src, 'flex_row_vals')).toContain('const float sr0 = (1.0f / sp.s0);');
    expect(hook(src, 'flex_score_mod_rc')).not.toMatch(/\/ sp?\.s0|\/ p\.s0/);
    expect(hook(src, 'flex_score_mod_grad_rc')).not.toContain('/');
    const approx = renderMods(score(softcap(20, { approx: true })), undefined).source;
    expect(approx).toContain('flex_tanh_approx(');
    expect(approx).not.toContain('tanhf(');
  });

  it('learnable alibi: captured tensor, gradient buffer and scatter-add', () => {
    const r = renderMods(score(alibi(8, { learnable: true })), undefined);
    expect(r.hasCaptureGrads).toBe(true);
    expect(section(r.source, 'struct FlexScoreParams')).toMatch(/const float\* t0;[^]*float\* g0;[^]*int t0_d0;/);
    expect(hook(r.source, 'flex_score_mod')).toContain('p.t0[flex_clampi(h, p.t0_d0)]');
    expect(hook(r.source, 'flex_score_mod_capture_grads')).toContain('atomicAdd(&p.g0[flex_clampi(h, p.t0_d0)], dpost * v1);');
  });

  it('document mask over a captured int tensor (indices clamped)', () => {
    const src = renderMods(undefined, mask(documentMask({ lengths: [3, 5, 8] }))).source;
    expect(section(src, 'struct FlexMaskParams')).toMatch(/const int\* t0;[^]*int t0_d0;/);
    expect(hook(src, 'flex_mask_mod')).toMatch(/p\.t0\[flex_clampi\(q, p\.t0_d0\)\][^]*p\.t0\[flex_clampi\(kv, p\.t0_d0\)\]/);
  });

  it('literals: infinities, negatives, ints, where', () => {
    const s = scalar(0.5, { name: 'temp' });
    const mod = score((x, _b, h, q, kv) => where(q.sub(kv).abs().gt(3), -Infinity, x.mul(s).sub(h.toFloat().mul(-1.5))));
    const src = renderMods(mod, undefined).source;
    expect([hook(src, 'flex_score_mod'), hook(src, 'flex_score_mod_grad')].join('\n')).toMatchInlineSnapshot(`
      "__device__ __forceinline__ float flex_score_mod(float score, int b, int h, int q, int kv, const FlexScoreParams& p) {
        const int v0 = (q - kv);
        const int v1 = abs(v0);
        const bool v2 = (v1 > 3);
        const float v3 = (score * p.s0);
        const float v4 = ((float)h);
        const float v5 = (v4 * (-1.5f));
        const float v6 = (v3 - v5);
        const float v7 = (v2 ? __int_as_float(0xff800000) : v6);
        return v7;
      }
      __device__ __forceinline__ float flex_score_mod_grad(float score, int b, int h, int q, int kv, const FlexScoreParams& p) {
        const int v0 = (q - kv);
        const int v1 = abs(v0);
        const bool v2 = (v1 > 3);
        const float v3 = (v2 ? 0.0f : p.s0);
        return v3;
      }"
    `);
  });

  it('params layout: pointers first, 4-byte fields paired, size a multiple of 8', () => {
    const t = capture(new Float32Array(6), [2, 3], { name: 'tbl', requiresGrad: true });
    const s = scalar(2, { name: 'k', dtype: 'i32' });
    const mod = score((x, b, h) => x.add(t.at(b, h)).mul(s));
    const layout = renderMods(mod, undefined).scoreLayout;
    expect(layout.fields.map((f) => [f.name, f.role, f.bytes, f.offset])).toEqual([
      ['t0', 'tensor', 8, 0],
      ['g0', 'grad', 8, 8],
      ['t0_d0', 'dim', 4, 16],
      ['t0_d1', 'dim', 4, 20],
      ['s1', 'scalar', 4, 24],
      ['pad', 'pad', 4, 28],
    ]);
    expect(layout.size).toBe(32);
  });

  it('prelude header: dtype, head dims, flags and tile macros', () => {
    const p = renderPrelude({ dtype: 'bf16', E: 64, Ev: 32, maskMod: mask(causal()), defines: { FLEX_FWD_BM: 128 } }).prelude;
    expect(p.split('\n').slice(2, 12).join('\n')).toMatchInlineSnapshot(`
      "#define FLEX_DTYPE_BF16 1
      #define FLEX_HEAD_DIM 64
      #define FLEX_HEAD_DIM_V 32
      #define FLEX_SCORE_MOD_IS_IDENTITY 1
      #define FLEX_MASK_MOD_IS_TRUE 0
      #define FLEX_HAS_CAPTURE_GRADS 0
      #define FLEX_SCORE_MOD_GRAD_IS_ONE 0
      #define FLEX_FWD_BM 128
      #include <cuda_bf16.h>
      #include <cuda_fp16.h>"
    `);
  });
});

describe('CUDA renderer: the derivative flag', () => {
  it('marks score mods whose derivative is the constant 1 (score + f(b, h, q, kv)), not others', () => {
    // d/dscore of score + slope·(kv − q) and score + (q − kv) is 1; of softcap and temperature it is not
    expect(renderMods(score(alibi(8)), undefined).gradIsOne).toBe(true);
    expect(renderMods(score(relativePosition()), undefined).gradIsOne).toBe(true);
    expect(renderMods(score(softcap(20)), undefined).gradIsOne).toBe(false);
    expect(renderMods(score(temperature(0.7)), undefined).gradIsOne).toBe(false);
    expect(renderMods(score((s, _b, h) => s.mul(h.toFloat().add(1))), undefined).gradIsOne).toBe(false);
    // the identity takes the identity path (no derivative rendered at all)
    expect(renderMods(undefined, undefined).gradIsOne).toBe(false);
  });

  it('marks score + bias with a bias that reads no score as additive (FLEX_SCORE_MOD_ADDITIVE), not others', () => {
    const additive = (m: Parameters<typeof renderMods>[0]) => renderMods(m, undefined).additiveScore;
    expect(additive(score(alibi(8)))).toBe(true);
    expect(additive(score(relativePosition()))).toBe(true);
    expect(additive(score((s, _b, h, q) => h.toFloat().mul(q.toFloat()).add(s)))).toBe(true);  // bias + score
    expect(additive(undefined)).toBe(false);
    expect(additive(score(softcap(20)))).toBe(false);
    expect(additive(score((s) => s.mul(2).add(1)))).toBe(false);  // not score itself on either side
    // derivative 1, but the second term reads the score: -0 + bias would not be the bias
    expect(additive(score((s) => s.add(s.floor().mul(0))))).toBe(false);
    expect(additive(score((s, _b, _h, q) => s.add(where(s.gt(0), q.toFloat(), 1))))).toBe(false);
    expect(renderPrelude({ dtype: 'bf16', E: 64, Ev: 64, scoreMod: score(alibi(8)) }).prelude).toContain('#define FLEX_SCORE_MOD_ADDITIVE 1');
    expect(renderPrelude({ dtype: 'bf16', E: 64, Ev: 64, scoreMod: score(softcap(20)) }).prelude).not.toContain('FLEX_SCORE_MOD_ADDITIVE');
  });

  it('marks an additive bias affine in kv (FLEX_BIAS_KV_AFFINE, flex_bias_kv_slope) under the index bound, not others', () => {
    const bound = { indexLimit: 2 ** 22 };
    const affine = (m: Parameters<typeof renderMods>[0], o: Parameters<typeof renderMods>[2] = bound) => renderMods(m, undefined, o).biasKvAffine;
    expect(affine(score(alibi(8)))).toBe(true);
    expect(affine(score(relativePosition()))).toBe(true);
    // without the bound the int→float cast of kv − q is not proven exact: the per-element mod stays
    expect(affine(score(alibi(8)), {})).toBe(false);
    expect(affine(undefined)).toBe(false);
    expect(affine(score(softcap(20)))).toBe(false);
    expect(affine(score(relativePosition({ table: new Float32Array(9), maxDistance: 4 })))).toBe(false);  // clamp, table
    expect(affine(score((s, _b, _h, q, kv) => s.add(q.sub(kv).abs().toFloat())))).toBe(false);
    const prelude = (m: Parameters<typeof renderMods>[0]) => renderPrelude({ dtype: 'bf16', E: 64, Ev: 64, scoreMod: m, ...bound }).prelude;
    const p = prelude(score(alibi(8)));
    expect(p).toContain('#define FLEX_BIAS_KV_AFFINE 1');
    expect(p).toMatch(/__device__ __forceinline__ float flex_bias_kv_slope\(float score, int b, int h, int q, int kv, const FlexScoreParams& p\) \{\n {2}const float v0 = p\.t0\[flex_clampi\(h, p\.t0_d0\)\];\n {2}return v0;\n\}/);
    // every other mod's prelude is as it was (compile-cache keys): no macro, no hook
    for (const m of [score(softcap(20)), undefined, score(relativePosition({ table: new Float32Array(9), maxDistance: 4 }))]) {
      expect(prelude(m)).not.toMatch(/FLEX_BIAS_KV_AFFINE|flex_bias_kv_slope/);
    }
  });
});

describe('CUDA renderer: row/column split for the forward kernel', () => {
  it('hoists a document mask to one load per row and per column, and ALiBi slope[h] per row', () => {
    const docs = capture(Int32Array.from([0, 0, 1, 1, 2]), [5]);
    const r = renderMods(score(alibi(8, { learnable: true })), mask((_b, _h, q, kv) => docs.at(q).eq(docs.at(kv))), { indexLimit: 2 ** 22 });
    const split = r.source.slice(r.source.indexOf('#define FLEX_HAS_ROW_COL'));
    expect(split).toMatchInlineSnapshot(`
      "#define FLEX_HAS_ROW_COL 1
      struct FlexRowVals {
        float s0;
        int m0;
      };
      __device__ __forceinline__ FlexRowVals flex_row_vals(int b, int h, int q, const FlexScoreParams& sp, const FlexMaskParams& mp) {
        const float sr0 = sp.t0[flex_clampi(h, sp.t0_d0)];
        const int mr0 = mp.t0[flex_clampi(q, mp.t0_d0)];
        return FlexRowVals{sr0, mr0};
      }
      struct FlexColVals {
        int m0;
      };
      __device__ __forceinline__ FlexColVals flex_col_vals(int b, int h, int kv, const FlexScoreParams& sp, const FlexMaskParams& mp) {
        const int mc0 = mp.t0[flex_clampi(kv, mp.t0_d0)];
        return FlexColVals{mc0};
      }
      __device__ __forceinline__ float flex_score_mod_rc(float score, int b, int h, int q, int kv, const FlexRowVals& rv, const FlexColVals& cv, const FlexScoreParams& p) {
        const int v0 = (kv - q);
        const float v1 = flex_i2f_small(v0);
        const float v2 = (rv.s0 * v1);
        const float v3 = (score + v2);
        return v3;
      }
      __device__ __forceinline__ float flex_score_mod_grad_rc(float score, int b, int h, int q, int kv, const FlexRowVals& rv, const FlexColVals& cv, const FlexScoreParams& p) {
        return 1.0f;
      }
      __device__ __forceinline__ bool flex_mask_mod_rc(int b, int h, int q, int kv, const FlexRowVals& rv, const FlexColVals& cv, const FlexMaskParams& p) {
        const bool v0 = (rv.m0 == cv.m0);
        return v0;
      }
      __device__ __forceinline__ float flex_bias_kv_slope(float score, int b, int h, int q, int kv, const FlexScoreParams& p) {
        const float v0 = p.t0[flex_clampi(h, p.t0_d0)];
        return v0;
      }"
    `);
  });

  it('uses the exact fast int→float cast only when the index bound proves it fits', () => {
    const rel = score((s, _b, _h, q, kv) => s.add(kv.sub(q).toFloat()));
    expect(renderMods(rel, undefined, { indexLimit: 2 ** 22 }).source).toContain('const float v1 = flex_i2f_small(v0);');
    expect(renderMods(rel, undefined).source).not.toContain('flex_i2f_small');
    // kv * 4096 may reach 2^34: no proof, plain cast
    const big = score((s, _b, _h, _q, kv) => s.add(kv.mul(4096).toFloat()));
    expect(renderMods(big, undefined, { indexLimit: 2 ** 22 }).source).not.toContain('flex_i2f_small');
  });
});
