// The IR ops whose WGSL spelling is not a plain builtin — sign (±0/NaN pass through), round (ties to
// even), erf (flex_erf, WGSL has none) — and sin/cos, run on the device (lavapipe in CI) through
// the renderer's own output and compared with the ir's float64 meaning (compileToJs).
import { compileToJs, type Expr, traceScoreMod, type ScoreMod } from '@flexattn/ir';
import { describe, expect, it } from 'vitest';
import { testDevice } from './gpu.test-helpers.js';
import { renderMods, WGSL_ERF_MAX_ERROR } from './renderer.js';

const ctx = await testDevice();

/** score_mod over (x[i], q[i]) on the GPU, through renderMods' hook and prelude. */
async function runOnGpu(device: GPUDevice, mod: ScoreMod, xs: Float32Array, qs: Int32Array): Promise<Float32Array> {
  const hooks = renderMods(traceScoreMod(mod), undefined).hooks;
  const code = `${hooks.prelude}
${hooks.scoreMod}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> Q: array<i32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x < arrayLength(&Y)) { Y[id.x] = score_mod(X[id.x], 0i, 0i, Q[id.x], 0i); }
}`;
  const buffer = (data: ArrayBufferView, usage: number) => {
    const b = device.createBuffer({ size: data.byteLength, usage: usage | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
    return b;
  };
  const x = buffer(xs, GPUBufferUsage.STORAGE);
  const q = buffer(qs, GPUBufferUsage.STORAGE);
  const y = device.createBuffer({ size: xs.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: xs.byteLength, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
  const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [x, q, y].map((b, binding) => ({ binding, resource: { buffer: b } })) });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(Math.ceil(xs.length / 64));
  pass.end();
  enc.copyBufferToBuffer(y, 0, read, 0, xs.byteLength);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(read.getMappedRange().slice(0));
  read.unmap();
  [x, q, y, read].forEach((b) => b.destroy());
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
}
