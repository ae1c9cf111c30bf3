// The ir conformance cases through the real CUDA backend (addon + NVRTC + kernels), forward and
// backward, every dtype, against the float64 reference; then a memory-growth check. Bundled with
// esbuild for a machine without node_modules (see bundle.sh); prints one line per check.
import { CONFORMANCE_CASES } from '../../../ir/src/testing/cases';
import { compareClose } from '../../../ir/src/testing/compare';

import { caseInputs, DEFAULT_TOLERANCE } from '../../../ir/src/testing/inputs';
import { createReferenceBackend } from '../../../ir/src/reference/index';
import type { DType, Tensor } from '../../../ir/src/index';
import { createCudaBackend } from '../../src/index';

async function main() {
  const cuda = await createCudaBackend();
  const ref = createReferenceBackend();
  let failures = 0;
  const check = (label: string, got: Tensor | Float32Array, want: Tensor | Float32Array, tol: { atol: number; rtol: number }) => {
    const c = compareClose(got, want, tol);
    if (!c.ok) failures++;
    console.log(`CONF ${c.ok ? 'PASS' : 'FAIL'} ${label} ${JSON.stringify({ maxAbs: c.maxAbsError, maxRel: c.maxRelError, bad: c.mismatches ?? undefined })}`);
  };
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
  const t0 = Date.now();
  for (const dtype of dtypes) {
    const tol = DEFAULT_TOLERANCE[dtype];
    for (const c of CONFORMANCE_CASES) {
      const x = caseInputs(c, dtype, 11);
      try {
        const want = await ref.flexAttention(x.q, x.k, x.v, x.options);
        const got = await cuda.flexAttention(x.q, x.k, x.v, x.options);
        check(`${dtype} fwd out  ${c.name}`, got.out, want.out, tol.forward);
        check(`${dtype} fwd lse  ${c.name}`, got.lse!, want.lse!, tol.forward);
        const gw = await ref.flexAttentionBackward(x.q, x.k, x.v, want.out, want.lse!, x.dOut, x.options);
        const gg = await cuda.flexAttentionBackward(x.q, x.k, x.v, want.out, want.lse!, x.dOut, x.options);
        check(`${dtype} bwd dq   ${c.name}`, gg.dq, gw.dq, tol.backward);
        check(`${dtype} bwd dk   ${c.name}`, gg.dk, gw.dk, tol.backward);
        check(`${dtype} bwd dv   ${c.name}`, gg.dv, gw.dv, tol.backward);
        for (const [t, g] of gw.captureGrads) {
          const mine = [...gg.captureGrads.entries()].find(([k]) => k.name === t.name)?.[1];
          if (!mine) { failures++; console.log(`CONF FAIL ${dtype} capture grad missing ${t.name} ${c.name}`); continue; }
          check(`${dtype} bwd grad ${t.name} ${c.name}`, mine, g, tol.backward);
        }
      } catch (e) {
        failures++;
        console.log(`CONF FAIL ${dtype} ${c.name}: ${(e as Error).message.split('\n').slice(0, 12).join(' | ')}`);
      }
    }
  }
  console.log(`CONF elapsed ${(Date.now() - t0) / 1000}s`);
  cuda.dispose();
  console.log(`CONF ${failures} failures`);
  process.exit(failures ? 1 : 0);
}
main().catch((e) => {
  console.log(`CONF FATAL ${(e as Error).stack ?? e}`);
  process.exit(2);
});
