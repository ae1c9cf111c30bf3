// The ir conformance cases through the real CUDA backend (addon + NVRTC + kernels), forward and
// backward, every dtype, against the float64 reference (the ir's runConformance loop: one
// `CONF PASS|FAIL` line per check); then a memory-growth check. Bundled with esbuild for a machine
// without node_modules (`node scripts/bundle.mjs cuda-conformance OUTDIR` at the repo root). CONF_DTYPES=bf16,f32,f16 (default) picks the dtypes;
// CONF_HOPPER_FORWARD=per-cta runs the per-CTA Hopper forward body instead of the persistent one.
// The suite's own cases use small head dims; the tensor-core bodies that serve real models (the
// Hopper ones: head dims 64 and 128, several q and kv tiles) also run every case at head dim 128,
// and a few longer ones at 64, 128 and 64/128; the optional features (maxScores, dLse) run in every
// body, the split-KV decoder included.
import type { DType } from '@flexattn/ir';
import { AUX_CONFORMANCE_CASES, CONFORMANCE_CASES, caseInputs, runConformance, SPECIAL_VALUE_CASES, type ConformanceCase } from '@flexattn/ir/testing';
import { createCudaBackend } from '../../src/index';
import { runSharedKvChecks } from './shared-kv-real';

const byName = (name: string): ConformanceCase => {
  const c = CONFORMANCE_CASES.find((x) => x.name === name);
  if (!c) throw new Error(`no conformance case named ${name}`);
  return c;
};
const HEAD_DIM_CASES: ConformanceCase[] = [
  ...CONFORMANCE_CASES.map((c) => ({ ...c, name: `${c.name} @ head dim 128`, E: 128, Ev: 128 })),
  { ...byName('causal, odd lengths'), name: 'causal, 3x4 tiles @ head dim 128', Lq: 333, Lkv: 333, E: 128, Ev: 128 },
  { ...byName('causal, odd lengths'), name: 'causal, 3x4 tiles @ head dim 64', Lq: 333, Lkv: 333, E: 64, Ev: 64 },
  { ...byName('noop'), name: 'noop, Lq 300 Lkv 460 @ head dims 64/128', Lq: 300, Lkv: 460, E: 64, Ev: 128 },
  { ...byName('noop'), name: 'noop, Lq 300 Lkv 460 @ head dims 128/64', Lq: 300, Lkv: 460, E: 128, Ev: 64 },
];

// returnAux.maxScores and dLse (the suite's own feature cases run at its small head dims: the
// mma.sync / SIMT bodies) in the Hopper bodies and the split-KV decoder too
const FEATURE_CASES: ConformanceCase[] = [
  ...AUX_CONFORMANCE_CASES.map((c) => ({ ...c, name: `${c.name} @ head dim 128`, E: 128, Ev: 128 })),
  { ...byName('causal, odd lengths'), name: 'maxScores: causal, 3x4 tiles @ head dim 64', Lq: 333, Lkv: 333, E: 64, Ev: 64, requires: ['maxScores'] },
  { ...byName('decode-like: Lq small, Lkv long, causal with offset, GQA'), name: 'maxScores: split-KV decoder, masked tail @ head dim 128', Lkv: 1500, E: 128, Ev: 128, requires: ['maxScores'] },
  { ...byName('noop'), name: 'maxScores: split-KV decoder, GQA 8/2 @ head dim 64', B: 2, Hq: 8, Hkv: 2, Lq: 1, Lkv: 700, E: 64, Ev: 64, requires: ['maxScores'] },
];

// The special-value cases (ir docs/architecture.md §4) have not run on a GPU yet: issue 19's CUDA
// phase runs them and removes these opt-outs.
const OPT_OUTS = Object.fromEntries(SPECIAL_VALUE_CASES.map((c) => [c.name, 'issue 19: special values not yet checked on the CUDA backend']));

async function main() {
  const cuda = await createCudaBackend({ hopperForward: process.env.CONF_HOPPER_FORWARD === 'per-cta' ? 'per-cta' : 'persistent' });
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
  const { failures: caseFailures, seconds } = await runConformance(cuda, { dtypes, extraCases: [...HEAD_DIM_CASES, ...FEATURE_CASES], optOut: OPT_OUTS });
  // K/V shared by the query batch and paged KV caches on this backend's device tensors
  const failures = caseFailures + (await runSharedKvChecks(cuda, dtypes));
  console.log(`CONF elapsed ${seconds}s`);
  cuda.dispose();
  console.log(`CONF ${failures} failures`);
  process.exit(failures ? 1 : 0);
}
main().catch((e) => {
  console.log(`CONF FATAL ${(e as Error).stack ?? e}`);
  process.exit(2);
});
