// The ir's conformance suite (forward + backward, every case, the special values included: no
// opt-outs) on WebGPU — lavapipe in CI.
import { describe, it } from 'vitest';
import { describeConformance } from '@flexattn/ir/testing';
import { createWebGPUBackend } from './index.js';
import { testDevice } from './gpu.test-helpers.js';

const ctx = await testDevice();
if (typeof ctx === 'string') {
  describe('webgpu conformance', () => it.skip(ctx, () => {}));
} else {
  describeConformance(() => createWebGPUBackend({ device: ctx.device }), { label: `webgpu, ${ctx.adapterName}` });
  const decodable = (c: { Lq: number; Hq: number; Hkv: number; mask?: () => { H?: number } }) =>
    c.Lq * (c.Hq / c.Hkv) <= 16 && (c.mask === undefined || (c.mask().H ?? 1) === 1);
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
