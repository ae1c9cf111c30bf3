import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capture, scalar } from '../params';
import { traceMaskMod, traceScoreMod } from '../trace';
import { C_OP_TABLE, type CStyleDialect, f32Text, renderCStyle } from './c-style';

/** A tiny C dialect, as a backend would write one. */
const dialect: CStyleDialect = {
  ops: { ...C_OP_TABLE, tanh_approx: ([a]) => `fast_tanh(${a})` }, // a backend overrides one row
  declare: (dtype, name, expr) => `const ${dtype === 'f32' ? 'float' : dtype === 'i32' ? 'int' : 'bool'} ${name} = ${expr};`,
  literal: (v, dtype) => (dtype === 'bool' ? String(v) : dtype === 'i32' ? String(v) : `${f32Text(v as number)}f`),
  arg: (name) => (name === 'score' ? 'score' : `${name}_idx`),
  scalar: (a) => `params.s${a.slot}`,
  load: (a, idx) => `load_${a.dtype}_${a.rank}d(params.t${a.slot}, ${idx.join(', ')})`,
};

describe('renderCStyle', () => {
  it('renders a known score mod as SSA statements through the op table', () => {
    const slopes = capture(Float32Array.from([0.5, 0.25]), [2]);
    const cap = scalar(30);
    const mod = traceScoreMod((s, _b, h, q, kv) => s.add(slopes.at(h).mul(kv.sub(q))).div(cap).tanhApprox().mul(cap));
    const { lines, results } = renderCStyle([mod.root], dialect);
    expect(lines).toEqual([
      'const float v0 = load_f32_1d(params.t0, h_idx);',
      'const int v1 = (kv_idx - q_idx);',
      'const float v2 = ((float)v1);',
      'const float v3 = (v0 * v2);',
      'const float v4 = (score + v3);',
      'const float v5 = (v4 / params.s1);',
      'const float v6 = fast_tanh(v5);',
      'const float v7 = (v6 * params.s1);',
    ]);
    expect(results).toEqual(['v7']);
  });

  it('renders masks with integer helpers and shares nodes between several roots', () => {
    const m = traceMaskMod((_b, h, q, kv) => q.ge(kv).and(kv.mod(h.add(2)).ne(0)));
    const s = traceScoreMod((x, _b, _h, q, kv) => x.mul(q.ge(kv).toFloat()));
    const { lines, results } = renderCStyle([m.root, s.root], dialect, 'm');
    expect(lines).toEqual([
      'const bool m0 = (q_idx >= kv_idx);',
      'const int m1 = (h_idx + 2);',
      'const int m2 = flex_imod(kv_idx, m1);',
      'const bool m3 = (m2 != 0);',
      'const bool m4 = (m0 && m3);',
      'const float m5 = (m0 ? 1.0f : 0.0f);',
      'const float m6 = (score * m5);',
    ]);
    expect(results).toEqual(['m4', 'm6']);
  });

  it('f32Text round-trips every float through Math.fround and reads as a float literal (fast-check)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.float({ noNaN: true, noDefaultInfinity: true }), fc.double({ noNaN: true, min: -1e30, max: 1e30 })), (x) => {
        const t = f32Text(x);
        expect(Math.fround(Number(t))).toBe(Math.fround(x));
        expect(t).toMatch(/^-?(\d+\.\d*|\d(\.\d+)?e[+-]\d+)$/);
        // Shortest: one significant digit fewer no longer round-trips.
        const digits = t.replace(/e.*$/, '').replace(/[-.]/g, '').replace(/^0+/, '').replace(/0$/, '').length;
        expect(digits).toBeLessThanOrEqual(9);
        const f = Math.fround(x);
        if (digits > 1 && f !== 0) expect(Math.fround(Number(f.toPrecision(digits - 1)))).not.toBe(f);
      }),
      { numRuns: 5000, seed: 8 },
    );
    expect(f32Text(0.1)).toBe('0.1');
    expect(f32Text(2)).toBe('2.0');
    expect(Math.fround(Number(f32Text(1 / 3)))).toBe(Math.fround(1 / 3));
    expect(f32Text(-0.5)).toBe('-0.5');
    expect(f32Text(-0)).toBe('-0.0');
  });
});
