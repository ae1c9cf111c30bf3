// The ORT peer on this machine's WebGPU (Mesa lavapipe in CI): onnxruntime-web's MultiHeadAttention
// checked against the float64 reference on small shapes. Skipped when there is no adapter, unless
// FLEXATTN_REQUIRE_WEBGPU=1 (then a missing adapter fails).
import { acquireDevice, type GpuContext } from '@flexattn/backend-webgpu';
import { DEFAULT_TOLERANCE } from '@flexattn/ir/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchCase, Shape } from './cases';
import { compareClose, createReferenceBackend } from './deps';
import type { PassTimer } from '@flexattn/backend-webgpu';
import { deviceForOrt, type GpuDeviceLike, OrtAttention, runOrtPeer, zeroInitLocals } from './peer-ort';
import { buildProblem } from './problem';

describe('zeroInitLocals', () => {
  it('gives function-scope vars without an initializer an explicit zero, and leaves the rest alone', () => {
    const code = [
      'var<workgroup> tile : array<vec4<f32>, 16>;',
      'var<private> o : array<vec4<f32>, 4>;',
      'fn f() {',
      '  for (var i : u32 = 0u; i < 4u; i++) {',
      '    var qk_1 : vec4<f32>;',
      '    var acc: array<f32, 4>;',
      '    var m : f32 = -1.0;',
      '    var indices: vec4<u32>;',
      '  }',
      '}',
    ].join('\n');
    const out = zeroInitLocals(code).split('\n');
    expect(out[0]).toBe('var<workgroup> tile : array<vec4<f32>, 16>;');
    expect(out[1]).toBe('var<private> o : array<vec4<f32>, 4>;');
    expect(out[3]).toBe('  for (var i : u32 = 0u; i < 4u; i++) {');
    expect(out[4]).toBe('    var qk_1 : vec4<f32> = vec4<f32>();');
    expect(out[5]).toBe('    var acc : array<f32, 4> = array<f32, 4>();');
    expect(out[6]).toBe('    var m : f32 = -1.0;');
    expect(out[7]).toBe('    var indices : vec4<u32> = vec4<u32>();');
  });
});

