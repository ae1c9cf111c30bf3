// Issue 19's share of CUDA on the GPU machine: ir's fuzz properties (the ones every backend runs in
// vitest) through the real addon — random valid calls, special values in the inputs included, agree
// with the dense float64 definition; random invalid calls throw typed errors (FlexAttnError), never a
// raw TypeError or a result; a call after dispose() throws BackendDisposedError — then bad device
// tensors (typed errors before any launch) and a leak check: 1000 failing calls and 1000 good ones
// leave the backend's held buffers where they were and the process's RSS within 64 MiB (the
// device's free memory is reported). One `FUZZ PASS|FAIL` line per check, `FUZZ n failures` last. Bundled as bin/fuzz.mjs beside run.mjs
// (`node scripts/bundle.mjs cuda-conformance OUTDIR`). FLEXATTN_FUZZ_SEED replays a seed;
// FUZZ_VALID / FUZZ_INVALID set the number of cases (default 40 / 300).
import { FlexAttnError, fromFloats, type Tensor } from '@flexattn/ir';
import { DEFAULT_TOLERANCE, caseInputs, CONFORMANCE_CASES, fuzzChecks, fuzzSeed } from '@flexattn/ir/testing';
import * as fc from 'fast-check';
import { deviceTensorMisuse } from '../../src/device-tensor-misuse.test-helpers';
import { createCudaBackend, type CudaTensor } from '../../src/index';

let failures = 0;
async function step(name: string, run: () => Promise<string | void>): Promise<void> {
  const t0 = performance.now();
  try {
    const detail = await run();
    console.log(`FUZZ PASS ${name} (${((performance.now() - t0) / 1000).toFixed(1)} s)${detail ? `: ${detail}` : ''}`);
  } catch (e) {
    failures++;
    console.log(`FUZZ FAIL ${name}: ${(e as Error).stack ?? e}`);
  }
}
const count = (env: string | undefined, fallback: number) => (env ? Number(env) : fallback);
const host = (shape: number[], dtype: Tensor['dtype'] = 'bf16'): Tensor =>
  fromFloats(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => ((i * 7) % 13) - 6), shape, dtype);

async function main() {
  const seed = fuzzSeed();
  console.log(`FUZZ seed ${seed} (replay: FLEXATTN_FUZZ_SEED=${seed})`);
  const checks = fuzzChecks(fc, {
    numRuns: { valid: count(process.env.FUZZ_VALID, 40), invalid: count(process.env.FUZZ_INVALID, 300) },
    maxLen: 40,
    // the conformance suite's kernel tolerances: f32 arithmetic, f16/bf16 results rounded
    tolerance: DEFAULT_TOLERANCE,
  });
  const cuda = await createCudaBackend();
  await step('invalid calls throw typed errors', () => checks.invalid(cuda, seed));

  await step('bad device tensors get typed errors naming the argument', async () => {
    const q = cuda.toGpu(host([1, 2, 64, 64])) as CudaTensor;
    const released = cuda.toGpu(host([1, 2, 64, 64])) as CudaTensor;
    cuda.release(released);
    const releasedLse = cuda.toGpu(host([1, 2, 64], 'f32')) as CudaTensor;
    cuda.release(releasedLse);
    const lse = cuda.toGpu(host([1, 2, 64], 'f32')) as CudaTensor;
    // the stand-in test's list (one GPU here: no tensor of another device)
    const cases = deviceTensorMisuse(cuda, { q, released, lse, releasedLse, host: host([1, 2, 64, 64]) });
    for (const [what, call, type, message] of cases) {
      const error = await call().then(() => undefined, (e: unknown) => e);
      if (!(error instanceof type) || !message.test((error as Error).message)) throw new Error(`${what}: ${error === undefined ? 'a result' : String(error)}`);
    }
    cuda.release(q);
    cuda.release(lse);
    return `${cases.length} cases`;
  });

  await step('1000 failing calls and 1000 good ones hold no memory', async () => {
    const { native } = cuda as unknown as { native: { memGetInfo(): { free: number } } };
    const good = caseInputs(CONFORMANCE_CASES[1]!, 'bf16', 3);
    await cuda.flexAttention(good.q, good.k, good.v, good.options); // compiles and the first-call allocations
    const before = { held: cuda.cacheStats().buffers, free: native.memGetInfo().free, rss: process.memoryUsage().rss };
    let typed = 0;
    for (let i = 0; i < 1000; i++) if ((await checks.invalidCall(cuda, 1000 + i)) instanceof FlexAttnError) typed++;
    for (let i = 0; i < 1000; i++) await cuda.flexAttention(good.q, good.k, good.v, good.options);
    const after = { held: cuda.cacheStats().buffers, free: native.memGetInfo().free, rss: process.memoryUsage().rss };
    const detail = `held ${JSON.stringify(before.held)} -> ${JSON.stringify(after.held)}, device free ${before.free} -> ${after.free}, RSS ${before.rss} -> ${after.rss}, ${typed}/1000 typed`;
    if (after.held.count !== before.held.count || after.held.bytes !== before.held.bytes) throw new Error(`buffers held: ${detail}`);
    // the device's free memory is reported, not asserted: other processes may share the GPU (the
    // conformance runs beside this one); what this backend holds is its own count
    if (after.rss - before.rss > 64 * 2 ** 20) throw new Error(`host memory: ${detail}`);
    if (typed !== 1000) throw new Error(`untyped errors or results: ${detail}`);
    return detail;
  });
  // last before dispose: nearly every valid case is a new mod, so its NVRTC compiles take the time
  await step('valid calls agree with the dense float64 definition', () => checks.valid(cuda, seed));
  await step('a call after dispose() throws BackendDisposedError', () => checks.afterDispose(cuda));
  console.log(`FUZZ ${failures} failures`);
  process.exit(failures ? 1 : 0);
}
main().catch((e) => {
  console.log(`FUZZ FATAL ${(e as Error).stack ?? e}`);
  process.exit(2);
});
