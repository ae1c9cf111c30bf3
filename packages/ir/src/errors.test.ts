import { describe, expect, it } from 'vitest';
import { TableBlockMask } from './block-mask';
import { OptionError, ShapeError, TraceError, UnsupportedError } from './errors';
import type { Expr } from './expr';
import { where, tanh } from './expr';
import { resolveAttention } from './kernel';
import { capture, scalar } from './params';
import { createReferenceBackend } from './reference/backend';
import { fromFloats, type Tensor } from './tensor';
import { gradScore } from './derive';
import { traceMaskMod, traceScoreMod } from './trace';

/** Runs fn and returns what it threw (failing the test when it does not throw). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error, none was thrown');
}
const expectError = (fn: () => unknown, cls: new (...a: never[]) => Error, ...messages: (string | RegExp)[]) => {
  const e = thrown(fn);
  expect(e).toBeInstanceOf(cls);
  for (const m of messages) expect(e.message).toMatch(m);
};

describe('tracing errors name the fix', () => {
  it('JS operators on Exprs: q >= kv, score + 1, q - kv (and if (score > 0), which now means what it says)', () => {
    // The casts make TypeScript accept the operators, as plain-JS users would write them.
    expectError(() => traceMaskMod((_b, _h, q, kv) => (q as unknown as number) >= (kv as unknown as number)), TraceError, 'q.ge(kv)', /instead of q >= kv/);
    expectError(() => traceScoreMod((s) => (s as unknown as number) + 1), TraceError, 'score.add(x)');
    // `if` on a traced value: read from the source and traced through the parser (js/guard.ts), so it
    // means what it says instead of throwing at the comparison
    const ifMod = traceScoreMod((s) => {
      if ((s as unknown as number) > 0) return s;
      return s.neg();
    });
    expect(ifMod.hash).toBe(traceScoreMod((s) => where(s.gt(0), s, s.neg())).hash);
    expectError(() => traceMaskMod((_b, _h, q, kv) => (q as unknown as number) - (kv as unknown as number) > 0), TraceError, 'q.sub(kv)');
    expectError(() => traceScoreMod(((s: Expr) => `${s as unknown as string}`) as never), TraceError, /plain JS value/);
    const sc = scalar(2, { name: 'gain' });
    expectError(() => traceScoreMod((s) => s.mul((sc as unknown as number) * 2)), TraceError, 'score.mul(s)', /s\.value/);
  });

  it('errors raised while tracing name the mod', () => {
    expectError(() => traceScoreMod(function softcapBad(s) { return s.gt(0).tanh(); }), TraceError, /tracing score mod "softcapBad"/);
  });

  it('dtype rules: tanh of a bool, and/or of numbers, where with a numeric condition, mixed where branches', () => {
    expectError(() => traceScoreMod((s) => s.gt(0).tanh()), TraceError, /tanh needs a number but got a boolean/, /\.toFloat\(\)/);
    expectError(() => traceScoreMod((s) => tanh(s.gt(0))), TraceError, /tanh needs a number/);
    expectError(() => traceMaskMod((_b, _h, q, kv) => q.and(kv)), TraceError, /and needs booleans/, /q\.ge\(kv\)/);
    expectError(() => traceMaskMod((_b, _h, q, kv) => q.ge(kv).or(1)), TraceError, /or needs booleans/);
    expectError(() => traceMaskMod((_b, _h, q) => q.not()), TraceError, /not needs booleans/);
    expectError(() => traceScoreMod((s, _b, _h, q) => where(q, s, 0)), TraceError, /needs a boolean condition/, /x\.ne\(0\)/);
    expectError(() => traceScoreMod((s, _b, _h, q, kv) => where(q.ge(kv), s, q.ge(0))), TraceError, /both be booleans or both numbers/);
    expectError(() => traceMaskMod((_b, _h, q, kv) => q.ge(kv).lt(1)), TraceError, /compares numbers/);
    expectError(() => traceScoreMod((s, _b, _h, q) => s.add(q.ge(0))), TraceError, /add needs a number/);
  });

  it('a score mod returning a boolean, a mask mod returning a number', () => {
    expectError(() => traceScoreMod((s) => s.gt(0)), TraceError, /returned a boolean/, /mask mod/, /where\(cond, score, -Infinity\)/);
    expectError(() => traceScoreMod((() => true) as never), TraceError, /must return the new score/);
    expectError(() => traceMaskMod((_b, _h, q) => q.add(1)), TraceError, /returns a boolean/, /q\.ge\(kv\)/);
    expectError(() => traceMaskMod((() => 1) as never), TraceError, /must return a boolean Expr/);
  });

  it('too many parameters, and the wrong kind of traced mod', () => {
    expectError(() => traceScoreMod(((s: Expr, _b: Expr, _h: Expr, _q: Expr, _kv: Expr, _x: Expr) => s) as never), TraceError, /declares 6 parameters/, /\(score, b, h, qIdx, kvIdx\)/);
    expectError(() => traceMaskMod(((_s: Expr, _b: Expr, _h: Expr, q: Expr, kv: Expr) => q.ge(kv)) as never), TraceError, /declares 5 parameters/, /is it a score mod\?/);
    const mask = traceMaskMod((_b, _h, q, kv) => q.ge(kv));
    expectError(() => traceScoreMod(mask), TraceError, /expected a score mod/);
    expectError(() => traceMaskMod(traceScoreMod((s) => s)), TraceError, /expected a mask mod/);
    expectError(() => gradScore(mask), UnsupportedError, /needs a score mod/);
  });

  it('.at(): wrong arity, float index, float-valued index, outside a trace', () => {
    const t = capture(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3], { name: 'table' });
    expectError(() => traceScoreMod((s, _b, h) => s.add(t.at(h))), TraceError, /table\.at\(\) got 1 indices but the tensor has rank 2/);
    expectError(() => traceScoreMod((s, _b, h) => s.add(t.at(h, 1.5))), TraceError, /index 1 is 1\.5; indices must be integers/);
    expectError(() => traceScoreMod((s, _b, h) => s.add(t.at(h, s))), TraceError, /index 1 has dtype f32/, /\.toInt\(\)/);
    expectError(() => t.at(0, 0), TraceError, /table\.at\(\) can only be used inside a mod while it is traced/);
    expectError(() => scalar(1, { name: 'k' }).expr(), TraceError, /scalar k can only be used inside a mod/);
  });

  it('capture: mismatched shape, rank 5, requiresGrad on integers, bad data', () => {
    expectError(() => capture(new Float32Array(6), [4, 2]), ShapeError, /holds 8 elements but the data has 6/);
    expectError(() => capture(new Float32Array(32), [2, 2, 2, 2, 2]), ShapeError, /rank 5 is not supported; use 1 to 4/);
    expectError(() => capture(new Float32Array(4), [0, 4]), ShapeError, /positive integers/);
    expectError(() => capture(new Int32Array(4), [4], { requiresGrad: true, name: 'ids' }), OptionError, /capture\(ids\): requiresGrad needs float data/);
    expectError(() => capture(new Float64Array(4) as never), OptionError, /Float32Array or an Int32Array/);
  });

  it('scalars: i32 with a non-integer value, NaN', () => {
    expectError(() => scalar(1.5, { dtype: 'i32', name: 'w' }), OptionError, /scalar w: an i32 scalar needs an integer/, /got 1\.5/);
    const s = scalar(3, { dtype: 'i32', name: 'w' });
    expectError(() => (s.value = 2.5), OptionError, /needs an integer/);
    expect(s.value).toBe(3);
    expectError(() => scalar(NaN), OptionError, /must be a number/);
  });
});

describe('resolveAttention and the backends reject bad calls with typed errors', () => {
  const t = (shape: number[], dtype: Tensor['dtype'] = 'f32'): Tensor => fromFloats(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, dtype);
  const q = t([1, 4, 8, 16]);
  const k = t([1, 4, 8, 16]);
  const v = t([1, 4, 8, 16]);

  it('shapes', () => {
    expectError(() => resolveAttention(t([4, 8, 16]), k, v), ShapeError, /q must have 4 dimensions \[B, Hq, Lq, E\]/);
    expectError(() => resolveAttention(q, t([1, 4, 8, 8]), v), ShapeError, /q has E=16 but k has 8/);
    expectError(() => resolveAttention(q, t([1, 2, 8, 16]), t([1, 2, 8, 16])), ShapeError, /enableGqa: true/);
    expectError(() => resolveAttention(t([1, 3, 8, 16]), t([1, 2, 8, 16]), t([1, 2, 8, 16]), { enableGqa: true }), ShapeError, /Hq divisible by Hkv; got Hq=3, Hkv=2/);
    expectError(() => resolveAttention(q, k, t([1, 4, 7, 16])), ShapeError, /must agree on heads and length/);
    expectError(() => resolveAttention(q, t([2, 4, 8, 16]), t([2, 4, 8, 16])), ShapeError, /batch sizes differ/);
    expectError(() => resolveAttention({ ...q, data: new Float32Array(5) } as Tensor, k, v), ShapeError, /has 5 elements/);
    // Allowed: Ev ≠ E, GQA with divisible heads.
    expect(resolveAttention(q, k, t([1, 4, 8, 5])).Ev).toBe(5);
    expect(resolveAttention(q, t([1, 2, 8, 16]), t([1, 2, 8, 16]), { enableGqa: true }).groupSize).toBe(2);
  });

  it('dtypes', () => {
    expectError(() => resolveAttention(q, t([1, 4, 8, 16], 'f16'), v), OptionError, /must share a dtype; got f32, f16, f32/);
    expectError(() => resolveAttention({ data: new Float32Array(512), shape: [1, 4, 8, 16], dtype: 'bf16' } as Tensor, k, v), OptionError, /'bf16' needs a Uint16Array of bit patterns/);
    expectError(() => resolveAttention({ data: new Uint16Array(512), shape: [1, 4, 8, 16], dtype: 'f32' } as Tensor, k, v), OptionError, /'f32' needs a Float32Array/);
    expectError(() => resolveAttention({ ...q, dtype: 'f64' as never }, k, v), OptionError, /use 'f32', 'f16' or 'bf16'/);
  });

  it('scale may be any finite number (as in PyTorch), never NaN, ±Infinity or a non-number', () => {
    for (const scale of [NaN, Infinity, -Infinity, '0.5' as never, null as never]) {
      expectError(() => resolveAttention(q, k, v, { scale }), OptionError, /option 'scale' must be a finite number/);
    }
    for (const scale of [0, -1, -0.125, 3]) expect(resolveAttention(q, k, v, { scale }).scale).toBe(scale);
    expect(resolveAttention(q, k, v).scale).toBe(0.25);
  });

  it('block masks built for other lengths or with the wrong B/H', () => {
    const mod = traceMaskMod((_b, _h, qi, kvi) => qi.ge(kvi));
    const mask = (qLen: number, kvLen: number, B = 1, H = 1) =>
      TableBlockMask.fromDense(new Uint8Array(B * H * Math.ceil(qLen / 4) * Math.ceil(kvLen / 4)).fill(1), { B, H, qLen, kvLen, blockSize: [4, 4] }, mod);
    expectError(() => resolveAttention(q, k, v, { blockMask: mask(16, 8) }), ShapeError, /built for qLen=16, kvLen=8 but q\/k have Lq=8, Lkv=8/, /createBlockMask/);
    expectError(() => resolveAttention(q, k, v, { blockMask: mask(8, 8, 2) }), ShapeError, /B=2; it must be 1 \(broadcast\) or the batch size 1/);
    expectError(() => resolveAttention(q, k, v, { blockMask: mask(8, 8, 1, 3) }), ShapeError, /H=3; it must be 1 \(broadcast\) or the number of query heads 4/);
    expect(resolveAttention(q, k, v, { blockMask: mask(8, 8, 1, 4) }).blockMask).toBeDefined();
  });

  it('the reference rejects the same calls, and a wrong lse shape in backward', async () => {
    const ref = createReferenceBackend();
    await expect(ref.flexAttention(q, t([1, 4, 8, 8]), v)).rejects.toBeInstanceOf(ShapeError);
    const { out, lse } = await ref.flexAttention(q, k, v, { returnLse: true });
    await expect(ref.flexAttentionBackward(q, k, v, out, t([1, 4, 7]), out)).rejects.toThrow(/lse must be \[1, 4, 8\] \(run the forward with returnLse: true\), got \[1, 4, 7\]/);
    await expect(ref.flexAttentionBackward(q, k, v, out, lse!, t([1, 4, 8, 8]))).rejects.toThrow(ShapeError);
    await expect(ref.flexAttentionBackward(q, k, v, out, t([1, 4, 8], 'f16'), out)).rejects.toThrow(/lse must be f32/);
  });
});

describe('error names', () => {
  it('every error class states its own name, so a minified bundle still prints "TraceError: …"', async () => {
    const ir = await import('./index');
    const classes = Object.entries(ir).filter(([, v]) => v === ir.FlexAttnError || (typeof v === 'function' && v.prototype instanceof ir.FlexAttnError));
    expect(classes.length).toBeGreaterThanOrEqual(7);
    for (const [name, cls] of classes) {
      // a minifier renames the class, not this stated name
      expect(Object.hasOwn((cls as typeof Error).prototype, 'name'), name).toBe(true);
      expect((cls as typeof Error).prototype.name).toBe(name);
    }
    expect(new ir.TraceError('x').name).toBe('TraceError');
    expect(String(new ir.BackendUnavailableError('no GPU', ['a']))).toBe('BackendUnavailableError: no GPU\ntried:\n  - a');
    class MyError extends ir.OptionError {}
    expect(new MyError('x').name).toBe('MyError');
  });
});
