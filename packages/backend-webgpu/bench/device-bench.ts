/**
 * One-shot GPU run (the `device` machine): correctness against the float64 reference on small
 * shapes, then timings at the shapes, written as JSON to $OUT/webgpu-bench.json.
 * Bundle: esbuild bench/device-bench.ts --bundle --platform=node --format=esm --conditions=source
 * Run:    node bench.mjs   (DAWN_NODE = path of dawn.node; falls back to the `webgpu` package)
 */
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { blockMaskByEvaluation, capture, traceMaskMod, traceScoreMod, type Tensor } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { buildBlockMask, CONFORMANCE_CASES } from '../../ir/src/testing/cases.js';
import { compareClose } from '../../ir/src/testing/compare.js';
import { randomTensor } from '../../ir/src/testing/random.js';
import { createWebGPUBackend, type GpuTensor } from '../src/index.js';
import type { ForwardConfig } from '../src/programs/forward.js';

const out: Record<string, unknown> = { date: new Date().toISOString() };
const outDir = process.env.OUT ?? '.';
const save = () => writeFileSync(`${outDir}/webgpu-bench.json`, JSON.stringify(out, null, 1));
const log = (...a: unknown[]) => console.log(...a);

async function main() {
  let gpu: GPU;
  if (process.env.DAWN_NODE) {
    const dawn = createRequire(import.meta.url)(process.env.DAWN_NODE) as { create(o: string[]): GPU; globals: object };
    Object.assign(globalThis, dawn.globals);
    gpu = dawn.create([]);
  } else {
    const name = 'webgpu';
    const dawn = (await import(name)) as { create(o: string[]): GPU; globals: object };
    Object.assign(globalThis, dawn.globals);
    gpu = dawn.create([]);
  }
  const be = await createWebGPUBackend({ gpu });
  out.device = be.deviceDescription;
  out.caps = be.ctx.caps;
  log(be.deviceDescription);
  const quick = process.argv.includes('--quick');

  // ---- correctness: the conformance cases, forward + backward, vs the float64 reference ----
  const ref = createReferenceBackend();
  const checks: Record<string, string> = {};
  for (const split of [undefined, true] as const) {
    be.engine.splitKv = split;
    for (const c of CONFORMANCE_CASES) {
      if (split && (c.Lq * (c.Hq / c.Hkv) > 16 || (c.mask && (c.mask().H ?? 1) !== 1))) continue;
      const name = `${split ? 'split ' : ''}${c.name}`;
      try {
        const q = randomTensor([c.B, c.Hq, c.Lq, c.E], 'f32', 5);
        const k = randomTensor([c.B, c.Hkv, c.Lkv, c.E], 'f32', 6);
        const v = randomTensor([c.B, c.Hkv, c.Lkv, c.Ev], 'f32', 7);
        const dOut = randomTensor([c.B, c.Hq, c.Lq, c.Ev], 'f32', 8);
        const opts = { scoreMod: c.scoreMod ? traceScoreMod(c.scoreMod()) : undefined, blockMask: buildBlockMask(c), scale: c.scale, enableGqa: c.Hq !== c.Hkv, returnLse: true };
        const want = await ref.flexAttention(q, k, v, opts);
        const got = await be.flexAttention(q, k, v, opts);
        const tol = { atol: 2e-4, rtol: 2e-4 };
        const bad: string[] = [];
        if (!compareClose(got.out, want.out, tol).ok) bad.push('out');
        if (!compareClose(got.lse!, want.lse!, tol).ok) bad.push('lse');
        if (!split) {
          const gw = await ref.flexAttentionBackward(q, k, v, want.out, want.lse!, dOut, opts);
          const gg = await be.flexAttentionBackward(q, k, v, got.out, got.lse!, dOut, opts);
          const bt = { atol: 2e-3, rtol: 2e-3 };
          if (!compareClose(gg.dq, gw.dq, bt).ok) bad.push('dq');
          if (!compareClose(gg.dk, gw.dk, bt).ok) bad.push('dk');
          if (!compareClose(gg.dv, gw.dv, bt).ok) bad.push('dv');
          for (const [t, g] of gw.captureGrads) {
            const m = gg.captureGrads.get(t);
            if (!m || !compareClose(m, g, { atol: 2e-3 * Math.sqrt(c.Lq * c.Lkv), rtol: 2e-3 }).ok) bad.push(`grad(${t.name})`);
          }
        }
        checks[name] = bad.length ? `FAIL ${bad.join(',')}` : 'ok';
      } catch (e) {
        checks[name] = `ERROR ${(e as Error).message.slice(0, 300)}`;
      }
    }
  }
  be.engine.splitKv = undefined;
  out.checks = checks;
  log(checks);
  save();

  // ---- timing ----
  const dev = be.device;
  const gpuRandom = (shape: number[], seed: number): GpuTensor => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    let s = seed;
    for (let i = 0; i < n; i++) {
      s = (s * 1664525 + 1013904223) >>> 0;
      data[i] = (s / 4294967296) * 2 - 1;
    }
    return be.toGpu({ data, shape, dtype: 'f32' } as Tensor);
  };
  async function time(run: (enc: GPUCommandEncoder) => Promise<void>, iters: number): Promise<number> {
    // warm-up (pipeline build) then `iters` dispatches in one submit
    let enc = dev.createCommandEncoder();
    await run(enc);
    await be.engine.submit(enc);
    enc = dev.createCommandEncoder();
    for (let i = 0; i < iters; i++) await run(enc);
    const t0 = performance.now();
    await be.engine.submit(enc);
    return (performance.now() - t0) / iters;
  }
  const B = 4, H = 16, L = quick ? 1024 : 4096, D = 64;
  const q = gpuRandom([B, H, L, D], 1), k = gpuRandom([B, H, L, D], 2), v = gpuRandom([B, H, L, D], 3);
  const o = be.engine.createBuffer(B * H * L * D * 4), lse = be.engine.createBuffer(B * H * L * 4);
  const slopes = Float32Array.from({ length: H }, (_, h) => 2 ** (-8 * (h + 1) / H));
  const causal = blockMaskByEvaluation(traceMaskMod((_b, _h, qi, kv) => qi.ge(kv)), { qLen: L, kvLen: L, blockSize: 128 });
  const mods = {
    noop: { score: undefined, mask: undefined, density: 1 },
    causal: { score: undefined, mask: causal, density: 0.5 },
    softcap: { score: traceScoreMod((s) => s.div(20).tanh().mul(20)), mask: undefined, density: 1 },
    alibi: {
      score: (() => {
        const sl = capture(slopes, [H], { name: 'slopes' });
        return traceScoreMod((s, _b, h, qi, kv) => s.add(sl.at(h).mul(kv.sub(qi))));
      })(),
      mask: undefined,
      density: 1,
    },
  };
  const { renderMods } = await import('../src/renderer.js');
  const configs: (Omit<ForwardConfig, 'E' | 'Ev' | 'mode'> | undefined)[] = [
    undefined,
    { BR: 64, BC: 32, TX: 8, TY: 16, subgroups: false },
    { BR: 32, BC: 32, TX: 8, TY: 8, subgroups: true },
    { BR: 64, BC: 16, TX: 4, TY: 16, subgroups: true },
    { BR: 64, BC: 32, TX: 16, TY: 8, subgroups: true },
    { BR: 32, BC: 64, TX: 16, TY: 4, subgroups: true },
  ];
  const timings: Record<string, unknown>[] = [];
  out.timings = timings;
  for (const cfg of configs) {
    be.engine.forwardOverride = cfg ? () => cfg : undefined;
    const label = cfg ? `${cfg.BR}x${cfg.BC}/${cfg.TX}x${cfg.TY}${cfg.subgroups ? 's' : ''}` : 'auto';
    for (const [name, m] of Object.entries(mods)) {
      if (cfg && name !== 'noop' && name !== 'causal') continue;
      try {
        const r = renderMods(m.score, m.mask?.maskMod);
        const caps = { buffers: r.tensors.map((t) => be.engine.upload(t.data)), scalars: r.scalarValues() };
        const tiles = m.mask
          ? (tq: number, tk: number) => {
              const { reblock, denseFromTables } = require_ir;
              return { dense: denseFromTables(reblock(m.mask!, tq, tk)), mB: 1, mH: 1, tq, tk };
            }
          : undefined;
        const ms = await time(
          (enc) => be.engine.forward({ shape: { B, Hq: H, Hkv: H, Lq: L, Lkv: L, E: D, Ev: D }, scale: 0.125, q: q.buffer, k: k.buffer, v: v.buffer, out: o, lse, hooks: r.hooks, captures: caps, tiles, encoder: enc }),
          quick ? 3 : 10,
        );
        const tflops = (4 * B * H * L * L * D * m.density) / (ms * 1e-3) / 1e12;
        timings.push({ config: label, mod: name, shape: `B${B} H${H} L${L} D${D}`, ms: +ms.toFixed(3), tflops: +tflops.toFixed(2) });
        log(label, name, ms.toFixed(3), 'ms', tflops.toFixed(2), 'TFLOP/s');
      } catch (e) {
        timings.push({ config: label, mod: name, error: (e as Error).message.slice(0, 400) });
        log(label, name, 'ERROR', (e as Error).message.slice(0, 400));
      }
      save();
    }
  }
  be.engine.forwardOverride = undefined;

  // ---- forward + backward, noop (the backward kernels are the simple row-per-invocation ones) ----
  try {
    const dO = gpuRandom([B, H, L, D], 9);
    const t0 = performance.now();
    const f = await be.flexAttention(q, k, v, { returnLse: true });
    const g0 = await be.flexAttentionBackward(q, k, v, f.out, f.lse!, dO, {});
    [g0.dq, g0.dk, g0.dv].forEach((t) => be.release(t));
    const warm = performance.now() - t0;
    const t1 = performance.now();
    const g = await be.flexAttentionBackward(q, k, v, f.out, f.lse!, dO, {});
    const bwd = performance.now() - t1;
    [g.dq, g.dk, g.dv].forEach((t) => be.release(t));
    timings.push({ mod: 'noop', pass: 'bwd', shape: `B${B} H${H} L${L} D${D}`, ms: +bwd.toFixed(2), warmMs: +warm.toFixed(1), tflops: +((2.5 * 4 * B * H * L * L * D) / (bwd * 1e-3) / 1e12).toFixed(2) });
    log('bwd noop', bwd.toFixed(2), 'ms');
  } catch (e) {
    timings.push({ mod: 'noop', pass: 'bwd', error: (e as Error).message.slice(0, 400) });
  }
  save();

  // ---- decoding: B8, Hq 32 over Hkv 8, Lkv 8192, D128 ----
  {
    const Bd = 8, Hq = 32, Hkv = 8, Lkv = quick ? 2048 : 8192, Dd = 128;
    const dq = gpuRandom([Bd, Hq, 1, Dd], 4), dk = gpuRandom([Bd, Hkv, Lkv, Dd], 5), dv = gpuRandom([Bd, Hkv, Lkv, Dd], 6);
    const dout = be.engine.createBuffer(Bd * Hq * Dd * 4), dlse = be.engine.createBuffer(Bd * Hq * 4);
    const r = renderMods(undefined, undefined);
    for (const split of [true, false]) {
      be.engine.splitKv = split;
      try {
        const ms = await time(
          (enc) => be.engine.forward({ shape: { B: Bd, Hq, Hkv, Lq: 1, Lkv, E: Dd, Ev: Dd }, scale: 1 / Math.sqrt(Dd), q: dq.buffer, k: dk.buffer, v: dv.buffer, out: dout, lse: dlse, hooks: r.hooks, captures: { buffers: [] }, encoder: enc }),
          50,
        );
        const gbs = (2 * Bd * Hkv * Lkv * Dd * 4) / (ms * 1e-3) / 1e9;
        timings.push({ mod: 'decode', split, shape: `B${Bd} Hq${Hq} Hkv${Hkv} Lkv${Lkv} D${Dd}`, ms: +ms.toFixed(4), gbs: +gbs.toFixed(1) });
        log('decode split', split, ms.toFixed(4), 'ms', gbs.toFixed(1), 'GB/s');
      } catch (e) {
        timings.push({ mod: 'decode', split, error: (e as Error).message.slice(0, 400) });
      }
      save();
    }
  }
  be.dispose();
}

import * as require_ir from '@flexattn/ir';

main().then(
  () => {
    save();
    process.exit(0);
  },
  (e) => {
    out.fatal = String((e as Error).stack ?? e);
    save();
    console.error(e);
    process.exit(1);
  },
);
