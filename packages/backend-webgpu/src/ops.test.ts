// The IR ops whose WGSL spelling is not a plain builtin — sign (±0/NaN pass through), round (ties to
// even), erf (flex_erf, WGSL has none) — and sin/cos, run on the device (lavapipe in CI) through
// the renderer's own output and compared with the ir's float64 meaning (compileToJs). Then every
// float op on NaN, ±∞, ±0 and ordinary values (docs/architecture.md §4): NaN propagates, min/max
// order ±0, comparisons with NaN are false but ≠, pow is C's powf, toInt(NaN) is 0, and NaN/±∞
// constants are spelled exactly (issue 19: NaN rendered as 0.0, ∞ as 3e38, pow(−x, 0.5) finite).
import { capture, compileToJs, type Expr, traceScoreMod, type ScoreMod, where } from '@flexattn/ir';
import { describe, expect, it } from 'vitest';
import { testDevice } from './gpu.test-helpers.js';
import { captureDecls } from './programs/hooks.js';
import { renderMods, WGSL_ERF_MAX_ERROR } from './renderer.js';

const ctx = await testDevice();

/** score_mod over (x[i], q[i]) on the GPU, through renderMods' hook and prelude (and its captured tensor, if any). */
async function runOnGpu(device: GPUDevice, mod: ScoreMod, xs: Float32Array, qs: Int32Array): Promise<Float32Array> {
  const r = renderMods(traceScoreMod(mod), undefined);
  const hooks = r.hooks;
  const code = `${hooks.prelude}
${captureDecls(hooks)}
${hooks.scoreMod}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> Q: array<i32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x < arrayLength(&Y)) { Y[id.x] = score_mod(X[id.x], 0i, 0i, Q[id.x], 0i); }
}`;
  const buffer = (data: ArrayBufferView, usage: number) => {
    const b = device.createBuffer({ size: Math.max(16, data.byteLength), usage: usage | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
    return b;
  };
  const x = buffer(xs, GPUBufferUsage.STORAGE);
  const q = buffer(qs, GPUBufferUsage.STORAGE);
  const caps = r.tensors.map((t) => buffer(t.data, GPUBufferUsage.STORAGE));
  const y = device.createBuffer({ size: xs.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: xs.byteLength, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
  const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [x, q, y].map((b, binding) => ({ binding, resource: { buffer: b } })) });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  if (caps.length) {
    pass.setBindGroup(1, device.createBindGroup({ layout: pipeline.getBindGroupLayout(1), entries: caps.map((b, i) => ({ binding: i + 1, resource: { buffer: b } })) }));
  }
  pass.dispatchWorkgroups(Math.ceil(xs.length / 64));
  pass.end();
  enc.copyBufferToBuffer(y, 0, read, 0, xs.byteLength);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(read.getMappedRange().slice(0));
  read.unmap();
  [x, q, y, read, ...caps].forEach((b) => b.destroy());
  return out;
}

const grid = (lo: number, hi: number, n: number, extra: number[] = []) =>
  Float32Array.from([...Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1)), ...extra]);

