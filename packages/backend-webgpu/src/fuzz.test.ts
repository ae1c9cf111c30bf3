// ir's fuzz suite (describeFuzz) on WebGPU — lavapipe in CI (issue 19): random valid calls, special
// values in the inputs included, agree with the dense float64 definition; random invalid calls throw
// typed errors (never a raw TypeError, a result or a hang); a call after dispose() throws
// BackendDisposedError. Budget: about a minute on lavapipe. Nearly every valid case is a new mod
// (a fresh constant), hence new pipelines — about 4 CPU-seconds for the smallest forward tile
// without the row/column split, 3 for backward's — so few valid cases; invalid calls are refused
// before any compile (150 take ~2 s). Each run draws a fresh seed, so CI covers new cases over
// time; a failure names its seed and FLEXATTN_FUZZ_SEED=<seed> replays it.
import { describe, it } from 'vitest';
import { DEFAULT_TOLERANCE, describeFuzz } from '@flexattn/ir/testing';
import { createWebGPUBackend } from './index.js';
import { testDevice } from './gpu.test-helpers.js';

const ctx = await testDevice();
if (typeof ctx === 'string') {
  describe('webgpu fuzz', () => it.skip(ctx, () => {}));
} else {
  const tuning = { forward: { BR: 4, BC: 4, TX: 2, TY: 2, hoist: false } };
  describeFuzz(() => createWebGPUBackend({ device: ctx.device, tuning }), {
    label: `webgpu, ${ctx.adapterName}`,
    numRuns: { valid: 6, invalid: 150 },
    maxLen: 12,
    // a kernel's tolerances (the conformance suite's): f32 arithmetic, and f16/bf16 results rounded
    // (the backward's delta = dOut · out reads the rounded out)
    tolerance: DEFAULT_TOLERANCE,
    // WGSL lets the compiler assume finite values: `score * 0.0` folds to 0.0 (seed 926628612: a NaN
    // q under s.mul(0) gave a finite row); the README's "Special values" names the exception
    finiteMathFolding: true,
  });
}
