// The ir's conformance suite (forward + backward, every case, the special values included: no
// opt-outs) on WebGPU — lavapipe in CI.
import { describe, it } from 'vitest';
import { where } from '@flexattn/ir';
import { describeConformance, type ConformanceCase } from '@flexattn/ir/testing';
import { createWebGPUBackend } from './index.js';
import { testDevice } from './gpu.test-helpers.js';

const ctx = await testDevice();
if (typeof ctx === 'string') {
  describe('webgpu conformance', () => it.skip(ctx, () => {}));
} else {
  describeConformance(() => createWebGPUBackend({ device: ctx.device }), { label: `webgpu, ${ctx.adapterName}` });
  const decodable = (c: { Lq: number; Hq: number; Hkv: number; mask?: () => { H?: number } }) =>
    c.Lq * (c.Hq / c.Hkv) <= 16 && (c.mask === undefined || (c.mask().H ?? 1) === 1);
  // The backward's fast tiles (every operand finite) have no −∞ test per element: a −∞ post's p = +0
  // zeroes what it feeds, and a select zeroes dscore where the derivative is not finite there —
  // log(s − s) = −∞ with derivative 0/0 = NaN at keys 3 and 33 (two kv tiles), finite rows around.
  const negInfNaNGrad: ConformanceCase = {
    name: 'backward fast tiles: a −∞ post whose derivative is NaN',
    B: 1, Hq: 2, Hkv: 2, Lq: 40, Lkv: 40, E: 16, Ev: 16,
    scoreMod: () => (s, _b, _h, _q, kv) => where(kv.eq(3).or(kv.eq(33)), s.sub(s).log(), s),
  };
  describeConformance(() => createWebGPUBackend({ device: ctx.device }), {
    label: 'webgpu backward, finite tiles',
    extraCases: [negInfNaNGrad],
    filter: (c) => c === negInfNaNGrad,
  });
  // the decode kernel (programs/decode.ts) on every case it applies to
  describeConformance(() => createWebGPUBackend({ device: ctx.device, splitKv: true }), {
    label: 'webgpu split-KV decode kernel',
    backward: false,
    filter: decodable,
  });
  // its fallback, the forward template in split mode
  describeConformance(() => createWebGPUBackend({ device: ctx.device, splitKv: true, tuning: { decode: { kernel: 'tiles' } } }), {
    label: 'webgpu split-KV forward template',
    backward: false,
    filter: decodable,
  });
}