describe('deviceForOrt', () => {
  function fakeDevice() {
    const writes: { data: unknown; dataOffset?: number; size?: number }[] = [];
    const shaders: string[] = [];
    const passes: object[] = [];
    const device = {
      label: 'real',
      queue: {
        writeBuffer(_b: unknown, _o: number, data: unknown, dataOffset?: number, size?: number) {
          writes.push({ data, dataOffset, size });
        },
        onSubmittedWorkDone: async () => {},
        submit() {},
      },
      createBuffer: () => ({ destroy() {} }),
      createShaderModule(d: { code: string }) {
        shaders.push(d.code);
        return {};
      },
      createCommandEncoder: () => ({
        beginComputePass: (d: object = {}) => passes.push(d),
        resolveQuerySet() {},
        copyBufferToBuffer() {},
        finish: () => ({}),
      }),
    };
    return { device: device as unknown as GpuDeviceLike & typeof device, writes, shaders, passes };
  }

  it('copies views on a SharedArrayBuffer into plain bytes (offsets and sizes in bytes) and passes the rest through', () => {
    const { device, writes } = fakeDevice();
    const view = deviceForOrt(device);
    const shared = new Float32Array(new SharedArrayBuffer(64), 4, 8); // elements 1..8 of 16
    shared.set([1, 2, 3, 4, 5, 6, 7, 8]);
    view.queue.writeBuffer({ destroy() {} }, 0, shared, 2, 3);
    const w = writes[0]!;
    expect(w.data).toBeInstanceOf(Uint8Array);
    expect((w.data as Uint8Array).buffer).toBeInstanceOf(ArrayBuffer);
    expect([w.dataOffset, w.size]).toEqual([8, 12]);
    const bytes = w.data as Uint8Array;
    expect(Array.from(new Float32Array(bytes.buffer.slice(w.dataOffset!, w.dataOffset! + w.size!)))).toEqual([3, 4, 5]);
    const plain = new Float32Array([9, 9]);
    view.queue.writeBuffer({ destroy() {} }, 0, plain, 1);
    expect(writes[1]).toEqual({ data: plain, dataOffset: 1, size: undefined });
    // the device itself is untouched: our backend keeps its own queue and shader compiler
    expect(device.queue.writeBuffer).not.toBe(view.queue.writeBuffer);
    expect((view as unknown as { label: string }).label).toBe('real');
  });

  it('rewrites WGSL only through the view', () => {
    const { device, shaders } = fakeDevice();
    deviceForOrt(device).createShaderModule({ code: 'fn f() { var a : f32; }' });
    device.createShaderModule({ code: 'fn f() { var a : f32; }' });
    expect(shaders).toEqual(['fn f() { var a : f32 = f32(); }', 'fn f() { var a : f32; }']);
    deviceForOrt(device, { zeroInit: false }).createShaderModule({ code: 'fn f() { var a : f32; }' });
    expect(shaders[2]).toBe('fn f() { var a : f32; }');
  });

  it('adds timestampWrites to the compute passes ORT begins while a timer is installed, and only then', () => {
    const { device, passes } = fakeDevice();
    const hooks: { timer?: PassTimer } = {};
    const view = deviceForOrt(device, { hooks });
    view.createCommandEncoder().beginComputePass({ label: 'a' });
    let n = 0;
    hooks.timer = { writes: () => ({ querySet: 'qs', beginningOfPassWriteIndex: 2 * n, endOfPassWriteIndex: 2 * n++ + 1 }) } as unknown as PassTimer;
    const enc = view.createCommandEncoder();
    enc.beginComputePass({ label: 'b' });
    enc.beginComputePass({ label: 'c', timestampWrites: 'ORT its own' });
    enc.beginComputePass();
    expect(passes).toEqual([
      { label: 'a' },
      { label: 'b', timestampWrites: { querySet: 'qs', beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } },
      { label: 'c', timestampWrites: 'ORT its own' },
      { timestampWrites: { querySet: 'qs', beginningOfPassWriteIndex: 2, endOfPassWriteIndex: 3 } },
    ]);
  });
});

let ctx: GpuContext | string;
let ort: OrtAttention | undefined;
beforeAll(async () => {
  ctx = await acquireDevice({ powerPreference: 'low-power' }).catch((e: Error) => {
    if (process.env.FLEXATTN_REQUIRE_WEBGPU === '1') throw e;
    return `no WebGPU adapter: ${e.message.split('\n')[0]}`;
  });
  if (typeof ctx !== 'string') ort = await OrtAttention.create({ device: ctx.device as unknown as GpuDeviceLike, gpu: ctx.gpu });
});
afterAll(async () => {
  await ort?.dispose();
  if (ctx && typeof ctx !== 'string') ctx.device.destroy();
});

const reference = createReferenceBackend();
const sh = (B: number, Hq: number, Hkv: number, Lq: number, Lkv: number, D: number): Shape => ({ B, Hq, Hkv, Lq, Lkv, E: D, Ev: D });

