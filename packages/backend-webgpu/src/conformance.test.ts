// The ir's conformance suite (forward + backward, every case) on WebGPU — lavapipe in CI.
import { describe, it } from 'vitest';
import { describeConformance } from '@flexattn/ir/testing';
import { createWebGPUBackend } from './index.js';
import { testDevice } from './gpu.test-helpers.js';

const ctx = await testDevice();
if (typeof ctx === 'string') {
  describe('webgpu conformance', () => it.skip(ctx, () => {}));
} else {
  describeConformance(() => createWebGPUBackend({ device: ctx.device }), { label: `webgpu, ${ctx.adapterName}` });
  describeConformance(() => createWebGPUBackend({ device: ctx.device, splitKv: true }), {
    label: 'webgpu split-KV decode',
    backward: false,
    filter: (c) => c.Lq * (c.Hq / c.Hkv) <= 16 && (c.mask === undefined || (c.mask().H ?? 1) === 1),
  });
}