if (typeof ctx === 'string') {
  describe('WGSL op spellings on the device', () => it.skip(ctx, () => {}));
} else {
  describe(`WGSL op spellings on the device (${ctx.adapterName})`, () => {
    const check = async (name: string, mod: ScoreMod, xs: Float32Array, tol: (want: number) => number, qs = new Int32Array(xs.length)) => {
      const got = await runOnGpu(ctx.device, mod, xs, qs);
      const f = compileToJs(traceScoreMod(mod));
      let worst = 0;
      xs.forEach((x, i) => {
        const want = f(x, 0, 0, qs[i]!, 0) as number;
        const err = Math.abs(got[i]! - want);
        worst = Math.max(worst, err);
        if (!(err <= tol(want)) && !Object.is(got[i], want)) expect.fail(`${name}(${x}, q=${qs[i]}): GPU ${got[i]}, ir ${want}`);
      });
      return worst;
    };

    it('erf (flex_erf): within the documented WGSL_ERF_MAX_ERROR of the float64 erf, relative accuracy near 0', async () => {
      const xs = grid(-6, 6, 4801, [0, 1e-3, -1e-3, 0.4999, 0.5, 0.5001, 1e-20]);
      const worst = await check('erf', (s: Expr) => s.erf(), xs, (want) => Math.min(WGSL_ERF_MAX_ERROR, 1e-6 * Math.abs(want) + 1e-12) + 1e-30);
      expect(worst).toBeGreaterThan(0); // an approximation, not an exact builtin
    });

    it('round: ties to even, like the ir (JS Math.round would give 3 for 2.5)', async () => {
      const xs = Float32Array.from([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6, -2.6, 1e7 + 0.5, 3.5, -3.5, 0.49999997]);
      expect(await check('round', (s: Expr) => s.round(), xs, () => 0)).toBe(0);
    });

    it('sign: −1/0/1 for floats (±0 stay ±0) and integers', async () => {
      const xs = Float32Array.from([-3, -0, 0, 1e-30, -1e-30, 7]);
      expect(await check('sign', (s: Expr) => s.sign(), xs, () => 0)).toBe(0);
      const qs = Int32Array.from([-5, 0, 9, -2147483648, 2147483647, 1]);
      expect(await check('isign', (_s: Expr, _b: Expr, _h: Expr, q: Expr) => q.sign().toFloat(), new Float32Array(6), () => 0, qs)).toBe(0);
    });

    it('sin and cos on [−π, π]: within WGSL’s guaranteed 2^-11 (lavapipe does far better)', async () => {
      const xs = grid(-Math.PI, Math.PI, 2001);
      await check('sin', (s: Expr) => s.sin(), xs, () => 2 ** -11);
      await check('cos', (s: Expr) => s.cos(), xs, () => 2 ** -11);
    });
  });

  describe(`special values through every float op on the device (${ctx.adapterName})`, () => {
    // f32 values: NaN, ±∞, ±0, ordinary, tiny, huge (3e38 · 2 overflows), exp's edge (−88.5: a subnormal result)
    const VALUES = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, -0.5, 2, -2, 3, -3, 2.5, 1e-30, 3e38, -88.5, 100];
    const n = VALUES.length;
    /** Exact on NaN, ±∞ and the sign of zero; finite values within a relative tolerance (approximate builtins). */
    const agree = (got: number, want: number, rel: number, abs: number): boolean => {
      if (Number.isNaN(want)) return Number.isNaN(got);
      if (!Number.isFinite(want) || want === 0) return Object.is(got, want);
      return Math.abs(got - want) <= rel * Math.abs(want) + abs;
    };
    /** `abs` defaults to a flushed subnormal; tanh's builtin is only absolutely accurate (3e-8 at 1e-30 on lavapipe). */
    const sweep = async (name: string, mod: ScoreMod, xs: number[], qs: number[], skip: (i: number) => boolean = () => false, rel = 2e-4, abs = 1e-30) => {
      const got = await runOnGpu(ctx.device, mod, Float32Array.from(xs), Int32Array.from(qs));
      const f = compileToJs(traceScoreMod(mod));
      const bad: string[] = [];
      xs.forEach((x, i) => {
        if (skip(i)) return;
        const want = Math.fround(f(Math.fround(x), 0, 0, qs[i]!, 0) as number);
        if (!agree(got[i]!, want, rel, abs)) bad.push(`${name}(${Object.is(x, -0) ? '-0' : x}${qs.length ? `, ${Object.is(VALUES[qs[i]!], -0) ? '-0' : VALUES[qs[i]!]}` : ''}): GPU ${Object.is(got[i], -0) ? '-0' : got[i]}, ir ${Object.is(want, -0) ? '-0' : want}`);
      });
      expect(bad, bad.slice(0, 12).join('\n')).toEqual([]);
    };
    const unary: [string, (x: Expr) => Expr][] = [
      ['neg', (x) => x.neg()], ['abs', (x) => x.abs()], ['sign', (x) => x.sign()], ['exp', (x) => x.exp()], ['exp2', (x) => x.exp2()],
      ['log', (x) => x.log()], ['log2', (x) => x.log2()], ['tanh', (x) => x.tanh()], ['sigmoid', (x) => x.sigmoid()], ['sqrt', (x) => x.sqrt()],
      ['rsqrt', (x) => x.rsqrt()], ['floor', (x) => x.floor()], ['ceil', (x) => x.ceil()], ['round', (x) => x.round()], ['erf', (x) => x.erf()],
      ['toInt', (x) => x.toInt().toFloat()],
    ];
    it('unary ops: NaN propagates, ±∞ and ±0 as IEEE (tanh, toInt of NaN: were ±15 and −2147483520)', async () => {
      for (const [name, op] of unary) await sweep(name, (s: Expr) => op(s), VALUES, [], undefined, 2e-4, name === 'tanh' ? 1e-7 : 1e-30);
      // sin/cos of huge arguments are any value in [−1, 1] in f32; NaN and ±∞ give NaN
      for (const [name, op] of [['sin', (x: Expr) => x.sin()], ['cos', (x: Expr) => x.cos()]] as const) {
        await sweep(name, (s: Expr) => op(s), VALUES, [], (i) => Math.abs(VALUES[i]!) > 1e4 && Number.isFinite(VALUES[i]!));
      }
    });

    const binary: [string, (x: Expr, y: Expr) => Expr][] = [
      ['add', (x, y) => x.add(y)], ['sub', (x, y) => x.sub(y)], ['mul', (x, y) => x.mul(y)], ['div', (x, y) => x.div(y)],
      ['mod', (x, y) => x.mod(y)], ['floorDiv', (x, y) => x.floorDiv(y)], ['pow', (x, y) => x.pow(y)],
      ['min', (x, y) => x.min(y)], ['max', (x, y) => x.max(y)],
      ...(['lt', 'le', 'gt', 'ge', 'eq', 'ne'] as const).map((c): [string, (x: Expr, y: Expr) => Expr] => [c, (x, y) => where(x[c](y), 1, 0)]),
    ];
    it('binary ops on every pair: min/max keep NaN and order ±0, ≠ is true for NaN, pow is C\'s powf', async () => {
      const table = capture(Float32Array.from(VALUES), [n], { name: 'y' });
      const xs = VALUES.flatMap((x) => VALUES.map(() => x));
      const qs = VALUES.flatMap(() => VALUES.map((_, j) => j));
      // mod's a − b·floor(a/b) of finite operands with |a/b| ≥ 2^24 is f32 rounding (or overflow), not a special value
      const rounding = (i: number) => Math.abs(xs[i]! / VALUES[qs[i]!]!) >= 2 ** 24 && Number.isFinite(xs[i]!) && Number.isFinite(VALUES[qs[i]!]!) && VALUES[qs[i]!] !== 0;
      for (const [name, op] of binary) {
        await sweep(name, (s: Expr, _b: Expr, _h: Expr, q: Expr) => op(s, table.at(q)), xs, qs, name === 'mod' ? rounding : undefined);
      }
    });

    it('NaN, ±∞ and −0 constants are spelled exactly (were 0.0 and ±3e38)', async () => {
      const consts = [NaN, Infinity, -Infinity, -0, 3e38, -1e-45];
      const mod = (s: Expr, _b: Expr, _h: Expr, q: Expr) => consts.reduceRight<Expr>((acc, c, i) => where(q.eq(i), c, acc), s);
      await sweep('const', mod, consts.map(() => 7), consts.map((_, i) => i), undefined, 0);
    });
  });
}