describe('onnxruntime-web MultiHeadAttention on WebGPU', () => {
  const cases: [string, 'noop' | 'causal', Shape][] = [
    ['noop B1 H2 L64 D16', 'noop', sh(1, 2, 2, 64, 64, 16)],
    ['causal B1 H2 L67 D16', 'causal', sh(1, 2, 2, 67, 67, 16)],
    ['causal B2 H2 L64 D32', 'causal', sh(2, 2, 2, 64, 64, 32)],
    ['noop B1 H2 L67 D32', 'noop', sh(1, 2, 2, 67, 67, 32)],
    ['noop GQA B1 H4/2 L40 D16 (K/V heads repeated)', 'noop', sh(1, 4, 2, 40, 40, 16)],
    ['noop decode B1 H2 L1x67 D16', 'noop', sh(1, 2, 2, 1, 67, 16)],
  ];
  for (const [name, mod, shape] of cases) {
    it(`matches the reference: ${name}`, async (t) => {
      if (typeof ctx === 'string') return t.skip(ctx);
      const p = buildProblem({ mod, dtype: 'f32' }, shape, 11);
      const want = await reference.flexAttention(p.q, p.k, p.v, p.options);
      const got = await ort!.forward(p.q, p.k, p.v, mod === 'causal');
      const cmp = compareClose(got, want.out, DEFAULT_TOLERANCE.f32.forward);
      expect(cmp.ok, `${cmp.mismatches} off, max abs ${cmp.maxAbsError}`).toBe(true);
      expect(cmp.maxAbsError).toBeLessThan(1e-5);
    });
  }

  it('is checked for real: causal and non-causal outputs differ beyond tolerance', async (t) => {
    if (typeof ctx === 'string') return t.skip(ctx);
    const p = buildProblem({ mod: 'causal', dtype: 'f32' }, sh(1, 2, 2, 64, 64, 16), 12);
    const causalRef = await reference.flexAttention(p.q, p.k, p.v, p.options);
    const full = await ort!.forward(p.q, p.k, p.v, false);
    expect(compareClose(full, causalRef.out, DEFAULT_TOLERANCE.f32.forward).ok).toBe(false);
  });

  it('times session.run on GPU-resident tensors in batches', async (t) => {
    if (typeof ctx === 'string') return t.skip(ctx);
    const p = buildProblem({ mod: 'noop', dtype: 'f32' }, sh(1, 2, 2, 64, 64, 16), 13);
    const r = await ort!.time(p.q, p.k, p.v, false, 1, 3);
    expect(r.ms).toHaveLength(3);
    expect(['gpu-timestamps', 'wall']).toContain(r.timer);
    if ((ctx as GpuContext).device.features.has('timestamp-query')) expect(r.timer).toBe('gpu-timestamps');
    expect(r.ms.every((x) => x > 0 && Number.isFinite(x))).toBe(true);
    expect(r.batch).toBeGreaterThanOrEqual(1);
  });

  it('runs as a peer: checks, then times the cases it can express and says why not for the others', async (t) => {
    if (typeof ctx === 'string') return t.skip(ctx);
    const c = (mod: string, shape: Shape, dtype: BenchCase['dtype'] = 'f32'): BenchCase => ({ id: `${mod} ${dtype}`, mod, shape, dtype, kind: 'attention' });
    const cases = [c('noop', sh(1, 2, 2, 64, 64, 16)), c('causal', sh(1, 2, 2, 67, 67, 16), 'bf16'), c('alibi', sh(1, 2, 2, 64, 64, 16)), c('causal', sh(1, 2, 2, 32, 64, 16), 'f16')];
    const run = await runOrtPeer(cases, { device: (ctx as GpuContext).device as unknown as GpuDeviceLike, gpu: (ctx as GpuContext).gpu, description: 'test device' }, { pass: 'fwd', warmup: 1, iterations: 2 });
    expect(run.error).toBeUndefined();
    expect(run.info).toMatch(/onnxruntime-web 1\.\d+\.\d+ WebGPU EP/);
    const noop = run.byId.get('noop f32')!;
    const causal = run.byId.get('causal bf16')!;
    for (const r of [noop, causal]) {
      expect(r.error).toBeUndefined();
      expect(r.fwdMs).toBeGreaterThan(0);
      expect(r.maxAbsError).toBeLessThan(2e-4);
    }
    expect(causal.note).toContain('f32 (case bf16)');
    expect(run.byId.get('alibi f32')).toEqual({ error: 'onnxruntime-web has no equivalent of alibi' });
    expect(run.byId.get('causal f16')!.error).toMatch(/Lq ≠ Lkv/);
  });

  it('reports a backward-only run as not run', async () => {
    const run = await runOrtPeer([], async () => {
      throw new Error('not reached');
    }, { pass: 'bwd', warmup: 0, iterations: 1 });
    expect(run.error).toMatch(/no backward pass/);
  });
});
