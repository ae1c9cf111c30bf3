// The ir conformance cases through the real CUDA backend (addon + NVRTC + kernels), forward and
// backward, every dtype, against the float64 reference (the ir's runConformance loop: one
// `CONF PASS|FAIL` line per check); then a memory-growth check. Bundled with esbuild for a machine
// without node_modules (see bundle.sh). CONF_DTYPES=bf16,f32,f16 (default) picks the dtypes.
import { CONFORMANCE_CASES } from '../../../ir/src/testing/cases';
import { caseInputs } from '../../../ir/src/testing/inputs';
import { runConformance } from '../../../ir/src/testing/run-conformance';
import type { DType } from '../../../ir/src/index';
import { createCudaBackend } from '../../src/index';

async function main() {
  const cuda = await createCudaBackend();
  // memory growth over repeated calls (same kernels: no compiles after the first)
  const mc = CONFORMANCE_CASES[1]!;
  const mx = caseInputs(mc, 'bf16', 3);
  const { native } = cuda as unknown as { native: { memGetInfo(): { free: number } } };
  await cuda.flexAttention(mx.q, mx.k, mx.v, mx.options);
  const before = native.memGetInfo().free;
  for (let i = 0; i < 1000; i++) await cuda.flexAttention(mx.q, mx.k, mx.v, mx.options);
  const after = native.memGetInfo().free;
  console.log(`CONF memory: free before ${before}, after 1000 calls ${after}, growth ${before - after} bytes`);
  const dtypes = (process.env.CONF_DTYPES ?? 'bf16,f32,f16').split(',') as DType[];
  const { failures, seconds } = await runConformance(cuda, { dtypes });
  console.log(`CONF elapsed ${seconds}s`);
  cuda.dispose();
  console.log(`CONF ${failures} failures`);
  process.exit(failures ? 1 : 0);
}
main().catch((e) => {
  console.log(`CONF FATAL ${(e as Error).stack ?? e}`);
  process.exit(2);
});
