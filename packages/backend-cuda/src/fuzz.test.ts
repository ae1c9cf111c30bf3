// ir's fuzz properties on the CUDA backend without a GPU (the stand-in addon): random invalid calls
// throw typed errors (FlexAttnError) before anything is uploaded or launched, and a call after
// dispose() throws BackendDisposedError. The valid-call property needs the GPU: harness/e2e/fuzz-real.ts
// runs all three there. Each run draws a fresh seed; FLEXATTN_FUZZ_SEED=<seed> replays one.
import { fuzzChecks } from '@flexattn/ir/testing';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CudaBackend } from './backend';
import { STAND_IN_H100, standInAddon } from './stand-in-addon.test-helpers';

describe('CUDA fuzz (stand-in addon)', () => {
  const checks = fuzzChecks(fc, { numRuns: { invalid: 300 } });
  const setup = () => {
    const addon = standInAddon();
    return { addon, backend: new CudaBackend(addon.native as never, STAND_IN_H100, { cacheDir: false, cudaInclude: '/fake/include' }) };
  };

  it('invalid calls throw typed errors before any allocation or launch', async () => {
    const { addon, backend } = setup();
    const held = addon.allocations;
    await checks.invalid(backend);
    expect(addon.launches).toEqual([]);
    expect(addon.allocations).toBe(held);
  });

  it('a call after dispose() throws BackendDisposedError', async () => {
    await checks.afterDispose(setup().backend);
  });
});
